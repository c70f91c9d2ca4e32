package wal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
)

const segmentSuffix = ".wal"

// segment describes one segment file. Fields other than index and size are
// fixed once the segment exists; index and size grow under Log.mu.
type segment struct {
	first uint64 // sequence of the first record (or the next one, if empty)
	last  uint64 // sequence of the last record, first-1 when empty
	path  string
	size  int64        // bytes queued, header included
	index []indexPoint // sparse: every IndexInterval bytes
	// lastEnd is the last record in the segment that ends a write (More
	// unset), 0 if none does; lastEndOff, set by scan, the offset after it.
	lastEnd    uint64
	lastEndOff int64
	// end is the final written size, set when the segment stops being the
	// active one (by the flusher, or by Open for older segments).
	end atomic.Int64
}

type indexPoint struct {
	seq uint64
	off int64
}

func segmentName(first uint64) string { return fmt.Sprintf("%020d%s", first, segmentSuffix) }

// listSegments returns the segment files in dir sorted by first sequence.
func listSegments(dir string) ([]*segment, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: read dir: %w", err)
	}
	var segs []*segment
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, segmentSuffix) {
			continue
		}
		first, err := strconv.ParseUint(strings.TrimSuffix(name, segmentSuffix), 10, 64)
		if err != nil || first == 0 {
			return nil, fmt.Errorf("%w: unexpected segment file name %s", ErrCorrupt, filepath.Join(dir, name))
		}
		segs = append(segs, &segment{first: first, path: filepath.Join(dir, name)})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].first < segs[j].first })
	return segs, nil
}

// scanResult is the outcome of verifying one segment.
type scanResult struct {
	validEnd int64 // offset just past the last valid record
	fileSize int64
	damage   error // first damage found at validEnd, nil if the file is clean
}

// scan verifies a segment's header and records, filling seg.last and
// seg.index. It stops at the first damaged record and reports it; whether
// that damage is a torn tail or corruption is the caller's decision.
func scan(seg *segment, interval int64) (scanResult, error) {
	f, err := os.Open(seg.path)
	if err != nil {
		return scanResult{}, fmt.Errorf("wal: open segment: %w", err)
	}
	defer func() { _ = f.Close() }()
	st, err := f.Stat()
	if err != nil {
		return scanResult{}, fmt.Errorf("wal: stat segment: %w", err)
	}
	res := scanResult{fileSize: st.Size()}
	br := bufio.NewReaderSize(f, 1<<20)
	hdr := make([]byte, SegmentHeaderSize)
	if _, err := io.ReadFull(br, hdr); err != nil {
		res.damage = fmt.Errorf("%w: segment header: %v", ErrShort, err)
		seg.last = seg.first - 1
		return res, nil
	}
	first, err := parseSegmentHeader(hdr)
	if err != nil {
		res.damage = err
		seg.last = seg.first - 1
		return res, nil
	}
	if first != seg.first {
		return res, fmt.Errorf("%w: %s: header says first sequence %d", ErrCorrupt, seg.path, first)
	}
	off := int64(SegmentHeaderSize)
	next := seg.first
	lastIndexed := -interval
	buf := make([]byte, 0, 64<<10)
	for {
		rec, n, derr := readRecord(br, &buf)
		if derr == io.EOF {
			break
		}
		if derr == nil && rec.Seq != next {
			derr = fmt.Errorf("%w: sequence %d where %d was expected", ErrCorrupt, rec.Seq, next)
		}
		if derr != nil {
			res.damage = derr
			break
		}
		if off-lastIndexed >= interval {
			seg.index = append(seg.index, indexPoint{seq: rec.Seq, off: off})
			lastIndexed = off
		}
		off += int64(n)
		next++
		if !rec.More {
			seg.lastEnd, seg.lastEndOff = rec.Seq, off
		}
	}
	res.validEnd = off
	seg.size = off
	seg.last = next - 1
	if res.damage != nil {
		zero, err := zeroFrom(f, off)
		if err != nil {
			return res, err
		}
		if zero {
			res.damage = nil // the unused, zero-filled end of a preallocated segment
		}
	}
	return res, nil
}

// zeroFrom reports whether every byte of f from off to its end is zero.
func zeroFrom(f *os.File, off int64) (bool, error) {
	buf := make([]byte, 256<<10)
	for {
		n, err := f.ReadAt(buf, off)
		for _, b := range buf[:n] {
			if b != 0 {
				return false, nil
			}
		}
		off += int64(n)
		if err == io.EOF {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("wal: read %s: %w", f.Name(), err)
		}
	}
}

// readRecord reads one record from br into *buf (grown as needed). It
// returns io.EOF only at a clean record boundary.
func readRecord(br *bufio.Reader, buf *[]byte) (Record, int, error) {
	h, err := br.Peek(HeaderSize)
	if len(h) == 0 && err == io.EOF {
		return Record{}, 0, io.EOF
	}
	if err != nil {
		return Record{}, 0, ErrShort
	}
	l, _ := decodeHeader(h)
	if l > MaxRecordSize {
		return Record{}, 0, fmt.Errorf("%w: record length %d exceeds limit %d", ErrCorrupt, l, MaxRecordSize)
	}
	need := HeaderSize + l
	if cap(*buf) < need {
		*buf = make([]byte, need)
	}
	b := (*buf)[:need]
	if _, err := io.ReadFull(br, b); err != nil {
		return Record{}, 0, ErrShort
	}
	return DecodeRecord(b)
}

// laterValidRecord reports whether any valid record with a sequence greater
// than after starts anywhere in data. It is how Open tells a torn tail
// (nothing valid follows the damage) from corruption in the middle of the
// log (acknowledged records follow it).
func laterValidRecord(data []byte, after uint64) bool {
	for i := 0; i+HeaderSize <= len(data); i++ {
		if binary.LittleEndian.Uint64(data[i:]) == 0 {
			continue // zero length and CRC: never a record; skips zero fill fast
		}
		l, _ := decodeHeader(data[i:])
		if l > MaxRecordSize || i+HeaderSize+l > len(data) {
			continue
		}
		r, _, err := DecodeRecord(data[i:])
		if err == nil && r.Seq > after {
			return true
		}
	}
	return false
}

// tornTail returns the damaged bytes after res.validEnd in the last
// segment, without their zero fill. It refuses (ErrCorrupt) when valid
// records follow the damage, because those may have been acknowledged.
func tornTail(seg *segment, res scanResult) ([]byte, error) {
	data, err := os.ReadFile(seg.path)
	if err != nil {
		return nil, fmt.Errorf("wal: read segment for repair: %w", err)
	}
	if int64(len(data)) < res.validEnd {
		return nil, fmt.Errorf("%w: %s changed during open", ErrCorrupt, seg.path)
	}
	tail := bytes.TrimRight(data[res.validEnd:], "\x00")
	if laterValidRecord(tail, seg.last) {
		return nil, fmt.Errorf("%w: %s at offset %d: %v, and valid records follow it",
			ErrCorrupt, seg.path, res.validEnd, res.damage)
	}
	return tail, nil
}

// repairTail truncates the last segment at res.validEnd after saving the
// cut bytes (tail, from tornTail) beside it.
func repairTail(seg *segment, res scanResult, tail []byte, o Options) (string, error) {
	aside := fmt.Sprintf("%s.torn-%d", seg.path, res.validEnd)
	if err := os.WriteFile(aside, tail, 0o600); err != nil {
		return "", fmt.Errorf("wal: save torn tail: %w", err)
	}
	if res.validEnd < SegmentHeaderSize {
		// The header itself was torn: the segment was being created.
		if err := os.Remove(seg.path); err != nil {
			return "", fmt.Errorf("wal: remove torn segment: %w", err)
		}
	} else if err := os.Truncate(seg.path, res.validEnd); err != nil {
		return "", fmt.Errorf("wal: truncate torn tail: %w", err)
	}
	msg := fmt.Sprintf("%s: cut %d damaged bytes at offset %d after sequence %d (%v); saved as %s",
		seg.path, len(tail), res.validEnd, seg.last, res.damage, aside)
	o.Logger.Warn("wal: repaired torn tail", "segment", seg.path, "offset", res.validEnd,
		"bytes", len(tail), "last_sequence", seg.last, "cause", res.damage, "saved", aside)
	return msg, nil
}
