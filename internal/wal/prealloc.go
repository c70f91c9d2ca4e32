package wal

import (
	"errors"
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
		f, err := l.zeroFilled(true)
		if errors.Is(err, ErrClosed) {
			return
		}
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

// Background spares are filled in spareStep writes, each synced before a
// sparePause: a step's fdatasync holds the device for a fraction of a
// millisecond, so the group commits of this log and of every other log on
// the disk wait behind it for no longer than that. (Synced 4 MiB at a time,
// each flush took 16 ms on the development machine's disk, and every node
// of a cluster fills its spare at the same point of the log: replicas
// stopped receiving for 10-37 ms at a time while the fill ran.) A 64 MiB
// spare takes about 1.5 s, well within the time the active segment takes
// to fill at any rate the node sustains; should a roll come first, it
// starts an unfilled segment and nothing waits.
const (
	spareStep  int64 = 256 << 10
	sparePause       = 5 * time.Millisecond
)

// zeroFilled creates a spare segment file of Options.SegmentSize zeros.
// Paced, it writes and syncs spareStep at a time with a sparePause after
// each step; unpaced (a new log's first segment, which only Open waits
// for), 4 MiB at a time with no pause, so that no single flush of the
// whole segment holds a disk other nodes share.
func (l *Log) zeroFilled(paced bool) (f *os.File, err error) {
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
	step := spareStep
	if !paced {
		step = 4 << 20
	}
	zero := make([]byte, step)
	for off := int64(0); off < l.opts.SegmentSize; off += step {
		n := min(step, l.opts.SegmentSize-off)
		if _, err := f.WriteAt(zero[:n], off); err != nil {
			return nil, fmt.Errorf("wal: fill spare segment: %w", err)
		}
		if !l.opts.NoSync {
			if err := datasync(f); err != nil {
				return nil, fmt.Errorf("wal: sync spare segment: %w", err)
			}
		}
		if paced && off+n < l.opts.SegmentSize {
			select {
			case <-time.After(sparePause):
			case <-l.stopPrep:
				return nil, ErrClosed // the log is closing: no roll needs it
			}
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
