package wal

import (
	"bufio"
	"fmt"
	"io"
	"os"
)

// TruncateFront removes segments whose records all precede seq, typically
// the first sequence after a checkpoint. It never removes the active
// segment, so some records below seq may remain. It returns the new first
// retained sequence. Open readers keep their files and are not disturbed.
func (l *Log) TruncateFront(seq uint64) (uint64, error) {
	l.mu.Lock()
	var drop []*segment
	for len(l.segs) > 1 && l.segs[1].first <= seq && l.segs[1].first <= l.durable.Load()+1 {
		drop = append(drop, l.segs[0])
		l.segs = l.segs[1:]
	}
	first := l.segs[0].first
	l.mu.Unlock()
	for _, s := range drop {
		if err := os.Remove(s.path); err != nil && !os.IsNotExist(err) {
			return first, fmt.Errorf("wal: remove segment: %w", err)
		}
	}
	if len(drop) > 0 {
		l.opts.Logger.Debug("wal: truncated front", "first", first, "segments", len(drop))
	}
	return first, nil
}

// TruncateBack removes every record after seq, so that LastSeq becomes seq.
// A replica uses it to discard a tail its leader never had. The durable
// mark is lowered (and synced) before anything is removed. It must not run
// concurrently with appends; readers positioned past seq fail with
// ErrTruncated. seq below the first retained sequence fails with
// ErrCompacted (use Reset).
func (l *Log) TruncateBack(seq uint64) error {
	if err := l.quiesce(); err != nil {
		return err
	}
	l.fileMu.Lock()
	defer l.fileMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if seq >= l.nextSeq-1 {
		return nil
	}
	if seq+1 < l.segs[0].first {
		return fmt.Errorf("%w: truncate back to %d, first retained is %d", ErrCompacted, seq, l.segs[0].first)
	}
	// The segment that will hold seq (the first one if seq precedes it).
	si := 0
	for i, s := range l.segs {
		if s.first <= seq {
			si = i
		}
	}
	seg := l.segs[si]
	off, end, err := walkTo(seg, seq, false)
	if err != nil {
		return err
	}
	if end == 0 {
		if end, err = l.endBefore(si, seq); err != nil {
			return err
		}
	}
	// Lower the mark first, synced: a crash in the middle of the cut then
	// leaves a log that still reaches the mark.
	mk := l.markFor(end)
	if err := l.marks.set(mk); err != nil {
		return err
	}
	// Drop whole segments after seq (keeping the one holding seq+1's position).
	for len(l.segs) > si+1 {
		s := l.segs[len(l.segs)-1]
		l.segs = l.segs[:len(l.segs)-1]
		if err := os.Remove(s.path); err != nil {
			return fmt.Errorf("wal: remove segment: %w", err)
		}
	}
	if err := l.active.Close(); err != nil {
		return fmt.Errorf("wal: close active segment: %w", err)
	}
	if err := os.Truncate(seg.path, off); err != nil {
		return fmt.Errorf("wal: truncate %s: %w", seg.path, err)
	}
	f, err := os.OpenFile(seg.path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("wal: reopen %s: %w", seg.path, err)
	}
	if !l.opts.NoSync {
		if err := f.Sync(); err != nil {
			_ = f.Close()
			return fmt.Errorf("wal: sync %s: %w", seg.path, err)
		}
	}
	l.active, l.activeSeg, l.activeOff = f, seg, off
	seg.size, seg.last = off, seq
	seg.lastEnd = 0
	if end >= seg.first {
		seg.lastEnd = end
	}
	l.publishTail()
	for len(seg.index) > 0 && seg.index[len(seg.index)-1].off >= off {
		seg.index = seg.index[:len(seg.index)-1]
	}
	l.queuedEnd, l.queuedEndSeg = end, mk.seg
	l.ended.Store(end)
	l.nextSeq = seq + 1
	l.durable.Store(seq)
	l.trunc.Add(1)
	l.opts.Logger.Warn("wal: truncated back", "last", seq)
	return nil
}

// Reset discards the whole log and starts it empty at sequence next, as a
// replica does after installing a snapshot that covers next-1. The durable
// mark is cleared (synced) before the old segments are removed and set to
// next-1 once the new one exists, so a crash in between never reads as a
// loss.
func (l *Log) Reset(next uint64) error {
	if next == 0 {
		next = 1
	}
	if err := l.quiesce(); err != nil {
		return err
	}
	l.fileMu.Lock()
	defer l.fileMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.marks.set(mark{}); err != nil {
		return err
	}
	if err := l.active.Close(); err != nil {
		return fmt.Errorf("wal: close active segment: %w", err)
	}
	for _, s := range l.segs {
		if err := os.Remove(s.path); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("wal: remove segment: %w", err)
		}
	}
	l.active = nil
	if err := l.startEmpty(next); err != nil {
		l.err = err
		return err
	}
	mk := l.markFor(next - 1)
	if err := l.marks.set(mk); err != nil {
		l.err = err
		return err
	}
	l.nextSeq = next
	l.durable.Store(next - 1)
	l.queuedEnd, l.queuedEndSeg = next-1, mk.seg
	l.ended.Store(next - 1)
	l.trunc.Add(1)
	l.wake()
	return nil
}

// quiesce waits until everything queued so far is durable.
func (l *Log) quiesce() error {
	l.mu.Lock()
	if err := l.usable(); err != nil {
		l.mu.Unlock()
		return err
	}
	g := l.group
	empty := len(l.pending) == 0
	l.mu.Unlock()
	if empty {
		return nil
	}
	<-g.done
	return g.err
}

// walkTo returns the file offset just past record seq in seg and the last
// record at or before seq that ends a write (0 if the records it read hold
// none). It starts at the index point before seq, or at the first record
// when fromStart.
func walkTo(seg *segment, seq uint64, fromStart bool) (off int64, end uint64, err error) {
	if seq < seg.first {
		return SegmentHeaderSize, 0, nil
	}
	f, err := os.Open(seg.path)
	if err != nil {
		return 0, 0, fmt.Errorf("wal: open %s: %w", seg.path, err)
	}
	defer func() { _ = f.Close() }()
	off = int64(SegmentHeaderSize)
	next := seg.first
	if !fromStart {
		for _, p := range seg.index {
			if p.seq <= seq {
				off, next = p.off, p.seq
			}
		}
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return 0, 0, fmt.Errorf("wal: seek %s: %w", seg.path, err)
	}
	br := bufio.NewReader(f)
	var buf []byte
	for next <= seq {
		rec, n, err := readRecord(br, &buf)
		if err != nil {
			return 0, 0, fmt.Errorf("wal: %s at offset %d: %w", seg.path, off, err)
		}
		off += int64(n)
		if !rec.More {
			end = rec.Seq
		}
		next++
	}
	return off, end, nil
}

// endBefore finds the last record at or before seq that ends a write,
// starting in segment l.segs[si], which holds seq. Called with l.mu held.
func (l *Log) endBefore(si int, seq uint64) (uint64, error) {
	if _, end, err := walkTo(l.segs[si], seq, true); err != nil || end != 0 {
		return end, err
	}
	for i := si - 1; i >= 0; i-- {
		if e := l.segs[i].lastEnd; e != 0 {
			return e, nil
		}
	}
	return l.segs[0].first - 1, nil
}
