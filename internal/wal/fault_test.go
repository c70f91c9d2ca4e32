package wal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Fault injection: each case damages a closed log the way a crash or a bad
// disk would, then checks that Open either recovers every record that was
// acknowledged or refuses with an error naming the damage.

const faultRecords = 60

var faultOpts = Options{SegmentSize: 1024, IndexInterval: 128}

func segmentsOf(t *testing.T, dir string) []string {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	if err != nil || len(segs) < 3 {
		t.Fatalf("want at least 3 segments, got %d (%v)", len(segs), err)
	}
	return segs // Glob sorts; names are zero padded
}

// recordOffsets returns the start offset of each record in a segment file
// and the offset where the records end (a zero-filled, preallocated
// remainder may follow).
func recordOffsets(t *testing.T, path string) (offs []int64, end int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	off := SegmentHeaderSize
	for off < len(b) && len(bytes.TrimLeft(b[off:], "\x00")) > 0 {
		_, n, err := DecodeRecord(b[off:])
		if err != nil {
			t.Fatalf("fixture damaged at %d: %v", off, err)
		}
		offs = append(offs, int64(off))
		off += n
	}
	return offs, int64(off)
}

func mutate(t *testing.T, path string, f func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, f(b), 0o640); err != nil {
		t.Fatal(err)
	}
}

// recoverAll opens the log and checks it holds exactly records 1..want.
func recoverAll(t *testing.T, dir string, want int) *Log {
	t.Helper()
	l, err := Open(dir, Options{SegmentSize: faultOpts.SegmentSize, IndexInterval: faultOpts.IndexInterval, Logger: quiet()})
	if err != nil {
		t.Fatalf("open after damage: %v", err)
	}
	checkRecords(t, readAll(t, l, 1), 1, want)
	return l
}

func refused(t *testing.T, dir, wantFile string) {
	t.Helper()
	_, err := Open(dir, Options{SegmentSize: faultOpts.SegmentSize, Logger: quiet()})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open of a corrupt log: err = %v, want ErrCorrupt", err)
	}
	if !strings.Contains(err.Error(), filepath.Base(wantFile)) {
		t.Fatalf("error %q does not name %s", err, filepath.Base(wantFile))
	}
}

func TestTruncateLastRecordAtEveryOffset(t *testing.T) {
	base := t.TempDir()
	fill(t, base, faultOpts, faultRecords)
	segs := segmentsOf(t, base)
	last := segs[len(segs)-1]
	offs, end := recordOffsets(t, last)
	start := offs[len(offs)-1]
	for cut := start; cut < end; cut++ {
		dir := t.TempDir()
		copyDir(t, base, dir)
		p := filepath.Join(dir, filepath.Base(last))
		if err := os.Truncate(p, cut); err != nil {
			t.Fatal(err)
		}
		// The last record was being written when the crash came: it was
		// never acknowledged (the durable mark is at the one before), and
		// every earlier record must survive.
		setMark(t, dir, faultRecords-1)
		l := recoverAll(t, dir, faultRecords-1)
		if cut > start && len(l.Repaired()) != 1 {
			t.Fatalf("cut at %d: repair not reported: %v", cut, l.Repaired())
		}
		if cut > start {
			if _, err := os.Stat(p + ".torn-" + strconv.FormatInt(start, 10)); err != nil {
				t.Fatalf("cut at %d: damaged bytes not kept aside: %v", cut, err)
			}
		}
		seq, err := l.Append(Entry{Epoch: 1, Time: faultRecords, Data: payload(faultRecords)})
		if err != nil || seq != faultRecords {
			t.Fatalf("append after repair: %d %v", seq, err)
		}
		_ = l.Close()
	}
}

func TestCrashDropsUnsyncedBytes(t *testing.T) {
	// Records 1..faultRecords are acknowledged (fsynced). A crash while
	// more were being written leaves any prefix of the unsynced bytes.
	base := t.TempDir()
	fill(t, base, faultOpts, faultRecords)
	segs := segmentsOf(t, base)
	last := segs[len(segs)-1]
	_, ackedEnd := recordOffsets(t, last)
	unsynced, _ := appendRecord(nil, faultRecords+1, 1, false, faultRecords+1, payload(faultRecords+1))
	for keep := 0; keep <= len(unsynced); keep += 3 {
		dir := t.TempDir()
		copyDir(t, base, dir)
		mutate(t, filepath.Join(dir, filepath.Base(last)), func(b []byte) []byte {
			return append(b[:ackedEnd], unsynced[:keep]...)
		})
		want := faultRecords
		if keep == len(unsynced) {
			want++ // the whole record reached the disk
		}
		l := recoverAll(t, dir, want)
		_ = l.Close()
	}
}

func TestZeroedTail(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, faultOpts, faultRecords)
	segs := segmentsOf(t, dir)
	mutate(t, segs[len(segs)-1], func(b []byte) []byte { return append(b, make([]byte, 4096)...) })
	l := recoverAll(t, dir, faultRecords)
	_ = l.Close()
}

func TestMiddleCorruptionRefused(t *testing.T) {
	type damage struct {
		name    string
		segment func(segs []string) string
		corrupt func(t *testing.T, path string)
	}
	middleRecord := func(t *testing.T, path string) int64 {
		offs, _ := recordOffsets(t, path)
		return offs[len(offs)/2]
	}
	cases := []damage{
		{"tear middle record of last segment", func(s []string) string { return s[len(s)-1] }, func(t *testing.T, p string) {
			off := middleRecord(t, p)
			mutate(t, p, func(b []byte) []byte {
				copy(b[off+HeaderSize:], "torn!")
				return b
			})
		}},
		{"flip a bit in an older segment", func(s []string) string { return s[1] }, func(t *testing.T, p string) {
			off := middleRecord(t, p)
			mutate(t, p, func(b []byte) []byte { b[off+HeaderSize+2] ^= 0x10; return b })
		}},
		{"flip a bit in the last record of an older segment", func(s []string) string { return s[0] }, func(t *testing.T, p string) {
			_, end := recordOffsets(t, p)
			mutate(t, p, func(b []byte) []byte { b[end-1] ^= 0x80; return b })
		}},
		{"truncate an older segment", func(s []string) string { return s[0] }, func(t *testing.T, p string) {
			_, end := recordOffsets(t, p)
			mutate(t, p, func(b []byte) []byte { return b[:end-7] })
		}},
		{"zero a middle range", func(s []string) string { return s[len(s)-2] }, func(t *testing.T, p string) {
			off := middleRecord(t, p)
			mutate(t, p, func(b []byte) []byte {
				for i := off; i < off+40; i++ {
					b[i] = 0
				}
				return b
			})
		}},
		{"bad segment magic", func(s []string) string { return s[1] }, func(t *testing.T, p string) {
			mutate(t, p, func(b []byte) []byte { copy(b, "XXXX"); return b })
		}},
		{"remove a segment", func(s []string) string { return s[2] }, func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			fill(t, dir, faultOpts, faultRecords)
			segs := segmentsOf(t, dir)
			target := c.segment(segs)
			c.corrupt(t, target)
			want := target
			if c.name == "remove a segment" {
				want = segs[3] // the gap is reported at the segment after it
			}
			refused(t, dir, want)
		})
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPreallocatedSegmentsRecover(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, faultOpts, faultRecords)
	segs := segmentsOf(t, dir)
	zeroTails := 0
	for _, s := range segs {
		if _, end := recordOffsets(t, s); end < fileSize(t, s) {
			zeroTails++
		}
	}
	if zeroTails == 0 {
		t.Fatal("no segment was preallocated")
	}
	// A torn record inside the zero-filled end of the last segment.
	last := segs[len(segs)-1]
	_, end := recordOffsets(t, last)
	torn, _ := appendRecord(nil, faultRecords+1, 1, false, 1, payload(faultRecords+1))
	mutate(t, last, func(b []byte) []byte {
		if int(end)+len(torn) > len(b) {
			b = append(b, make([]byte, int(end)+len(torn)-len(b))...)
		}
		copy(b[end:], torn[:len(torn)-3])
		return b
	})
	// A spare left by a crash is removed.
	if err := os.WriteFile(filepath.Join(dir, sparePrefix+"9.tmp"), make([]byte, 100), 0o640); err != nil {
		t.Fatal(err)
	}
	l := recoverAll(t, dir, faultRecords)
	defer func() { _ = l.Close() }()
	if len(l.Repaired()) != 1 {
		t.Fatalf("torn record in a preallocated segment not repaired: %v", l.Repaired())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, sparePrefix+"*")); len(left) != 0 {
		t.Fatalf("stale spare kept: %v", left)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
