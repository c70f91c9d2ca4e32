package wal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openT(t testing.TB, dir string, o Options) *Log {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quiet()
	}
	l, err := Open(dir, o)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return l
}

func payload(i int) []byte {
	return []byte(fmt.Sprintf("record-%06d-%s", i, strings.Repeat("x", i%37)))
}

// fill appends n records one at a time and returns the log closed.
func fill(t testing.TB, dir string, o Options, n int) {
	t.Helper()
	l := openT(t, dir, o)
	for i := 1; i <= n; i++ {
		seq, err := l.Append(Entry{Epoch: 1, Time: int64(i), Data: payload(i)})
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if seq != uint64(i) {
			t.Fatalf("append %d got sequence %d", i, seq)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// readAll reads every record from seq to the durable end.
func readAll(t testing.TB, l *Log, seq uint64) []Record {
	t.Helper()
	r, err := l.ReadFrom(seq)
	if err != nil {
		t.Fatalf("read from %d: %v", seq, err)
	}
	defer func() { _ = r.Close() }()
	var out []Record
	for {
		rec, ok, err := r.Next()
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		if !ok {
			return out
		}
		out = append(out, rec)
	}
}

func checkRecords(t testing.TB, recs []Record, from, to int) {
	t.Helper()
	if len(recs) != to-from+1 {
		t.Fatalf("got %d records, want %d (%d..%d)", len(recs), to-from+1, from, to)
	}
	for i, r := range recs {
		want := from + i
		if r.Seq != uint64(want) || !bytes.Equal(r.Data, payload(want)) || r.Time != int64(want) || r.Epoch != 1 {
			t.Fatalf("record %d: got seq %d data %q", want, r.Seq, r.Data)
		}
	}
}

func TestRecordCodec(t *testing.T) {
	good, crc := appendRecord(nil, 7, 3, false, -5, []byte("hello"))
	if crc != Checksum(7, 3, false, -5, []byte("hello")) {
		t.Fatal("Checksum disagrees with the encoder")
	}
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 0x01; return b }
	big := bytes.Clone(good)
	big[3] = 0xff
	zeroSeq, _ := appendRecord(nil, 0, 1, false, 1, nil)
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"valid", good, nil},
		{"empty", nil, ErrShort},
		{"short header", good[:HeaderSize-1], ErrShort},
		{"short payload", good[:len(good)-1], ErrShort},
		{"flipped payload", flip(len(good) - 1), ErrCorrupt},
		{"flipped sequence", flip(9), ErrCorrupt},
		{"flipped crc", flip(5), ErrCorrupt},
		{"impossible length", big, ErrCorrupt},
		{"sequence zero", zeroSeq, ErrCorrupt},
		{"all zero", make([]byte, 64), ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, n, err := DecodeRecord(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.want == nil && (r.Seq != 7 || r.Epoch != 3 || r.Time != -5 || string(r.Data) != "hello" || n != len(good) || r.CRC != crc) {
				t.Fatalf("decoded %+v (%d bytes)", r, n)
			}
		})
	}
}

func FuzzDecodeRecord(f *testing.F) {
	good, _ := appendRecord(nil, 1, 1, false, 1, []byte("payload"))
	f.Add(good)
	f.Add(good[:10])
	f.Add(make([]byte, HeaderSize))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, n, err := DecodeRecord(b)
		if err != nil {
			return
		}
		if n > len(b) || n != HeaderSize+len(r.Data) {
			t.Fatalf("consumed %d of %d bytes for %d-byte payload", n, len(b), len(r.Data))
		}
		again, _ := appendRecord(nil, r.Seq, r.Epoch, r.More, r.Time, r.Data)
		if !bytes.Equal(again, b[:n]) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func TestAppendRollReopen(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, Options{SegmentSize: 4096, IndexInterval: 512}, 1000)
	segs, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	if len(segs) < 5 {
		t.Fatalf("expected several segments, got %d", len(segs))
	}
	l := openT(t, dir, Options{SegmentSize: 4096, IndexInterval: 512})
	defer func() { _ = l.Close() }()
	if l.FirstSeq() != 1 || l.LastSeq() != 1000 || len(l.Repaired()) != 0 {
		t.Fatalf("first %d last %d repaired %v", l.FirstSeq(), l.LastSeq(), l.Repaired())
	}
	checkRecords(t, readAll(t, l, 1), 1, 1000)
	for _, from := range []int{2, 37, 500, 999, 1000} {
		checkRecords(t, readAll(t, l, uint64(from)), from, 1000)
	}
	if recs := readAll(t, l, 1001); len(recs) != 0 {
		t.Fatalf("reading at the tail returned %d records", len(recs))
	}
	if _, err := l.ReadFrom(1002); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("read beyond end: %v", err)
	}
	seq, err := l.Append(Entry{Epoch: 1, Time: 1001, Data: payload(1001)})
	if err != nil || seq != 1001 {
		t.Fatalf("append after reopen: %d %v", seq, err)
	}
}

func TestConcurrentAppendersShareCommits(t *testing.T) {
	l := openT(t, t.TempDir(), Options{SegmentSize: 64 << 10})
	defer func() { _ = l.Close() }()
	const writers, each = 16, 200
	seqs := make(chan uint64, writers*each)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				seq, err := l.Append(Entry{Epoch: 1, Time: 1, Data: []byte("concurrent")})
				if err != nil {
					t.Error(err)
					return
				}
				if l.LastSeq() < seq {
					t.Errorf("append of %d returned before it was durable (last %d)", seq, l.LastSeq())
				}
				seqs <- seq
			}
		}()
	}
	wg.Wait()
	close(seqs)
	var got []uint64
	for s := range seqs {
		got = append(got, s)
	}
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	for i, s := range got {
		if s != uint64(i+1) {
			t.Fatalf("sequence %d at position %d: gaps or duplicates", s, i)
		}
	}
	if n := len(readAll(t, l, 1)); n != writers*each {
		t.Fatalf("read back %d records", n)
	}
}

func TestBeginRecordsChecksSequenceAndCRC(t *testing.T) {
	l := openT(t, t.TempDir(), Options{})
	defer func() { _ = l.Close() }()
	rec := func(seq uint64, data string) Record {
		return Record{Seq: seq, Epoch: 2, Time: 9, Data: []byte(data), CRC: Checksum(seq, 2, false, 9, []byte(data))}
	}
	c, err := l.BeginRecords([]Record{rec(1, "a"), rec(2, "b")})
	if err != nil || c.Wait() != nil {
		t.Fatalf("begin records: %v", err)
	}
	bad := rec(3, "c")
	bad.Data = []byte("C")
	if _, err := l.BeginRecords([]Record{bad}); !errors.Is(err, ErrChecksum) {
		t.Fatalf("bad crc: %v", err)
	}
	if _, err := l.BeginRecords([]Record{rec(3, "c"), rec(5, "e")}); !errors.Is(err, ErrSequence) {
		t.Fatalf("gap: %v", err)
	}
	if _, err := l.BeginRecords([]Record{rec(2, "b")}); !errors.Is(err, ErrSequence) {
		t.Fatalf("replay: %v", err)
	}
	if l.LastSeq() != 2 || l.NextSeq() != 3 {
		t.Fatalf("rejected batches changed the log: last %d next %d", l.LastSeq(), l.NextSeq())
	}
	got := readAll(t, l, 1)
	if len(got) != 2 || got[1].CRC != rec(2, "b").CRC {
		t.Fatalf("read back %+v", got)
	}
}

func TestReaderFollowsTail(t *testing.T) {
	l := openT(t, t.TempDir(), Options{SegmentSize: 1024})
	defer func() { _ = l.Close() }()
	r, err := l.ReadFrom(1)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close() }()
	go func() {
		for i := 1; i <= 300; i++ {
			if _, err := l.Append(Entry{Epoch: 1, Time: int64(i), Data: payload(i)}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for want := 1; want <= 300; {
		rec, ok, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			if err := r.Wait(ctx); err != nil {
				t.Fatalf("wait at %d: %v", want, err)
			}
			continue
		}
		if rec.Seq != uint64(want) || !bytes.Equal(rec.Data, payload(want)) {
			t.Fatalf("got %d, want %d", rec.Seq, want)
		}
		want++
	}
	short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if err := r.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait at the tail: %v", err)
	}
	// WaitFor: false once its time passes (twice, on the reused timer),
	// true as soon as a record is durable, the context's error when it ends.
	for i := 0; i < 2; i++ {
		start := time.Now()
		if more, err := r.WaitFor(ctx, 20*time.Millisecond); more || err != nil {
			t.Fatalf("WaitFor at the tail: %v, %v", more, err)
		}
		if waited := time.Since(start); waited < 20*time.Millisecond {
			t.Fatalf("WaitFor returned after %v, before its 20ms", waited)
		}
	}
	if _, err := l.Append(Entry{Epoch: 1, Data: payload(301)}); err != nil {
		t.Fatal(err)
	}
	if more, err := r.WaitFor(ctx, time.Hour); !more || err != nil {
		t.Fatalf("WaitFor with a durable record unread: %v, %v", more, err)
	}
	done, cancel3 := context.WithCancel(context.Background())
	cancel3()
	if _, _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if more, err := r.WaitFor(done, time.Hour); more || !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitFor with its context ended: %v, %v", more, err)
	}
}

func TestTruncateFrontAndBack(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentSize: 2048, IndexInterval: 256}
	fill(t, dir, o, 500)
	l := openT(t, dir, o)
	defer func() { _ = l.Close() }()
	first, err := l.TruncateFront(250)
	if err != nil || first > 250 || first == 1 {
		t.Fatalf("truncate front: first %d err %v", first, err)
	}
	if _, err := l.ReadFrom(first - 1); !errors.Is(err, ErrCompacted) {
		t.Fatalf("read below first: %v", err)
	}
	checkRecords(t, readAll(t, l, first), int(first), 500)

	r, _ := l.ReadFrom(450)
	if err := l.TruncateBack(400); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Next(); !errors.Is(err, ErrTruncated) {
		t.Fatalf("reader past the cut: %v", err)
	}
	_ = r.Close()
	if l.LastSeq() != 400 {
		t.Fatalf("last after truncate back: %d", l.LastSeq())
	}
	if seq, err := l.Append(Entry{Epoch: 1, Time: 401, Data: payload(401)}); err != nil || seq != 401 {
		t.Fatalf("append after truncate back: %d %v", seq, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openT(t, dir, o)
	defer func() { _ = l2.Close() }()
	checkRecords(t, readAll(t, l2, first), int(first), 401)
	if err := l2.Reset(10_000); err != nil {
		t.Fatal(err)
	}
	if l2.FirstSeq() != 10_000 || l2.LastSeq() != 9_999 {
		t.Fatalf("after reset: first %d last %d", l2.FirstSeq(), l2.LastSeq())
	}
	if seq, err := l2.Append(Entry{Epoch: 1, Data: []byte("x")}); err != nil || seq != 10_000 {
		t.Fatalf("append after reset: %d %v", seq, err)
	}
}

func TestClosedLog(t *testing.T) {
	l := openT(t, t.TempDir(), Options{})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(Entry{Data: []byte("x")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if _, err := l.ReadFrom(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
}

// NextShared returns what Next returns, without copying, across segment
// boundaries and buffer refills.
func TestReaderNextShared(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, Options{SegmentSize: 4096, IndexInterval: 512}, 700)
	l := openT(t, dir, Options{SegmentSize: 4096, IndexInterval: 512})
	defer func() { _ = l.Close() }()
	r, err := l.ReadFrom(3)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close() }()
	var got []Record
	for {
		rec, ok, err := r.NextShared()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		rec.Data = append([]byte(nil), rec.Data...) // valid only until the next call
		got = append(got, rec)
	}
	checkRecords(t, got, 3, 700)
}

// Group commits reuse their encoding buffers: a steady stream of appends
// allocates per append only the commit receipt, not a growing buffer.
func TestAppendReusesCommitBuffers(t *testing.T) {
	l := openT(t, t.TempDir(), Options{NoSync: true})
	defer func() { _ = l.Close() }()
	data := make([]byte, 1000)
	for i := 0; i < 100; i++ { // warm up the buffers
		if _, err := l.Append(Entry{Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := l.Append(Entry{Data: data}); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 4 {
		t.Fatalf("%.1f allocations per append", allocs)
	}
	if testing.Verbose() {
		t.Logf("%.1f allocations per append", allocs)
	}
}

// The flusher keeps waiting for writers while its waits pay off, stops
// after two in a row run out, probes every gatherProbe rounds while
// stopped, and resumes when a probe reaches its target.
func TestGatherStopsWhenWritersDoNotReturn(t *testing.T) {
	var g gatherState
	for i := 0; i < 10; i++ {
		if !g.try() {
			t.Fatalf("round %d: not waiting while waits pay off", i)
		}
		g.result(true)
	}
	g.try()
	g.result(false)
	if !g.try() {
		t.Fatal("one wait that ran out stopped gathering")
	}
	g.result(false)
	tries := 0
	for i := 0; i < 4*gatherProbe; i++ {
		if g.try() {
			tries++
			g.result(false)
		}
	}
	if tries != 4 {
		t.Fatalf("%d waits in %d rounds after two misses, want one per %d rounds", tries, 4*gatherProbe, gatherProbe)
	}
	for !g.try() {
	}
	g.result(true)
	for i := 0; i < 3; i++ {
		if !g.try() {
			t.Fatalf("round %d after a probe reached its target: not waiting", i)
		}
	}
}

// Hurry ends a sync interval's wait, and one asked for while a commit is
// being written skips the next wait: records queued meanwhile are not held
// for the interval either.
func TestHurryEndsTheSyncIntervalWait(t *testing.T) {
	var during atomic.Pointer[func()]
	l := openT(t, t.TempDir(), Options{NoSync: true, OnSync: func(int, int, time.Duration) {
		if f := during.Swap(nil); f != nil {
			(*f)()
		}
	}})
	defer func() { _ = l.Close() }()
	entry := func(n int) Entry { return Entry{Epoch: 1, Data: payload(n)} }
	if _, err := l.Append(entry(1)); err != nil {
		t.Fatal(err)
	}
	l.SetSyncInterval(time.Hour)
	waitCommit := func(what string, c Commit) {
		t.Helper()
		select {
		case <-c.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: still waiting for the hour's interval", what)
		}
	}
	c, err := l.Begin([]Entry{entry(2)})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // the flusher is in its wait
	if c.Durable() {
		t.Fatal("record durable before the interval or a Hurry")
	}
	l.Hurry()
	waitCommit("a record queued before Hurry", c)
	// Hurry while a commit is written: the record queued with it is
	// committed right after, not an hour later.
	var late Commit
	hook := func() {
		var err error
		if late, err = l.Begin([]Entry{entry(4)}); err != nil {
			t.Error(err)
		}
		l.Hurry()
	}
	during.Store(&hook)
	c, err = l.Begin([]Entry{entry(3)})
	if err != nil {
		t.Fatal(err)
	}
	l.Hurry()
	waitCommit("the record written with the Hurry", c)
	waitCommit("a record queued, and hurried, during a commit", late)
}

// With a sync interval, group commits start at least that far apart, so
// records appended one after another in between share one; a large
// pending amount or Close does not wait, and every record appended before
// Close is durable after it. Without one, each waits for no one.
func TestSyncIntervalSpacesGroupCommits(t *testing.T) {
	dir := t.TempDir()
	var syncs atomic.Int64
	l := openT(t, dir, Options{NoSync: true, OnSync: func(int, int, time.Duration) { syncs.Add(1) }})
	entry := func(n int) Entry { return Entry{Epoch: 1, Data: payload(n)} }
	if _, err := l.Append(entry(1)); err != nil { // the first commit is never held back
		t.Fatal(err)
	}
	const interval = 100 * time.Millisecond
	l.SetSyncInterval(interval)
	if l.SyncInterval() != interval {
		t.Fatalf("SyncInterval %v, want %v", l.SyncInterval(), interval)
	}
	start, before := time.Now(), syncs.Load()
	var commits []Commit
	for i := 2; i <= 11; i++ {
		c, err := l.Begin([]Entry{entry(i)})
		if err != nil {
			t.Fatal(err)
		}
		commits = append(commits, c)
		time.Sleep(2 * time.Millisecond)
	}
	for _, c := range commits {
		if err := c.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if took, n := time.Since(start), syncs.Load()-before; n > 2 || took < interval/2 {
		t.Fatalf("10 records 2 ms apart with a %v interval: %d group commits in %v, want at most 2 after about the interval", interval, n, took)
	}
	// A full batch pending is written at once.
	big := make([]Entry, 0, 40)
	for i := 0; i < cap(big); i++ {
		big = append(big, Entry{Epoch: 1, Data: make([]byte, spacedBytes/32)})
	}
	start = time.Now()
	if _, err := l.Append(big...); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took >= interval {
		t.Fatalf("%d bytes pending waited %v for the interval", spacedBytes*40/32, took)
	}
	// Back to no interval: an append right after a commit does not wait.
	l.SetSyncInterval(0)
	if _, err := l.Append(entry(12)); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if _, err := l.Append(entry(13)); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took >= interval/2 {
		t.Fatalf("append without an interval took %v", took)
	}
	// Close flushes what is queued, interval or not.
	l.SetSyncInterval(time.Hour)
	c, err := l.Begin([]Entry{entry(14)}) // held for the hour
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for the sync interval")
	}
	if err := c.Wait(); err != nil {
		t.Fatalf("record queued before Close: %v", err)
	}
	l = openT(t, dir, Options{})
	defer func() { _ = l.Close() }()
	if last := l.LastSeq(); last != c.Last {
		t.Fatalf("reopened log ends at %d, want %d", last, c.Last)
	}
}
