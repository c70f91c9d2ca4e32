package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Spare segments are prepared in files named sparePrefix<n>.tmp before they
// are given a header and a segment name at a roll.
const sparePrefix = "next-segment-"

// removeSpares deletes spares left by a process that stopped.
func removeSpares(dir string) {
	old, _ := filepath.Glob(filepath.Join(dir, sparePrefix+"*.tmp"))
	for _, p := range old {
		_ = os.Remove(p)
	}
}

func (l *Log) requestSpare() {
	select {
	case l.wantSpare <- struct{}{}:
	default:
	}
}

// prepare keeps one zero-filled, synced segment file ready for the next
// roll, preparing it when asked.
func (l *Log) prepare() {
	defer l.prepping.Done()
	for {
		select {
		case <-l.stopPrep:
			return
		case <-l.wantSpare:
		}
		if len(l.spare) > 0 {
			continue
		}
		f, err := l.zeroFilled()
		if err != nil {
			l.opts.Logger.Warn("wal: cannot prepare the next segment; it will be created on demand", "err", err)
			continue
		}
		select {
		case l.spare <- f:
		case <-l.stopPrep:
			_ = f.Close()
			_ = os.Remove(f.Name())
			return
		}
	}
}

func (l *Log) zeroFilled() (f *os.File, err error) {
	path := filepath.Join(l.dir, fmt.Sprintf("%s%d.tmp", sparePrefix, l.spares.Add(1)))
	f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, fmt.Errorf("wal: create spare segment: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(path)
			f = nil
		}
	}()
	// Fill in 1 MiB writes, flushing every 4 MiB with a short pause, so the
	// disk never holds a segment's worth of dirty pages that would stall
	// the group commits of this and other nodes' logs.
	zero := make([]byte, 1<<20)
	for off := int64(0); off < l.opts.SegmentSize; off += int64(len(zero)) {
		n := min(int64(len(zero)), l.opts.SegmentSize-off)
		if _, err := f.WriteAt(zero[:n], off); err != nil {
			return nil, fmt.Errorf("wal: fill spare segment: %w", err)
		}
		if !l.opts.NoSync && (off+n)%(4<<20) == 0 {
			if err := datasync(f); err != nil {
				return nil, fmt.Errorf("wal: sync spare segment: %w", err)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	if !l.opts.NoSync {
		if err := datasync(f); err != nil {
			return nil, fmt.Errorf("wal: sync spare segment: %w", err)
		}
	}
	return f, nil
}

// adoptSpare turns a prepared file into segment seg: header, sync, name.
func (l *Log) adoptSpare(f *os.File, seg *segment) (*os.File, error) {
	if _, err := f.WriteAt(segmentHeader(seg.first), 0); err != nil {
		return nil, fmt.Errorf("wal: write segment header: %w", err)
	}
	if !l.opts.NoSync {
		if err := datasync(f); err != nil {
			return nil, fmt.Errorf("wal: sync segment header: %w", err)
		}
	}
	if err := os.Rename(f.Name(), seg.path); err != nil {
		return nil, fmt.Errorf("wal: name segment: %w", err)
	}
	_ = f.Close()
	if !l.opts.NoSync {
		if err := syncDir(l.dir); err != nil {
			return nil, err
		}
	}
	named, err := os.OpenFile(seg.path, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("wal: open segment: %w", err)
	}
	return named, nil
}
