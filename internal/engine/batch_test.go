package engine

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sutra/sutra-operator/internal/store"
	"github.com/sutra/sutra-operator/internal/wal"
)

// leaderRecord is op as a leader streams it: at seq, in epoch 1, with More
// set on all but a write's last record.
func leaderRecord(seq uint64, op store.Op, more bool) wal.Record {
	data := op.AppendBinary(nil)
	return wal.Record{Seq: seq, Epoch: 1, More: more, Time: 5, Data: data, CRC: wal.Checksum(seq, 1, more, 5, data)}
}

func TestWriteMarksRecordsOfOneWrite(t *testing.T) {
	e, _ := openT(t, t.TempDir(), testOpts())
	defer func() { _ = e.Close() }()
	if _, err := e.Write([]store.Op{put(1, "a"), put(2, "b"), put(3, "c")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Write([]store.Op{put(4, "d")}); err != nil {
		t.Fatal(err)
	}
	r, err := e.Log().ReadFrom(1)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close() }()
	want := []bool{true, true, false, false}
	for i, more := range want {
		rec, ok, err := r.Next()
		if err != nil || !ok || rec.More != more {
			t.Fatalf("record %d: more %v ok %v err %v, want more %v", i+1, rec.More, ok, err, more)
		}
	}
	if e.DurableSeq() != 4 || e.AppliedSeq() != 4 {
		t.Fatalf("durable %d applied %d", e.DurableSeq(), e.AppliedSeq())
	}
}

// TestReplicatedWriteSplitAcrossBatches: the leader's frames split a write
// of three records; the replica makes the first two durable but applies
// nothing of the write, and reports nothing of it as durable, until the
// frame with its last record is durable.
func TestReplicatedWriteSplitAcrossBatches(t *testing.T) {
	dir := t.TempDir()
	e, _ := openT(t, dir, testOpts())
	if err := e.ApplyReplicated([]wal.Record{leaderRecord(1, put(1, "a"), false)}); err != nil {
		t.Fatal(err)
	}
	first, err := e.BeginReplicated([]wal.Record{leaderRecord(2, put(2, "b"), true), leaderRecord(3, put(3, "c"), true)})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Wait(); err != nil {
		t.Fatal(err)
	}
	if e.Log().LastSeq() != 3 {
		t.Fatalf("log holds %d records, want 3", e.Log().LastSeq())
	}
	if _, ok := e.Store().Get(cid(2)); ok || e.AppliedSeq() != 1 || e.DurableSeq() != 1 {
		t.Fatalf("half a write is visible: applied %d durable %d", e.AppliedSeq(), e.DurableSeq())
	}

	// A crash now: the incomplete write is cut on open, never replayed.
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e, rec := openT(t, dir, testOpts())
	defer func() { _ = e.Close() }()
	if _, ok := e.Store().Get(cid(2)); ok || rec.LastSeq != 1 || e.Log().LastSeq() != 1 || len(rec.Repaired) != 1 {
		t.Fatalf("recovery applied half a write: %+v", rec)
	}
	if _, err := e.BeginReplicated([]wal.Record{leaderRecord(2, put(2, "b"), true), leaderRecord(3, put(3, "c"), true)}); err != nil {
		t.Fatal(err)
	}
	if err := e.ApplyReplicated([]wal.Record{leaderRecord(4, put(4, "d"), false)}); err != nil {
		t.Fatal(err)
	}
	for id := uint64(1); id <= 4; id++ {
		if _, ok := e.Store().Get(cid(id)); !ok {
			t.Fatalf("concept %d missing once its write ended", id)
		}
	}
	if e.AppliedSeq() != 4 || e.DurableSeq() != 4 {
		t.Fatalf("applied %d durable %d, want 4", e.AppliedSeq(), e.DurableSeq())
	}
}

// TestWriteEndDurableBeforeItsOperationsQueue: the log can make the last
// record of a split write durable before the engine queues its operation
// (enqueue queues after the log has the records). An apply in that window
// sees the write's first operations durable but no end among them; it must
// leave them queued, not apply half a write.
func TestWriteEndDurableBeforeItsOperationsQueue(t *testing.T) {
	e, _ := openT(t, t.TempDir(), testOpts())
	defer func() { _ = e.Close() }()
	if err := e.ApplyReplicated([]wal.Record{leaderRecord(1, put(1, "a"), false)}); err != nil {
		t.Fatal(err)
	}
	head, err := e.BeginReplicated([]wal.Record{leaderRecord(2, put(2, "b"), true), leaderRecord(3, put(3, "c"), true)})
	if err != nil {
		t.Fatal(err)
	}
	// The write's end reaches the log, and becomes durable, with its
	// operation not yet queued.
	c, err := e.Log().BeginRecords([]wal.Record{leaderRecord(4, put(4, "d"), false)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := head.Wait(); err != nil {
		t.Fatal(err)
	}
	if e.DurableSeq() != 4 {
		t.Fatalf("durable %d, want 4", e.DurableSeq())
	}
	if _, ok := e.Store().Get(cid(2)); ok || e.AppliedSeq() != 1 {
		t.Fatalf("half a write is visible: applied %d", e.AppliedSeq())
	}
}

func TestWholeDurable(t *testing.T) {
	q := func(spec ...any) []*pending {
		var ps []*pending
		for i := 0; i < len(spec); i += 2 {
			ps = append(ps, &pending{seq: uint64(spec[i].(int)), more: spec[i+1].(bool)})
		}
		return ps
	}
	for _, tc := range []struct {
		name    string
		queue   []*pending
		durable uint64
		want    int
	}{
		{"empty", nil, 9, 0},
		{"nothing durable", q(5, false), 4, 0},
		{"single writes", q(5, false, 6, false, 7, false), 6, 2},
		{"whole batch", q(5, true, 6, true, 7, false), 7, 3},
		{"batch end not durable", q(5, false, 6, true, 7, false), 6, 1},
		{"batch end not queued", q(5, true, 6, true), 9, 0},
		{"whole write then half", q(4, false, 5, true, 6, true), 9, 1},
	} {
		if got := wholeDurable(tc.queue, tc.durable); got != tc.want {
			t.Errorf("%s: wholeDurable = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestOpenReportsAcceptedLoss(t *testing.T) {
	dir := t.TempDir()
	o := testOpts()
	o.WAL.SegmentSize = 1024
	e, _ := openT(t, dir, o)
	for i := uint64(1); i <= 40; i++ {
		if _, err := e.Write([]store.Op{put(i, "c")}); err != nil {
			t.Fatal(err)
		}
	}
	_ = e.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "wal", "*.wal"))
	if len(segs) < 2 {
		t.Fatalf("%d segments", len(segs))
	}
	if err := os.Remove(segs[len(segs)-1]); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(dir, o); !errors.Is(err, wal.ErrLost) {
		t.Fatalf("open with the newest segment gone: %v", err)
	}
	o.WAL.AcceptLoss = true
	e, rec := openT(t, dir, o)
	defer func() { _ = e.Close() }()
	if rec.Lost == 0 || rec.LastSeq+rec.Lost != 40 {
		t.Fatalf("recovery %+v: want Lost + LastSeq = 40", rec)
	}
}

// TestReplicatedShowBeforeDurable: Show makes a replicated write visible
// while the local log has not synced it yet (the leader has), without
// counting it durable, leaves a write whose end has not arrived unapplied,
// and a checkpoint of that state waits for the log before it publishes.
func TestReplicatedShowBeforeDurable(t *testing.T) {
	var hold atomic.Bool
	release := make(chan struct{})
	opts := testOpts()
	opts.WAL.OnSync = func(int, int, time.Duration) {
		if hold.Load() {
			<-release // the flusher, inside a group commit, before it publishes
		}
	}
	e, _ := openT(t, t.TempDir(), opts)
	defer func() { _ = e.Close() }()
	if err := e.ApplyReplicated([]wal.Record{leaderRecord(1, put(1, "a"), false)}); err != nil {
		t.Fatal(err)
	}
	hold.Store(true)
	var once sync.Once
	unblock := func() { once.Do(func() { hold.Store(false); close(release) }) }
	defer unblock() // before Close, which waits for the flusher
	second, err := e.BeginReplicated([]wal.Record{leaderRecord(2, put(2, "b"), false)})
	if err != nil {
		t.Fatal(err)
	}
	second.Show()
	split, err := e.BeginReplicated([]wal.Record{leaderRecord(3, put(3, "c"), true)})
	if err != nil {
		t.Fatal(err)
	}
	split.Show()
	if _, ok := e.Store().Get(cid(2)); !ok || e.AppliedSeq() != 2 || e.DurableSeq() != 1 {
		t.Fatalf("after Show: concept 2 visible %v, applied %d, durable %d; want visible, 2, 1", ok, e.AppliedSeq(), e.DurableSeq())
	}
	if _, ok := e.Store().Get(cid(3)); ok {
		t.Fatal("Show applied the first half of a write")
	}
	ckpt := make(chan uint64, 1)
	go func() {
		info, err := e.Checkpoint()
		if err != nil {
			t.Errorf("checkpoint: %v", err)
		}
		ckpt <- info.Seq
	}()
	select {
	case seq := <-ckpt:
		t.Fatalf("a snapshot at %d was published with the log durable to %d", seq, e.DurableSeq())
	case <-time.After(100 * time.Millisecond):
	}
	unblock()
	if err := second.Wait(); err != nil {
		t.Fatal(err)
	}
	if seq := <-ckpt; seq != 2 || e.DurableSeq() < 2 {
		t.Fatalf("snapshot at %d, durable %d; want 2", seq, e.DurableSeq())
	}
}
