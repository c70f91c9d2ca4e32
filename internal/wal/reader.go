package wal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"
)

// Reader reads durable records in sequence order from a starting sequence,
// following the tail as it grows. A Reader is not safe for concurrent use;
// give each consumer its own. Close it to release its file.
//
// A reader never reads past the end of durable data (it reads with its own
// buffer and offsets, bounded by the published tail), so bytes of records
// still being written are never buffered, even in preallocated segments.
type Reader struct {
	l     *Log
	next  uint64 // sequence of the next record to return
	trunc uint64 // l.trunc when the reader was positioned

	f          *os.File
	seg        *segment // the segment f belongs to
	buf        []byte   // buf[start:end] holds file bytes from base+start
	base       int64
	start, end int
	timer      *time.Timer // WaitFor's, reused
}

// ReadFrom returns a reader whose first record is seq. seq may be one past
// the last record, to follow the tail. A sequence below the first retained
// one fails with ErrCompacted; one further than LastSeq+1, ErrOutOfRange.
func (l *Log) ReadFrom(seq uint64) (*Reader, error) {
	if seq == 0 {
		seq = 1
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	if first := l.segs[0].first; seq < first {
		return nil, fmt.Errorf("%w: sequence %d, first retained is %d", ErrCompacted, seq, first)
	}
	if last := l.durable.Load(); seq > last+1 {
		return nil, fmt.Errorf("%w: sequence %d, last is %d", ErrOutOfRange, seq, last)
	}
	return &Reader{l: l, next: seq, trunc: l.trunc.Load(), buf: make([]byte, 256<<10)}, nil
}

// Next returns the next durable record without blocking. ok is false when
// the reader has caught up with the durable tail. The record's Data is
// freshly allocated and owned by the caller.
func (r *Reader) Next() (rec Record, ok bool, err error) {
	rec, ok, err = r.NextShared()
	if ok {
		rec.Data = append([]byte(nil), rec.Data...)
	}
	return rec, ok, err
}

// NextShared is Next without the copy: the record's Data points into the
// reader's buffer and is valid only until the next call on the reader.
func (r *Reader) NextShared() (rec Record, ok bool, err error) {
	if r.l == nil {
		return Record{}, false, ErrClosed
	}
	if r.l.trunc.Load() != r.trunc {
		return Record{}, false, ErrTruncated
	}
	if r.next > r.l.durable.Load() {
		return Record{}, false, nil
	}
	if r.f == nil {
		if err := r.open(); err != nil {
			return Record{}, false, err
		}
	}
	for switched := false; ; {
		rec, n, err := DecodeRecord(r.buf[r.start:r.end])
		if err == nil {
			r.start += n
			if rec.Seq < r.next {
				continue // before the start position, inside the first index span
			}
			if rec.Seq != r.next {
				return Record{}, false, fmt.Errorf("%w: %s: read sequence %d, expected %d", ErrCorrupt, r.seg.path, rec.Seq, r.next)
			}
			r.next++
			return rec, true, nil
		}
		if !errors.Is(err, ErrShort) {
			return Record{}, false, fmt.Errorf("wal: read %s at offset %d: %w", r.seg.path, r.base+int64(r.start), err)
		}
		more, err := r.fill()
		if err != nil {
			return Record{}, false, err
		}
		if more {
			continue
		}
		// Nothing more in this segment: the record starts the next one.
		if switched {
			return Record{}, false, fmt.Errorf("%w: sequence %d not found in %s", ErrCorrupt, r.next, r.seg.path)
		}
		switched = true
		if err := r.open(); err != nil {
			return Record{}, false, err
		}
	}
}

// limit is the offset where durable data ends in the reader's segment.
func (r *Reader) limit() int64 {
	if t := r.l.tail.Load(); t.seg == r.seg.first {
		return t.off
	}
	return r.seg.end.Load() // sealed: set before the tail moved on
}

// fill reads more of the segment into the buffer, up to the durable limit.
// It reports false when the buffer already holds everything durable.
func (r *Reader) fill() (bool, error) {
	if r.start > 0 {
		copy(r.buf, r.buf[r.start:r.end])
		r.base += int64(r.start)
		r.end -= r.start
		r.start = 0
	}
	if r.end == len(r.buf) { // a record larger than the buffer
		r.buf = append(r.buf, make([]byte, len(r.buf))...)
	}
	n := min(int64(len(r.buf)-r.end), r.limit()-(r.base+int64(r.end)))
	if n <= 0 {
		return false, nil
	}
	got, err := r.f.ReadAt(r.buf[r.end:r.end+int(n)], r.base+int64(r.end))
	r.end += got
	if err != nil && (!errors.Is(err, io.EOF) || got == 0) {
		return false, fmt.Errorf("wal: read %s: %w", r.seg.path, err)
	}
	return true, nil
}

// Wait blocks until a record the reader has not returned is durable, the
// context ends, or the log closes.
func (r *Reader) Wait(ctx context.Context) error {
	_, err := r.wait(ctx, nil)
	return err
}

// WaitFor is Wait bounded by d: it reports false when d passed first. The
// reader keeps one timer for all its calls, so a follower of the tail that
// waits after every record allocates nothing to wait.
func (r *Reader) WaitFor(ctx context.Context, d time.Duration) (bool, error) {
	if r.timer == nil {
		r.timer = time.NewTimer(d)
	} else {
		r.timer.Reset(d)
	}
	defer r.timer.Stop()
	return r.wait(ctx, r.timer.C)
}

func (r *Reader) wait(ctx context.Context, timeout <-chan time.Time) (bool, error) {
	for {
		ch := r.l.changed()
		if r.next <= r.l.durable.Load() {
			return true, nil
		}
		r.l.mu.Lock()
		closed := r.l.closed
		r.l.mu.Unlock()
		if closed {
			return false, ErrClosed
		}
		select {
		case <-ch:
		case <-timeout:
			return false, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// Position returns the sequence of the record Next will return.
func (r *Reader) Position() uint64 { return r.next }

// Close releases the reader's file.
func (r *Reader) Close() error {
	r.l = nil
	if r.f != nil {
		err := r.f.Close()
		r.f = nil
		return err
	}
	return nil
}

// open positions the reader at r.next in the segment holding it, using the
// segment's sparse index.
func (r *Reader) open() error {
	l := r.l
	l.mu.Lock()
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].first > r.next }) - 1
	if i < 0 {
		first := l.segs[0].first
		l.mu.Unlock()
		return fmt.Errorf("%w: sequence %d, first retained is %d", ErrCompacted, r.next, first)
	}
	seg := l.segs[i]
	off := int64(SegmentHeaderSize)
	if j := sort.Search(len(seg.index), func(j int) bool { return seg.index[j].seq > r.next }) - 1; j >= 0 {
		off = seg.index[j].off
	}
	l.mu.Unlock()

	if r.f != nil {
		_ = r.f.Close()
		r.f = nil
	}
	f, err := os.Open(seg.path)
	if err != nil {
		return fmt.Errorf("wal: open %s for reading: %w", seg.path, err)
	}
	r.f, r.seg, r.base, r.start, r.end = f, seg, off, 0, 0
	return nil
}
