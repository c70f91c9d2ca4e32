package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sutra/sutra-operator/internal/store"
	"github.com/sutra/sutra-operator/internal/wal"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testOpts() Options {
	return Options{WAL: wal.Options{SegmentSize: 16 << 10, NoSync: true}, Logger: quiet(), CheckpointBytes: -1}
}

func openT(t testing.TB, dir string, o Options) (*Engine, Recovery) {
	t.Helper()
	e, rec, err := Open(dir, o)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return e, rec
}

func cid(n uint64) store.ConceptID {
	var id store.ConceptID
	binary.BigEndian.PutUint64(id[8:], n)
	return id
}

func put(n uint64, content string) store.Op {
	return store.Op{Type: store.OpWriteConcept, Concept: store.Concept{ID: cid(n), Content: []byte(content), Strength: 1, Confidence: 0.9}}
}

func link(a, b uint64) store.Op {
	return store.Op{Type: store.OpWriteAssociation, Association: store.Association{Source: cid(a), Target: cid(b), Type: 1, Strength: 0.5}}
}

func del(n uint64) store.Op { return store.Op{Type: store.OpDeleteConcept, ID: cid(n)} }

func write(t testing.TB, e *Engine, ops ...store.Op) Result {
	t.Helper()
	r, err := e.Write(ops)
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	return r
}

func TestWriteReopenRecovers(t *testing.T) {
	dir := t.TempDir()
	e, _ := openT(t, dir, testOpts())
	for i := uint64(1); i <= 300; i++ {
		write(t, e, put(i, "concept"))
	}
	write(t, e, link(1, 2), link(2, 3))
	write(t, e, del(3))
	want := e.Store().Digest()
	wantStats := e.Store().Stats()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e2, rec := openT(t, dir, testOpts())
	defer func() { _ = e2.Close() }()
	if rec.Replayed != 303 || rec.LastSeq != 303 {
		t.Fatalf("recovery %+v", rec)
	}
	if e2.Store().Digest() != want || e2.Store().Stats() != wantStats {
		t.Fatalf("state differs after reopen: %+v vs %+v", e2.Store().Stats(), wantStats)
	}
	if got := e2.Store().Neighbors(cid(2), 10); len(got) != 0 {
		t.Fatalf("association to deleted concept survived: %+v", got)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	e, _ := openT(t, t.TempDir(), testOpts())
	defer func() { _ = e.Close() }()
	write(t, e, put(1, "one"))
	before, seq := e.Store().Digest(), e.Log().LastSeq()
	huge := put(2, "")
	huge.Concept.Content = make([]byte, store.DefaultLimits().MaxContentBytes+1)
	nan := put(2, "x")
	nan.Concept.Strength = float32(math.NaN())
	inf := put(2, "x")
	inf.Concept.Embedding = []float32{1, float32(math.Inf(1))}
	cases := []struct {
		name string
		ops  []store.Op
		want error
	}{
		{"empty", nil, ErrEmptyBatch},
		{"too large", []store.Op{huge}, store.ErrTooLarge},
		{"NaN strength", []store.Op{nan}, store.ErrInvalidValue},
		{"infinite embedding", []store.Op{inf}, store.ErrInvalidValue},
		{"unknown type", []store.Op{{Type: 99}}, store.ErrBadOp},
		{"association to missing", []store.Op{link(1, 42)}, store.ErrNotFound},
		{"delete missing", []store.Op{del(42)}, store.ErrNotFound},
		{"valid then invalid", []store.Op{put(5, "ok"), nan}, store.ErrInvalidValue},
		{"too many", make([]store.Op, MaxBatch+1), ErrBatchTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := e.Write(c.ops); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if e.Store().Digest() != before || e.Log().LastSeq() != seq {
				t.Fatal("a rejected write changed the state or the log")
			}
		})
	}
	if _, err := store.ConceptIDFromBytes(make([]byte, 15)); !errors.Is(err, store.ErrInvalidID) {
		t.Fatalf("15-byte id: %v", err)
	}
	// Concepts created earlier in the same batch count as existing.
	write(t, e, put(7, "seven"), put(8, "eight"), link(7, 8))
}

// randomOps returns a reproducible mix of writes, associations and deletes.
func randomOps(r *rand.Rand, n int) [][]store.Op {
	live := map[uint64]bool{}
	var out [][]store.Op
	for len(out) < n {
		id := uint64(r.IntN(200)) + 1
		switch k := r.IntN(10); {
		case k < 6:
			live[id] = true
			op := put(id, string(rune('a'+r.IntN(26))))
			if r.IntN(3) == 0 {
				op.Concept.Embedding = []float32{r.Float32(), r.Float32()}
			}
			out = append(out, []store.Op{op})
		case k < 9:
			other := uint64(r.IntN(200)) + 1
			if live[id] && live[other] && id != other {
				out = append(out, []store.Op{link(id, other)})
			}
		default:
			if live[id] {
				delete(live, id)
				out = append(out, []store.Op{del(id)})
			}
		}
	}
	return out
}

func TestRecoveryEquivalence(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		r := rand.New(rand.NewPCG(seed, seed))
		writes := randomOps(r, 2000)
		dir := t.TempDir()
		e, _ := openT(t, dir, testOpts())
		direct := store.New()
		var seq uint64
		for i, ops := range writes {
			res := write(t, e, ops...)
			for j := range ops {
				op := ops[j] // Write stamped Time on ops
				seq++
				if res.First+uint64(j) != seq {
					t.Fatalf("sequence %d, want %d", res.First+uint64(j), seq)
				}
				_ = direct.Apply(seq, op)
			}
			if i%700 == 350 {
				if _, err := e.Checkpoint(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if e.Store().Digest() != direct.Digest() {
			t.Fatalf("seed %d: engine and direct apply differ", seed)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		e2, rec := openT(t, dir, testOpts())
		if rec.SnapshotSeq == 0 || rec.Replayed == 0 {
			t.Fatalf("seed %d: expected snapshot + replay, got %+v", seed, rec)
		}
		if e2.Store().Digest() != direct.Digest() {
			t.Fatalf("seed %d: recovered state differs", seed)
		}
		_ = e2.Close()
	}
}

func TestCheckpointTruncatesAndRespectsRetain(t *testing.T) {
	var retain uint64
	o := testOpts()
	o.Retain = func() uint64 { return retain }
	dir := t.TempDir()
	e, _ := openT(t, dir, o)
	for i := uint64(1); i <= 2000; i++ {
		write(t, e, put(i, "some content to fill segments"))
	}
	retain = 100
	older, err := e.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	if first := e.Log().FirstSeq(); first > 100 {
		t.Fatalf("retained log starts at %d, a reader needs 100", first)
	}
	for i := uint64(2001); i <= 2010; i++ {
		write(t, e, put(i, "more"))
	}
	retain = 0
	info, err := e.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	// The log reaches back to the older snapshot, so recovery can fall back
	// to it, and not much further.
	if first := e.Log().FirstSeq(); first < 1800 || first > older.Seq+1 {
		t.Fatalf("after checkpoints at %d and %d the log starts at %d", older.Seq, info.Seq, first)
	}
	snaps, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*.snap"))
	if len(snaps) != 2 {
		t.Fatalf("kept %d snapshots, want 2", len(snaps))
	}
	_ = e.Close()
}

func TestDamagedSnapshotFallsBack(t *testing.T) {
	dir := t.TempDir()
	e, _ := openT(t, dir, testOpts())
	for i := uint64(1); i <= 50; i++ {
		write(t, e, put(i, "x"))
	}
	if _, err := e.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	for i := uint64(51); i <= 60; i++ {
		write(t, e, put(i, "y"))
	}
	if _, err := e.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	want := e.Store().Digest()
	_ = e.Close()
	newest := filepath.Join(dir, "snapshots", "00000000000000000060.snap")
	b, err := os.ReadFile(newest)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(newest, b, 0o640); err != nil {
		t.Fatal(err)
	}
	e2, rec := openT(t, dir, testOpts())
	defer func() { _ = e2.Close() }()
	if rec.SnapshotSeq != 50 || len(rec.SkippedSnapshots) != 1 || e2.Store().Digest() != want {
		t.Fatalf("fallback recovery: %+v", rec)
	}
}

func TestMissingRecordsRefused(t *testing.T) {
	dir := t.TempDir()
	o := testOpts()
	e, _ := openT(t, dir, o)
	// Two checkpoints: the first keeps the whole log (the fallback is the
	// empty store), the second truncates it up to the first.
	for i := uint64(1); i <= 4000; i++ {
		write(t, e, put(i, "some content to fill segments"))
		if i%2000 == 0 {
			if _, err := e.Checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if e.Log().FirstSeq() <= 1 {
		t.Fatal("log not truncated")
	}
	_ = e.Close()
	snaps, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*.snap"))
	for _, s := range snaps {
		_ = os.Remove(s)
	}
	if _, _, err := Open(dir, o); !errors.Is(err, ErrLogGap) {
		t.Fatalf("opened a log whose start was truncated away with no snapshot: err = %v", err)
	}
}

func TestInstallSnapshotAndContinue(t *testing.T) {
	leader, _ := openT(t, t.TempDir(), testOpts())
	defer func() { _ = leader.Close() }()
	for i := uint64(1); i <= 500; i++ {
		write(t, leader, put(i, "payload"))
	}
	write(t, leader, link(1, 2))
	snap, err := leader.OpenSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	write(t, leader, put(1000, "after the snapshot"), del(5))

	dir := t.TempDir()
	replica, _ := openT(t, dir, testOpts())
	info, err := replica.InstallSnapshot(snap)
	_ = snap.Close()
	if err != nil {
		t.Fatal(err)
	}
	if info.Seq != 501 || replica.AppliedSeq() != 501 || replica.Log().NextSeq() != 502 {
		t.Fatalf("installed %+v, applied %d next %d", info, replica.AppliedSeq(), replica.Log().NextSeq())
	}
	r, err := leader.Log().ReadFrom(502)
	if err != nil {
		t.Fatal(err)
	}
	var recs []wal.Record
	for {
		rec, ok, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		recs = append(recs, rec)
	}
	_ = r.Close()
	if err := replica.ApplyReplicated(recs); err != nil {
		t.Fatal(err)
	}
	if replica.Store().Digest() != leader.Store().Digest() {
		t.Fatal("replica differs from leader after snapshot + stream")
	}
	_ = replica.Close()
	again, rec := openT(t, dir, testOpts())
	defer func() { _ = again.Close() }()
	if again.Store().Digest() != leader.Store().Digest() || rec.SnapshotSeq != 501 {
		t.Fatalf("replica restart after install: %+v", rec)
	}
	// Garbage is not installed and changes nothing.
	before := again.Store().Digest()
	if _, err := again.InstallSnapshot(bytes.NewReader(garbage(4096))); err == nil {
		t.Fatal("installed a random snapshot")
	}
	if again.Store().Digest() != before {
		t.Fatal("failed install changed the state")
	}
}

func TestApplyReplicatedRejectsBadBatches(t *testing.T) {
	e, _ := openT(t, t.TempDir(), testOpts())
	defer func() { _ = e.Close() }()
	mk := func(seq uint64, op store.Op) wal.Record {
		data := op.AppendBinary(nil)
		return wal.Record{Seq: seq, Epoch: 1, Time: 5, Data: data, CRC: wal.Checksum(seq, 1, false, 5, data)}
	}
	if err := e.ApplyReplicated([]wal.Record{mk(1, put(1, "a")), mk(2, put(2, "b"))}); err != nil {
		t.Fatal(err)
	}
	before := e.Store().Digest()
	badCRC := mk(3, put(3, "c"))
	badCRC.CRC ^= 1
	undecodable := wal.Record{Seq: 3, Epoch: 1, Data: []byte{0xee}, CRC: wal.Checksum(3, 1, false, 0, []byte{0xee})}
	for name, c := range map[string]struct {
		recs []wal.Record
		want error
	}{
		"crc":         {[]wal.Record{badCRC}, wal.ErrChecksum},
		"gap":         {[]wal.Record{mk(4, put(4, "d"))}, wal.ErrSequence},
		"replay":      {[]wal.Record{mk(2, put(2, "b"))}, wal.ErrSequence},
		"undecodable": {[]wal.Record{mk(3, put(3, "c")), undecodable}, ErrBadEntry},
	} {
		if err := e.ApplyReplicated(c.recs); !errors.Is(err, c.want) {
			t.Fatalf("%s: err = %v, want %v", name, err, c.want)
		}
	}
	if e.Store().Digest() != before || e.AppliedSeq() != 2 || e.Log().LastSeq() != 2 {
		t.Fatal("a rejected batch changed the replica")
	}
}

func TestConcurrentWritersApplyInOrder(t *testing.T) {
	e, _ := openT(t, t.TempDir(), testOpts())
	defer func() { _ = e.Close() }()
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				id := uint64(w*1000 + i + 1)
				if _, err := e.Write([]store.Op{put(id, "c")}); err != nil {
					t.Error(err)
					return
				}
				if _, ok := e.Store().Get(cid(id)); !ok {
					t.Errorf("write of %d returned before it was readable", id)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	if s := e.Store().Stats(); s.ConceptCount != 3200 || e.AppliedSeq() != 3200 {
		t.Fatalf("stats %+v applied %d", s, e.AppliedSeq())
	}
}

func garbage(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}
