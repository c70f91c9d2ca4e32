package wal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The durable high-water mark: Open refuses a log that ends below it.

// setMark writes a durable mark claiming seq, as a log that made seq
// durable last would have left it.
func setMark(t *testing.T, dir string, seq uint64) {
	t.Helper()
	segs, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := mark{seq: seq}
	for _, s := range segs {
		if s.first <= seq {
			m.seg = s.first
		}
	}
	if seq == 0 {
		m.seg = 0
	}
	b := make([]byte, markSize)
	encodeMark(b, m)
	if err := os.WriteFile(filepath.Join(dir, markName), b, 0o640); err != nil {
		t.Fatal(err)
	}
}

func TestMarkFollowsCommits(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentSize: 1024})
	defer func() { _ = l.Close() }()
	for i := 1; i <= 40; i++ {
		seq, err := l.Append(Entry{Epoch: 1, Time: int64(i), Data: payload(i)})
		if err != nil {
			t.Fatal(err)
		}
		// Written before the append returns, so a kill -9 right after an
		// acknowledgement leaves a mark that covers it.
		m, found, err := readMark(dir)
		if !found || err != nil || m.seq != seq {
			t.Fatalf("after append %d the mark file holds %+v (found %v, %v)", seq, m, found, err)
		}
		if want := l.segs[len(l.segs)-1].first; m.seg != want {
			t.Fatalf("mark segment %d, want %d", m.seg, want)
		}
	}
}

func TestMarkCodec(t *testing.T) {
	good := make([]byte, markSize)
	encodeMark(good, mark{seq: 1234, seg: 1200})
	if m, err := decodeMark(good); err != nil || m != (mark{seq: 1234, seg: 1200}) {
		t.Fatalf("round trip: %+v %v", m, err)
	}
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 0x04; return b }
	for name, b := range map[string][]byte{
		"short": good[:markSize-1], "long": append(bytes.Clone(good), 0), "magic": flip(0), "version": flip(4),
		"sequence": flip(9), "segment": flip(17), "crc": flip(25), "zeros": make([]byte, markSize),
	} {
		if _, err := decodeMark(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		}
	}
}

func FuzzDecodeMark(f *testing.F) {
	good := make([]byte, markSize)
	encodeMark(good, mark{seq: 77, seg: 70})
	f.Add(good)
	f.Add(good[:10])
	f.Add(make([]byte, markSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMark(b)
		if err != nil {
			return
		}
		again := make([]byte, markSize)
		encodeMark(again, m)
		if !bytes.Equal(again[:28], b[:28]) {
			t.Fatalf("decoded %+v re-encodes differently", m)
		}
	})
}

// TestLossBelowMarkRefused damages a closed log whose records 1..60 were
// all acknowledged. Open must refuse it with ErrLost, naming the count and
// the file, and change nothing on disk; with AcceptLoss it opens shorter,
// reports the count, and lowers the mark so the next open is clean.
func TestLossBelowMarkRefused(t *testing.T) {
	type damage struct {
		name string
		// corrupt damages the log and returns the file the error must
		// name and how many acknowledged records are gone.
		corrupt func(t *testing.T, segs []string) (string, uint64)
	}
	lastRecords := func(t *testing.T, p string, n int) int64 {
		offs, _ := recordOffsets(t, p)
		return offs[len(offs)-n]
	}
	cases := []damage{
		{"newest segment deleted", func(t *testing.T, s []string) (string, uint64) {
			p := s[len(s)-1]
			offs, _ := recordOffsets(t, p)
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			return p, uint64(len(offs))
		}},
		{"tail zeroed after acknowledged writes", func(t *testing.T, s []string) (string, uint64) {
			p := s[len(s)-1]
			off := lastRecords(t, p, 3)
			mutate(t, p, func(b []byte) []byte { clear(b[off:]); return b })
			return p, 3
		}},
		{"last acknowledged record damaged", func(t *testing.T, s []string) (string, uint64) {
			p := s[len(s)-1]
			off := lastRecords(t, p, 1)
			mutate(t, p, func(b []byte) []byte { b[off+HeaderSize+1] ^= 0x20; return b })
			return p, 1
		}},
		{"last acknowledged record torn", func(t *testing.T, s []string) (string, uint64) {
			p := s[len(s)-1]
			off := lastRecords(t, p, 1)
			mutate(t, p, func(b []byte) []byte { return b[:off+HeaderSize+2] })
			return p, 1
		}},
		{"every segment deleted", func(t *testing.T, s []string) (string, uint64) {
			for _, p := range s {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			}
			return s[len(s)-1], faultRecords
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			fill(t, dir, faultOpts, faultRecords)
			segs := segmentsOf(t, dir)
			file, lost := c.corrupt(t, segs)
			before := dirState(t, dir)

			_, err := Open(dir, Options{SegmentSize: faultOpts.SegmentSize, Logger: quiet()})
			if !errors.Is(err, ErrLost) {
				t.Fatalf("open: err = %v, want ErrLost", err)
			}
			for _, want := range []string{filepath.Base(file), fmt.Sprintf(" %d records", lost),
				fmt.Sprintf("%d..%d", faultRecords-lost+1, faultRecords)} {
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("error %q does not say %q", err, want)
				}
			}
			if after := dirState(t, dir); after != before {
				t.Fatalf("a refused open changed the directory:\n%s\nbecame\n%s", before, after)
			}

			l, err := Open(dir, Options{SegmentSize: faultOpts.SegmentSize, Logger: quiet(), AcceptLoss: true})
			if err != nil {
				t.Fatalf("open with AcceptLoss: %v", err)
			}
			keep := faultRecords - int(lost)
			if l.Lost() != lost || l.Mark() != uint64(keep) || l.LastSeq() != uint64(keep) {
				t.Fatalf("Lost %d Mark %d LastSeq %d, want %d, %d, %d", l.Lost(), l.Mark(), l.LastSeq(), lost, keep, keep)
			}
			checkRecords(t, readAll(t, l, 1), 1, keep)
			_ = l.Close()

			l = recoverAll(t, dir, keep)
			if l.Lost() != 0 || len(l.Repaired()) != 0 {
				t.Fatalf("second open: lost %d, repaired %v", l.Lost(), l.Repaired())
			}
			_ = l.Close()
		})
	}
}

// dirState lists the files of dir with their sizes and a digest.
func dirState(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range ents {
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		fmt.Fprintf(&b, "%s %d %08x\n", e.Name(), len(data), Checksum(0, 0, false, 0, data))
	}
	return b.String()
}

func TestTornRecordBeyondMarkRepaired(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, faultOpts, faultRecords)
	segs := segmentsOf(t, dir)
	last := segs[len(segs)-1]
	_, end := recordOffsets(t, last)
	torn, _ := appendRecord(nil, faultRecords+1, 1, false, 1, payload(faultRecords+1))
	mutate(t, last, func(b []byte) []byte { return append(b[:end], torn[:len(torn)-5]...) })
	l := recoverAll(t, dir, faultRecords)
	defer func() { _ = l.Close() }()
	if len(l.Repaired()) != 1 || l.Mark() != faultRecords || l.Lost() != 0 {
		t.Fatalf("repaired %v, mark %d, lost %d", l.Repaired(), l.Mark(), l.Lost())
	}
}

func TestTruncateBackAndResetMoveMark(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, faultOpts, faultRecords)
	l := recoverAll(t, dir, faultRecords)
	if err := l.TruncateBack(25); err != nil {
		t.Fatal(err)
	}
	if l.Mark() != 25 {
		t.Fatalf("mark after TruncateBack: %d", l.Mark())
	}
	_ = l.Close()
	l = recoverAll(t, dir, 25)
	if err := l.Reset(500); err != nil {
		t.Fatal(err)
	}
	if l.Mark() != 499 {
		t.Fatalf("mark after Reset: %d", l.Mark())
	}
	_ = l.Close()
	l = openT(t, dir, Options{SegmentSize: faultOpts.SegmentSize})
	if l.LastSeq() != 499 || l.Lost() != 0 || len(l.Repaired()) != 0 {
		t.Fatalf("after Reset: last %d, lost %d, repaired %v", l.LastSeq(), l.Lost(), l.Repaired())
	}
	_ = l.Close()

	// A crash after TruncateBack lowered the mark but before it cut the
	// log: the longer log is accepted.
	dir = t.TempDir()
	fill(t, dir, faultOpts, faultRecords)
	setMark(t, dir, 25)
	l = recoverAll(t, dir, faultRecords)
	_ = l.Close()
	// A crash inside Reset, after it cleared the mark and removed the old
	// segments: an empty log, no refusal.
	setMark(t, dir, 0)
	for _, p := range segmentsOf(t, dir) {
		_ = os.Remove(p)
	}
	l = openT(t, dir, Options{SegmentSize: faultOpts.SegmentSize})
	_ = l.Close()
}

func TestUnreadableMarkIsIgnored(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, faultOpts, faultRecords)
	if err := os.WriteFile(filepath.Join(dir, markName), []byte("garbage"), 0o640); err != nil {
		t.Fatal(err)
	}
	l := recoverAll(t, dir, faultRecords)
	_ = l.Close()
	if m, found, err := readMark(dir); !found || err != nil || m.seq != faultRecords {
		t.Fatalf("mark not rewritten: %+v %v %v", m, found, err)
	}
}
