package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Writes and batches: the More flag, and logs that end inside a write.

func TestMoreFlagRoundTrip(t *testing.T) {
	for _, more := range []bool{false, true} {
		enc, crc := appendRecord(nil, 9, MaxEpoch, more, -3, []byte("op"))
		if word := binary.LittleEndian.Uint64(enc[16:]); (word>>63 == 1) != more || word&^moreBit != MaxEpoch {
			t.Fatalf("more=%v: epoch word %016x", more, word)
		}
		r, n, err := DecodeRecord(enc)
		if err != nil || n != len(enc) {
			t.Fatalf("more=%v: decode: %v", more, err)
		}
		if r.More != more || r.Epoch != MaxEpoch || r.Seq != 9 || r.Time != -3 || r.CRC != crc || string(r.Data) != "op" {
			t.Fatalf("more=%v: decoded %+v", more, r)
		}
	}
	// Through the log, with the flag on all but the last entry of a write.
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentSize: 1024})
	if _, err := l.Append(Entry{Epoch: 4, More: true, Data: []byte("a")}, Entry{Epoch: 4, More: true, Data: []byte("b")},
		Entry{Epoch: 4, Data: []byte("c")}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(Entry{Epoch: MaxEpoch + 1, Data: []byte("x")}); !errors.Is(err, ErrEpoch) {
		t.Fatalf("epoch above MaxEpoch: %v", err)
	}
	_ = l.Close()
	l = openT(t, dir, Options{SegmentSize: 1024})
	defer func() { _ = l.Close() }()
	recs := readAll(t, l, 1)
	if len(recs) != 3 || !recs[0].More || !recs[1].More || recs[2].More || recs[2].Epoch != 4 {
		t.Fatalf("records after reopen: %+v", recs)
	}
	if l.LastCompleteSeq() != 3 {
		t.Fatalf("LastCompleteSeq = %d, want 3", l.LastCompleteSeq())
	}
}

func TestChecksumCoversMore(t *testing.T) {
	if Checksum(5, 2, false, 7, []byte("d")) == Checksum(5, 2, true, 7, []byte("d")) {
		t.Fatal("Checksum ignores the More flag")
	}
	enc, _ := appendRecord(nil, 5, 2, false, 7, []byte("d"))
	enc[16+7] ^= 0x80 // set bit 63 of the epoch word on disk
	if _, _, err := DecodeRecord(enc); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("flipped More flag decoded: %v", err)
	}
	// A replica checks the carried CRC against the flag too.
	l := openT(t, t.TempDir(), Options{})
	defer func() { _ = l.Close() }()
	r := Record{Seq: 1, Epoch: 2, More: true, Time: 7, Data: []byte("d"), CRC: Checksum(1, 2, false, 7, []byte("d"))}
	if _, err := l.BeginRecords([]Record{r}); !errors.Is(err, ErrChecksum) {
		t.Fatalf("record whose CRC does not cover its flag: %v", err)
	}
}

// TestOpenCutsIncompleteWrite: a log ends in the middle of a write that
// spans several segments (a replica received its first records, then
// crashed). Open cuts back to the previous write, removing the segments
// that hold only the incomplete write and keeping every cut byte.
func TestOpenCutsIncompleteWriteAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentSize: 1024, IndexInterval: 128}
	l := openT(t, dir, o)
	for i := 1; i <= 10; i++ {
		if _, err := l.Append(Entry{Epoch: 1, Time: int64(i), Data: payload(i)}); err != nil {
			t.Fatal(err)
		}
	}
	var part []Record
	for seq := uint64(11); seq <= 40; seq++ {
		d := payload(int(seq))
		part = append(part, Record{Seq: seq, Epoch: 1, More: true, Time: int64(seq), Data: d, CRC: Checksum(seq, 1, true, int64(seq), d)})
	}
	c, err := l.BeginRecords(part)
	if err != nil || c.Wait() != nil {
		t.Fatalf("begin records: %v", err)
	}
	if l.LastSeq() != 40 || l.LastCompleteSeq() != 10 || l.Mark() != 10 {
		t.Fatalf("last %d, complete %d, mark %d; want 40, 10, 10", l.LastSeq(), l.LastCompleteSeq(), l.Mark())
	}
	_ = l.Close()
	before, _ := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	if len(before) < 3 {
		t.Fatalf("the incomplete write spans %d segments, want at least 3", len(before))
	}

	l = openT(t, dir, o)
	checkRecords(t, readAll(t, l, 1), 1, 10)
	if rep := l.Repaired(); len(rep) != 1 || !strings.Contains(rep[0], "incomplete write") || !strings.Contains(rep[0], "11..40") {
		t.Fatalf("repair not reported: %q", rep)
	}
	after, _ := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	if len(after) != 1 || filepath.Base(after[0]) != segmentName(1) {
		t.Fatalf("segments after the cut: %v", after)
	}
	torn, _ := filepath.Glob(filepath.Join(dir, "*.torn-*"))
	var saved []byte
	for _, p := range torn {
		b, _ := os.ReadFile(p)
		saved = append(saved, b...)
	}
	for _, r := range part {
		if !bytes.Contains(saved, r.Data) {
			t.Fatalf("cut record %d not saved aside (%d .torn files)", r.Seq, len(torn))
		}
	}
	if seq, err := l.Append(Entry{Epoch: 1, Time: 11, Data: payload(11)}); err != nil || seq != 11 {
		t.Fatalf("append after the cut: %d %v", seq, err)
	}
	_ = l.Close()
	l = openT(t, dir, o)
	defer func() { _ = l.Close() }()
	checkRecords(t, readAll(t, l, 1), 1, 11)
	if len(l.Repaired()) != 0 {
		t.Fatalf("second open repaired again: %v", l.Repaired())
	}
}

// oldRecord encodes a record as logs written before the More flag did:
// the epoch word is the epoch alone.
func oldRecord(seq, epoch uint64, t int64, data []byte) []byte {
	b := make([]byte, HeaderSize+len(data))
	binary.LittleEndian.PutUint32(b[0:], uint32(len(data)))
	binary.LittleEndian.PutUint64(b[8:], seq)
	binary.LittleEndian.PutUint64(b[16:], epoch)
	binary.LittleEndian.PutUint64(b[24:], uint64(t))
	copy(b[HeaderSize:], data)
	binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(b[8:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func TestOldEncodingLogOpens(t *testing.T) {
	dir := t.TempDir()
	seg := []byte("SWAL\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00") // version 1, first sequence 1
	for i := 1; i <= 20; i++ {
		seg = append(seg, oldRecord(uint64(i), 1, int64(i), payload(i))...)
	}
	seg = append(seg, make([]byte, 512)...) // preallocated zeros
	if err := os.WriteFile(filepath.Join(dir, segmentName(1)), seg, 0o640); err != nil {
		t.Fatal(err)
	}
	l := openT(t, dir, Options{}) // no durable mark: an older data directory
	recs := readAll(t, l, 1)
	checkRecords(t, recs, 1, 20)
	for _, r := range recs {
		if r.More {
			t.Fatalf("record %d of an old log reads as part of a larger write", r.Seq)
		}
	}
	if len(l.Repaired()) != 0 || l.LastCompleteSeq() != 20 || l.Mark() != 20 {
		t.Fatalf("repaired %v, complete %d, mark %d", l.Repaired(), l.LastCompleteSeq(), l.Mark())
	}
	_ = l.Close()
	if _, found, err := readMark(dir); !found || err != nil {
		t.Fatalf("durable mark not created: %v", err)
	}
}

// TestReadersNeverSeeHalfAWrite: on a leader, every durable position a
// reader can reach is the end of a write, also when writes span rolls.
func TestReadersNeverSeeHalfAWrite(t *testing.T) {
	l := openT(t, t.TempDir(), Options{SegmentSize: 4096, NoSync: true})
	defer func() { _ = l.Close() }()
	const writers, writes = 4, 200
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < writes; i++ {
				n := 1 + (w*7+i)%9
				es := make([]Entry, n)
				for j := range es {
					es[j] = Entry{Epoch: 1, More: j < n-1, Data: payload(i + j)}
				}
				if _, err := l.Append(es...); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	r, err := l.ReadFrom(1)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close() }()
	var last Record
	for finished := false; ; {
		rec, ok, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			last = rec
			continue
		}
		if last.Seq > 0 && last.More {
			t.Fatalf("reader caught up at sequence %d, in the middle of a write", last.Seq)
		}
		if finished {
			if c := l.LastCompleteSeq(); c != l.LastSeq() || c != last.Seq {
				t.Fatalf("leader: complete %d, durable %d, read %d", c, l.LastSeq(), last.Seq)
			}
			return
		}
		select {
		case <-done:
			finished = true
		default:
		}
	}
}

// Barrier's receipt covers every record queued before it: those being
// written and those still pending; on an idle log it is done at once.
func TestBarrierCoversQueuedRecords(t *testing.T) {
	var hold atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	l, err := Open(t.TempDir(), Options{NoSync: true, OnSync: func(int, int, time.Duration) {
		if hold.CompareAndSwap(true, false) {
			close(entered)
			<-release
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	if c := l.Barrier(); !c.Durable() {
		t.Fatal("the barrier of an empty log is not done")
	}
	hold.Store(true)
	first, err := l.Begin([]Entry{{Data: []byte("a")}})
	if err != nil {
		t.Fatal(err)
	}
	<-entered // the flusher holds the first group
	writing := l.Barrier()
	second, err := l.Begin([]Entry{{Data: []byte("b")}})
	if err != nil {
		t.Fatal(err)
	}
	pending := l.Barrier()
	time.Sleep(50 * time.Millisecond)
	if writing.Durable() || pending.Durable() {
		t.Fatal("a barrier is done while its records are not durable")
	}
	close(release)
	if err := pending.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := writing.Wait(); err != nil {
		t.Fatal(err)
	}
	if !first.Durable() || !second.Durable() || l.LastSeq() < second.Last {
		t.Fatalf("barrier done at durable %d; records %d and %d", l.LastSeq(), first.Last, second.Last)
	}
	if c := l.Barrier(); !c.Durable() {
		t.Fatal("the barrier after the last commit is not done")
	}
}
