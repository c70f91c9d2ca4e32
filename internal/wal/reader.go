package wal

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
)

// Reader reads durable records in sequence order from a starting sequence,
// following the tail as it grows. A Reader is not safe for concurrent use;
// give each consumer its own. Close it to release its file.
type Reader struct {
	l     *Log
	next  uint64 // sequence of the next record to return
	trunc uint64 // l.trunc when the reader was positioned
	f     *os.File
	br    *bufio.Reader
	buf   []byte
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
	return &Reader{l: l, next: seq, trunc: l.trunc.Load()}, nil
}

// Next returns the next durable record without blocking. ok is false when
// the reader has caught up with the durable tail. The record's Data is
// freshly allocated and owned by the caller.
func (r *Reader) Next() (rec Record, ok bool, err error) {
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
	for reopened := false; ; {
		rec, _, err := readRecord(r.br, &r.buf)
		if (err == io.EOF || err == ErrShort) && !reopened {
			// The end of this segment: the record lives in the next one.
			reopened = true
			if err := r.open(); err != nil {
				return Record{}, false, err
			}
			continue
		}
		if err == io.EOF {
			err = ErrShort
		}
		if err != nil {
			return Record{}, false, fmt.Errorf("wal: read %s at sequence %d: %w", r.f.Name(), r.next, err)
		}
		if rec.Seq < r.next {
			continue // before the start position, inside the first index span
		}
		if rec.Seq != r.next {
			return Record{}, false, fmt.Errorf("%w: %s: read sequence %d, expected %d", ErrCorrupt, r.f.Name(), rec.Seq, r.next)
		}
		rec.Data = append([]byte(nil), rec.Data...)
		r.next++
		return rec, true, nil
	}
}

// Wait blocks until a record the reader has not returned is durable, the
// context ends, or the log closes.
func (r *Reader) Wait(ctx context.Context) error {
	for {
		ch := r.l.changed()
		if r.next <= r.l.durable.Load() {
			return nil
		}
		r.l.mu.Lock()
		closed := r.l.closed
		r.l.mu.Unlock()
		if closed {
			return ErrClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
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

// open positions the reader's file at r.next, using the segment index.
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
	path := seg.path
	l.mu.Unlock()

	if r.f != nil {
		_ = r.f.Close()
		r.f = nil
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("wal: open %s for reading: %w", path, err)
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		_ = f.Close()
		return fmt.Errorf("wal: seek %s: %w", path, err)
	}
	r.f = f
	if r.br == nil {
		r.br = bufio.NewReaderSize(f, 256<<10)
	} else {
		r.br.Reset(f)
	}
	return nil
}
