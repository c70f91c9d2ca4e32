package wal

import (
	"fmt"
	"os"
	"path/filepath"
)

// Open's verification and repair, in order (see doc.go, "Opening and
// repair"): verify scans every segment and cuts a torn tail beyond the
// durable mark; checkMark refuses (or accepts) a log that ends below the
// mark; cutIncomplete removes a trailing write whose last record never
// became durable.

// verify scans every segment, repairs a torn tail of the last one, and
// refuses any other damage. Damage at or below the durable mark m is never
// a torn tail: it fails with ErrLost unless Options.AcceptLoss.
func (l *Log) verify(segs []*segment, m mark) error {
	for i, seg := range segs {
		res, err := scan(seg, l.opts.IndexInterval)
		if err != nil {
			return err
		}
		isLast := i == len(segs)-1
		if res.damage != nil {
			if !isLast {
				return fmt.Errorf("%w: %s at offset %d: %v", ErrCorrupt, seg.path, res.validEnd, res.damage)
			}
			tail, err := tornTail(seg, res)
			if err != nil {
				return err
			}
			if end := lastEndOf(append(l.segs, seg)); end < m.seq && !l.opts.AcceptLoss {
				return l.lostError(end, m, fmt.Sprintf("records %d..%d of segment %s are damaged at offset %d (%v)",
					seg.last+1, m.seq, filepath.Base(seg.path), res.validEnd, res.damage))
			}
			msg, err := repairTail(seg, res, tail, l.opts)
			if err != nil {
				return err
			}
			l.repaired = append(l.repaired, msg)
			if res.validEnd < SegmentHeaderSize {
				continue // the torn segment was removed
			}
		}
		if n := len(l.segs); n > 0 {
			prev := l.segs[n-1]
			if prev.last+1 != seg.first {
				return fmt.Errorf("%w: %s starts at sequence %d but the previous segment ends at %d (missing segment?)",
					ErrCorrupt, seg.path, seg.first, prev.last)
			}
		}
		l.segs = append(l.segs, seg)
	}
	return nil
}

// lastEndOf returns the last record of segs that ends a write: where the
// log ends once an incomplete trailing write is cut. With none, the
// sequence before the first segment.
func lastEndOf(segs []*segment) uint64 {
	for i := len(segs) - 1; i >= 0; i-- {
		if segs[i].lastEnd != 0 {
			return segs[i].lastEnd
		}
	}
	if len(segs) == 0 {
		return 0
	}
	return segs[0].first - 1
}

// checkMark compares the verified log with the durable mark m. A log that
// ends below the mark has lost durable records: Open refuses it with
// ErrLost naming what is missing, or with Options.AcceptLoss records the
// loss and goes on. listed holds the segment files found on open.
func (l *Log) checkMark(m mark, listed map[uint64]bool) error {
	end := lastEndOf(l.segs)
	if end >= m.seq {
		return nil
	}
	var detail string
	switch {
	case !listed[m.seg]:
		detail = fmt.Sprintf("segment %s, which held sequence %d, is missing", segmentName(m.seg), m.seq)
	case len(l.segs) == 0:
		detail = "no segment is left"
	default:
		last := l.segs[len(l.segs)-1]
		detail = fmt.Sprintf("records %d..%d of segment %s read back as zeros or are missing", end+1, m.seq, filepath.Base(last.path))
		if last.first != m.seg {
			detail = fmt.Sprintf("records %d..%d are missing: the log ends in segment %s, the mark is in segment %s",
				end+1, m.seq, filepath.Base(last.path), segmentName(m.seg))
		}
	}
	if !l.opts.AcceptLoss {
		return l.lostError(end, m, detail)
	}
	l.lost = m.seq - end
	l.opts.Logger.Warn("wal: accepting the loss of durable records", "dir", l.dir, "lost", l.lost,
		"first_lost", end+1, "last_lost", m.seq, "detail", detail)
	l.repaired = append(l.repaired, fmt.Sprintf("%s: accepted the loss of %d durable records (%d..%d): %s",
		l.dir, l.lost, end+1, m.seq, detail))
	return nil
}

func (l *Log) lostError(end uint64, m mark, detail string) error {
	return fmt.Errorf("%w: the log in %s ends at sequence %d but sequence %d was made durable: %d records (%d..%d) missing: %s",
		ErrLost, l.dir, end, m.seq, m.seq-end, end+1, m.seq, detail)
}

// cutIncomplete removes a trailing write whose last record is not in the
// log (the log's last record has More set): a crash came before the whole
// write was durable, so it was never acknowledged. The write may span
// segments: a trailing segment made only of its records is removed, and
// every cut byte is saved beside the log as a .torn file.
func (l *Log) cutIncomplete() error {
	if len(l.segs) == 0 {
		return nil
	}
	end, last := lastEndOf(l.segs), l.segs[len(l.segs)-1].last
	if end >= last {
		return nil
	}
	cut := 0
	for len(l.segs) > 0 {
		seg := l.segs[len(l.segs)-1]
		off := int64(SegmentHeaderSize)
		if seg.lastEnd != 0 {
			off = seg.lastEndOff
		}
		if seg.size > off {
			data, err := readRange(seg.path, off, seg.size)
			if err != nil {
				return err
			}
			aside := fmt.Sprintf("%s.torn-%d", seg.path, off)
			if err := os.WriteFile(aside, data, 0o600); err != nil {
				return fmt.Errorf("wal: save incomplete write: %w", err)
			}
			cut += len(data)
		}
		whole := seg.lastEnd == 0 && len(l.segs) > 1
		if whole {
			if err := os.Remove(seg.path); err != nil {
				return fmt.Errorf("wal: remove segment of an incomplete write: %w", err)
			}
			l.segs = l.segs[:len(l.segs)-1]
			continue
		}
		if err := os.Truncate(seg.path, off); err != nil {
			return fmt.Errorf("wal: cut incomplete write: %w", err)
		}
		seg.size, seg.last = off, end
		for len(seg.index) > 0 && seg.index[len(seg.index)-1].off >= off {
			seg.index = seg.index[:len(seg.index)-1]
		}
		break
	}
	if !l.opts.NoSync {
		if err := syncDir(l.dir); err != nil {
			return err
		}
	}
	msg := fmt.Sprintf("%s: cut an incomplete write, sequences %d..%d (%d bytes, saved as .torn files)", l.dir, end+1, last, cut)
	l.opts.Logger.Warn("wal: cut an incomplete write", "dir", l.dir, "first", end+1, "last", last, "bytes", cut)
	l.repaired = append(l.repaired, msg)
	return nil
}

// readRange reads bytes [from, to) of a file.
func readRange(path string, from, to int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("wal: open %s: %w", path, err)
	}
	defer func() { _ = f.Close() }()
	b := make([]byte, to-from)
	if _, err := f.ReadAt(b, from); err != nil {
		return nil, fmt.Errorf("wal: read %s: %w", path, err)
	}
	return b, nil
}
