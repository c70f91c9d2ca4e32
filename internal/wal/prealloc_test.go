package wal

import (
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
