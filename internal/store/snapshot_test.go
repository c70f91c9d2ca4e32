package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// sampleStore builds a small store touching every feature of the format.
func sampleStore(t testing.TB) *Store {
	s := New()
	concepts, assocs := finalStateOps()
	applyAll(t, s, concepts...)
	applyAll(t, s, assocs...)
	applyAll(t, s, delOp(20), putOp(5, "rewritten", 5000))
	return s
}

func snapshotBytes(t testing.TB, s *Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	info, err := s.WriteSnapshot(&buf)
	if err != nil {
		t.Fatalf("WriteSnapshot: %v", err)
	}
	if info.Bytes != int64(buf.Len()) {
		t.Fatalf("info.Bytes = %d, wrote %d", info.Bytes, buf.Len())
	}
	return buf.Bytes()
}

func TestSnapshotRoundTrip(t *testing.T) {
	for name, s := range map[string]*Store{"empty": New(), "sample": sampleStore(t)} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			winfo, err := s.WriteSnapshot(&buf)
			if err != nil {
				t.Fatalf("WriteSnapshot: %v", err)
			}
			data := bytes.Clone(buf.Bytes())
			st := s.Stats()
			want := SnapshotInfo{Seq: st.LastApplied, Concepts: st.ConceptCount, Associations: st.AssociationCount, Digest: s.Digest(), Bytes: int64(len(data))}
			if winfo != want {
				t.Fatalf("write info = %+v, want %+v", winfo, want)
			}

			r, rinfo, err := ReadSnapshot(&buf)
			if err != nil {
				t.Fatalf("ReadSnapshot: %v", err)
			}
			if rinfo != want {
				t.Fatalf("read info = %+v, want %+v", rinfo, want)
			}
			if r.Stats() != st || r.Digest() != s.Digest() {
				t.Fatalf("restored Stats %+v digest %s, want %+v %s", r.Stats(), r.Digest(), st, s.Digest())
			}
			checkInvariants(t, r)
			wc, wa := dump(t, s)
			gc, ga := dump(t, r)
			if !slices.EqualFunc(gc, wc, sameConcept) || !slices.Equal(ga, wa) {
				t.Fatal("restored content differs")
			}
			if again := snapshotBytes(t, r); !bytes.Equal(again, data) {
				t.Fatal("snapshot of the restored store is not byte-identical")
			}
		})
	}
}

func TestSnapshotRestoredStoreKeepsApplying(t *testing.T) {
	s := sampleStore(t)
	r, _, err := ReadSnapshot(bytes.NewReader(snapshotBytes(t, s)))
	if err != nil {
		t.Fatal(err)
	}
	more := []Op{delOp(2), linkOp(1, 3, 9, 1), putOp(21, "new", 9000), linkOp(21, 1, 0, 1), delOp(1)}
	applyAll(t, s, more...)
	applyAll(t, r, more...)
	checkInvariants(t, r)
	if r.Digest() != s.Digest() || r.Stats() != s.Stats() {
		t.Fatalf("restored store diverged: %+v vs %+v", r.Stats(), s.Stats())
	}
	if err := r.Apply(r.LastApplied(), putOp(1, "", 1)); !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("restored LastApplied not enforced: %v", err)
	}
}

func TestSnapshotDeterministicBytes(t *testing.T) {
	concepts, assocs := finalStateOps()
	a, b := New(), New()
	applyAll(t, a, concepts...)
	applyAll(t, a, assocs...)
	applyAll(t, b, shuffled(concepts, 11)...)
	applyAll(t, b, shuffled(assocs, 12)...)
	if !bytes.Equal(snapshotBytes(t, a), snapshotBytes(t, b)) {
		t.Fatal("equal states produced different snapshot bytes")
	}
}

func wantCorrupt(t *testing.T, data []byte, what string) {
	t.Helper()
	s, _, err := ReadSnapshot(bytes.NewReader(data))
	if !errors.Is(err, ErrCorruptSnapshot) {
		t.Fatalf("%s: ReadSnapshot error = %v, want ErrCorruptSnapshot", what, err)
	}
	if s != nil {
		t.Fatalf("%s: ReadSnapshot returned a store with an error", what)
	}
}

// smallStore has every kind of record and is small enough to damage at
// every offset.
func smallStore(t testing.TB) *Store {
	s := New()
	c := putOp(3, "emb", 3)
	c.Concept.Embedding = []float32{0.5, -1}
	applyAll(t, s, putOp(1, "one", 1), putOp(2, "", 2), c, linkOp(1, 2, 0, 1), linkOp(1, 2, 4, 2), linkOp(3, 1, 0, 1))
	return s
}

func TestSnapshotTruncatedAnywhere(t *testing.T) {
	for name, tc := range map[string]struct {
		data   []byte
		stride int
	}{
		"small":  {snapshotBytes(t, smallStore(t)), 1},
		"sample": {snapshotBytes(t, sampleStore(t)), 7},
	} {
		for n := 0; n < len(tc.data); n += tc.stride {
			wantCorrupt(t, tc.data[:n], name+" truncated")
		}
	}
}

func TestSnapshotFlippedByteAnywhere(t *testing.T) {
	for name, tc := range map[string]struct {
		data   []byte
		stride int
	}{
		"small":  {snapshotBytes(t, smallStore(t)), 1},
		"sample": {snapshotBytes(t, sampleStore(t)), 7},
	} {
		for i := 0; i < len(tc.data); i += tc.stride {
			for _, mask := range []byte{0x01, 0x80} {
				c := bytes.Clone(tc.data)
				c[i] ^= mask
				wantCorrupt(t, c, name+" flipped byte")
			}
		}
	}
}

// rawSnapshot assembles a snapshot from raw records with correct CRCs, so
// tests can reach the checks behind them. A nil digest means the correct
// one.
type rawSnapshot struct {
	magic    string
	version  uint32
	reserved uint32
	seq      uint64
	nc, na   uint64 // counts; zero means len of the records
	concepts [][]byte
	assocs   [][]byte
	digest   *Digest
	trailing []byte
}

func conceptRec(id ConceptID, created int64, content string, emb ...float32) []byte {
	c := Concept{ID: id, Content: []byte(content), Embedding: emb, Strength: 1, Confidence: 1}
	return appendRecord(append([]byte(nil), id[:]...), &c, created, created)
}

func assocRec(src, dst ConceptID, typ AssocType, strength float32) []byte {
	return appendAssociation(nil, &Association{Source: src, Target: dst, Type: typ, Strength: strength})
}

func (r rawSnapshot) bytes() []byte {
	if r.magic == "" {
		r.magic = snapMagic
	}
	if r.version == 0 {
		r.version = snapVersion
	}
	if r.nc == 0 {
		r.nc = uint64(len(r.concepts))
	}
	if r.na == 0 {
		r.na = uint64(len(r.assocs))
	}
	var out []byte
	section := func(b []byte) {
		out = append(out, b...)
		out = binary.LittleEndian.AppendUint32(out, crc32.Checksum(b, castagnoli))
	}
	hdr := append([]byte(nil), r.magic...)
	hdr = binary.LittleEndian.AppendUint32(hdr, r.version)
	hdr = binary.LittleEndian.AppendUint32(hdr, r.reserved)
	hdr = binary.LittleEndian.AppendUint64(hdr, r.seq)
	hdr = binary.LittleEndian.AppendUint64(hdr, r.nc)
	hdr = binary.LittleEndian.AppendUint64(hdr, r.na)
	section(hdr)
	var sum digestSum
	var body []byte
	for _, c := range r.concepts {
		body = append(body, c...)
		sum.add(sha256.Sum256(append([]byte{tagConcept}, c...)))
	}
	section(body)
	body = nil
	for _, a := range r.assocs {
		body = append(body, a...)
		sum.add(sha256.Sum256(append([]byte{tagAssociation}, a...)))
	}
	section(body)
	d := sum.digest()
	if r.digest != nil {
		d = *r.digest
	}
	section(d[:])
	return append(out, r.trailing...)
}

func TestSnapshotRejectsInconsistentContent(t *testing.T) {
	a, b, c := cid(1), cid(2), cid(3)
	valid := rawSnapshot{
		seq:      9,
		concepts: [][]byte{conceptRec(a, 1, "a"), conceptRec(b, 1, "b", 1, 2), conceptRec(c, 1, "")},
		assocs:   [][]byte{assocRec(a, b, 0, 1), assocRec(a, b, 1, 1), assocRec(a, c, 0, 1), assocRec(b, a, 0, 1)},
	}
	if s, info, err := ReadSnapshot(bytes.NewReader(valid.bytes())); err != nil || info.Seq != 9 || s.Stats().AssociationCount != 4 {
		t.Fatalf("hand-built valid snapshot: %+v, %v", info, err)
	}
	zero := Digest{}
	hugeLen := conceptRec(a, 1, "a")
	binary.LittleEndian.PutUint32(hugeLen[16+recContentLen:], math.MaxUint32)
	nan := float32(math.NaN())
	tests := map[string]rawSnapshot{
		"bad magic":               func(r rawSnapshot) rawSnapshot { r.magic = "SUTRASNQ"; return r }(valid),
		"future version":          func(r rawSnapshot) rawSnapshot { r.version = 2; return r }(valid),
		"reserved set":            func(r rawSnapshot) rawSnapshot { r.reserved = 1; return r }(valid),
		"more concepts":           func(r rawSnapshot) rawSnapshot { r.nc = 4; return r }(valid),
		"huge count":              func(r rawSnapshot) rawSnapshot { r.nc = 1 << 60; return r }(valid),
		"fewer concepts":          func(r rawSnapshot) rawSnapshot { r.nc = 2; return r }(valid),
		"more assocs":             func(r rawSnapshot) rawSnapshot { r.na = 5; return r }(valid),
		"trailing bytes":          func(r rawSnapshot) rawSnapshot { r.trailing = []byte{0}; return r }(valid),
		"digest mismatch":         func(r rawSnapshot) rawSnapshot { r.digest = &zero; return r }(valid),
		"duplicate id":            {concepts: [][]byte{conceptRec(a, 1, "a"), conceptRec(a, 1, "a")}},
		"unsorted ids":            {concepts: [][]byte{conceptRec(b, 1, "b"), conceptRec(a, 1, "a")}},
		"nan embedding":           {concepts: [][]byte{conceptRec(a, 1, "a", 1, nan)}},
		"missing target":          {concepts: valid.concepts[:2], assocs: [][]byte{assocRec(a, c, 0, 1)}},
		"missing source":          {concepts: valid.concepts[1:], assocs: [][]byte{assocRec(a, c, 0, 1)}},
		"self association":        {concepts: valid.concepts, assocs: [][]byte{assocRec(a, a, 0, 1)}},
		"nan association":         {concepts: valid.concepts, assocs: [][]byte{assocRec(a, b, 0, nan)}},
		"duplicate assoc":         {concepts: valid.concepts, assocs: [][]byte{assocRec(a, b, 0, 1), assocRec(a, b, 0, 2)}},
		"unsorted assocs":         {concepts: valid.concepts, assocs: [][]byte{assocRec(b, a, 0, 1), assocRec(a, b, 0, 1)}},
		"unsorted types":          {concepts: valid.concepts, assocs: [][]byte{assocRec(a, b, 1, 1), assocRec(a, b, 0, 1)}},
		"content length past end": {concepts: [][]byte{hugeLen}},
	}
	for name, r := range tests {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			wantCorrupt(t, r.bytes(), name)
			runtime.ReadMemStats(&after)
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
				t.Fatalf("rejecting a tiny file allocated %d bytes", grew)
			}
		})
	}
	if _, _, err := ReadSnapshot(strings.NewReader("")); !errors.Is(err, ErrCorruptSnapshot) {
		t.Fatalf("empty input: %v", err)
	}
}

type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

type failingWriter struct{ left int }

var errDisk = errors.New("disk on fire")

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		n := w.left
		w.left = 0
		return n, errDisk
	}
	w.left -= len(p)
	return len(p), nil
}

func TestSnapshotIOErrors(t *testing.T) {
	s := sampleStore(t)
	data := snapshotBytes(t, s)
	for _, at := range []int{0, 10, len(data) / 2, len(data) - 1} {
		_, _, err := ReadSnapshot(&failingReader{data: data[:at], err: errDisk})
		if !errors.Is(err, errDisk) || errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("read error at %d: %v, want the reader's error and not corruption", at, err)
		}
		if _, err := s.WriteSnapshot(&failingWriter{left: at}); !errors.Is(err, errDisk) {
			t.Fatalf("write error at %d: %v", at, err)
		}
	}
	// The error after the trailer (instead of EOF) is the reader's too.
	if _, _, err := ReadSnapshot(&failingReader{data: data, err: errDisk}); !errors.Is(err, errDisk) {
		t.Fatalf("error after trailer: %v", err)
	}
}

func FuzzReadSnapshot(f *testing.F) {
	f.Add(snapshotBytes(f, New()))
	f.Add(snapshotBytes(f, smallStore(f)))
	f.Add([]byte(snapMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, _, err := ReadSnapshot(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("error %v does not wrap ErrCorruptSnapshot", err)
			}
			return
		}
		// Anything accepted is canonical: writing it back gives the input.
		if out := snapshotBytes(t, s); !bytes.Equal(out, data) {
			t.Fatalf("accepted snapshot does not re-encode to itself")
		}
	})
}
