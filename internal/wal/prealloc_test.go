package wal

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A spare fill is paced (at least 511 pauses for a 128 MiB segment, over
// 2.5 s); closing the log must not wait for it, nor leave its file behind.
func TestCloseStopsAPacedSpareFill(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{SegmentSize: 128 << 20})
	if err != nil {
		t.Fatal(err)
	}
	l.requestSpare()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left, _ := filepath.Glob(filepath.Join(dir, sparePrefix+"*.tmp"))
		if len(left) == 1 && fileSize(t, left[0]) >= 2*spareStep {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no spare fill under way after 10 s: %v", left)
		}
		time.Sleep(time.Millisecond)
	}
	began := time.Now()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > time.Second {
		t.Fatalf("Close waited %v for the spare fill", took)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, sparePrefix+"*")); len(left) != 0 {
		t.Fatalf("unfinished spare kept: %v", left)
	}
	if _, err := os.Stat(filepath.Join(dir, segmentName(1))); err != nil {
		t.Fatalf("first segment: %v", err)
	}
}

// A paced fill spreads its steps sparePause apart (doc.go) and leaves a
// whole segment of zeros.
func TestPacedSpareFillIsSpreadAndZero(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentSize: 8 * spareStep})
	defer func() { _ = l.Close() }()
	began := time.Now()
	f, err := l.zeroFilled(true)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	defer func() { _ = f.Close(); _ = os.Remove(f.Name()) }()
	if took < 7*sparePause {
		t.Fatalf("8 steps took %v, want at least 7 pauses of %v", took, sparePause)
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != 8*spareStep || !bytes.Equal(b, make([]byte, len(b))) {
		t.Fatalf("spare holds %d bytes, not %d zeros", len(b), 8*spareStep)
	}
}

// Rolls that come faster than the paced fill (doc.go: "a roll that finds
// no spare ready starts an unfilled segment") lose no acknowledged record.
func TestRollsOutrunningTheSpareFillLoseNothing(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentSize: 16 * spareStep, NoSync: true} // a fill of at least 15 pauses
	l := openT(t, dir, o)
	data := func(i int) []byte { return bytes.Repeat([]byte{byte(i), byte(i >> 8)}, 16<<10) }
	var acked []uint64
	for i := 1; i <= 3*128; i++ { // 32 KiB each, 12 MiB: three segments
		seq, err := l.Append(Entry{Epoch: 1, Time: int64(i), Data: data(i)})
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		acked = append(acked, seq)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	unfilled := 0
	for _, p := range segs {
		if fileSize(t, p) != o.SegmentSize {
			unfilled++
		}
	}
	if len(segs) < 3 || unfilled == 0 {
		t.Fatalf("%d segments, %d of them unfilled: the rolls did not outrun the fill", len(segs), unfilled)
	}
	l = openT(t, dir, o)
	defer func() { _ = l.Close() }()
	got := map[uint64][]byte{}
	for _, r := range readAll(t, l, 1) {
		got[r.Seq] = r.Data
	}
	lost := 0
	for i, seq := range acked {
		if !bytes.Equal(got[seq], data(i+1)) {
			lost++
		}
	}
	t.Logf("%d acknowledged records, %d segments (%d unfilled), %d lost", len(acked), len(segs), unfilled, lost)
	if lost != 0 {
		t.Fatalf("%d of %d acknowledged records lost", lost, len(acked))
	}
}
