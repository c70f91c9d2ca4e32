package node

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sutra/sutra-operator/internal/engine"
	"github.com/sutra/sutra-operator/internal/store"
	"github.com/sutra/sutra-operator/internal/wal"
)

// TestFenceWaitsForWritesInFlight: a write that passed the fence check
// before Fence was called is durable by the time Fence returns, so the
// durable sequence a switchover reads after fencing covers every write
// the old leader acknowledges. Otherwise the new leader may be promoted
// without that write and the old one rewinds it away on Follow: an
// acknowledged write lost.
func TestFenceWaitsForWritesInFlight(t *testing.T) {
	var hold atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	clock := func() time.Time {
		// The engine stamps a write after the fence check and before it
		// is queued: holding it here keeps the write in flight.
		if hold.CompareAndSwap(true, false) {
			close(entered)
			<-release
		}
		return time.Now()
	}
	ctx, r := leaderRoles(t, engine.Options{WAL: wal.Options{NoSync: true}, Clock: clock})

	concept := func(n byte) []store.Op {
		return []store.Op{{Type: store.OpWriteConcept, Concept: store.Concept{ID: store.ConceptID{n}, Content: []byte("x"), Strength: 1, Confidence: 1}}}
	}
	if _, err := write(ctx, r, concept(1)); err != nil {
		t.Fatal(err)
	}
	hold.Store(true)
	wrote := make(chan engine.Result, 1)
	go func() {
		res, err := write(ctx, r, concept(2))
		if err != nil {
			t.Errorf("the write in flight failed: %v", err)
		}
		wrote <- res
	}()
	<-entered
	fenced := fenceAsync(t, r)
	select {
	case d := <-fenced:
		close(release)
		res := <-wrote
		t.Fatalf("Fence returned (durable %d) while a write was in flight; that write was then acknowledged at %d", d, res.Last)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	res, durable := <-wrote, <-fenced
	if durable < res.Last {
		t.Fatalf("after Fence the durable sequence is %d, but the write in flight was acknowledged at %d", durable, res.Last)
	}
	if _, err := write(ctx, r, concept(3)); err == nil {
		t.Fatal("a fenced leader took a write")
	}
	t.Logf("the write in flight was acknowledged at %d; Fence reported durable %d", res.Last, durable)
}

// TestFenceWaitsForQueuedWritesToBeDurable: a write queued before Fence
// but not yet durable (its fsync is slow, and no one waits for it yet: a
// stream whose client is slow to take results) is durable by the time
// Fence returns.
func TestFenceWaitsForQueuedWritesToBeDurable(t *testing.T) {
	var hold atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	onSync := func(int, int, time.Duration) {
		if hold.CompareAndSwap(true, false) {
			close(entered)
			<-release // the group commit is written and not yet released
		}
	}
	ctx, r := leaderRoles(t, engine.Options{WAL: wal.Options{NoSync: true, OnSync: onSync}})
	hold.Store(true)
	wait, err := r.Begin(ctx, []store.Op{{Type: store.OpWriteConcept, Concept: store.Concept{ID: store.ConceptID{1}, Content: []byte("x"), Strength: 1, Confidence: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	<-entered
	fenced := fenceAsync(t, r)
	select {
	case d := <-fenced:
		close(release)
		t.Fatalf("Fence returned (durable %d) while a queued write was not durable", d)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	durable := <-fenced
	res, err := wait()
	if err != nil {
		t.Fatal(err)
	}
	if durable < res.Last {
		t.Fatalf("after Fence the durable sequence is %d, but the queued write was acknowledged at %d", durable, res.Last)
	}
}

// leaderRoles opens an engine with o in a test directory and runs a
// leader in epoch 1 on it.
func leaderRoles(t *testing.T, o engine.Options) (context.Context, *roles) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	o.Logger, o.WAL.Logger = log, log
	eng, _, err := engine.Open(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cfg := Config{NodeID: "a", ClusterID: "c", Advertise: "127.0.0.1:1", HeartbeatInterval: time.Second, LagThreshold: time.Second}
	r := newRoles(ctx, cfg, eng, log, lagObservers{}, nil)
	if err := eng.BeginEpoch(1); err != nil {
		t.Fatal(err)
	}
	r.cur.Store(r.startLeader())
	t.Cleanup(func() { r.cur.Load().stop() })
	return ctx, r
}

// fenceAsync fences r for epoch 1 on another goroutine; the channel gets
// the durable sequence r reports once Fence returned.
func fenceAsync(t *testing.T, r *roles) <-chan uint64 {
	fenced := make(chan uint64, 1)
	go func() {
		if err := r.Fence(1); err != nil {
			t.Errorf("fence: %v", err)
		}
		fenced <- r.Status().Durable
	}()
	return fenced
}

// write is r.Begin and its wait.
func write(ctx context.Context, r *roles, ops []store.Op) (engine.Result, error) {
	wait, err := r.Begin(ctx, ops)
	if err != nil {
		return engine.Result{}, err
	}
	return wait()
}

// TestFenceWithAFailingLog: a fence whose settle meets a failing log still
// returns; the write queued when the disk failed is refused to its client,
// never acknowledged; every write acknowledged before is durable at or
// below the sequence read after the fence; and later writes are refused.
func TestFenceWithAFailingLog(t *testing.T) {
	var fail atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	fault := func() error {
		if !fail.Load() {
			return nil
		}
		once.Do(func() { close(entered); <-release }) // the failing commit is under way
		return errors.New("injected disk failure")
	}
	ctx, r := leaderRoles(t, engine.Options{WAL: wal.Options{NoSync: true, SyncFault: fault}})
	concept := func(n byte) []store.Op {
		return []store.Op{{Type: store.OpWriteConcept, Concept: store.Concept{ID: store.ConceptID{n}, Content: []byte("x"), Strength: 1, Confidence: 1}}}
	}
	var acked []uint64 // the ledger: sequences acknowledged to a client
	for n := byte(1); n <= 5; n++ {
		res, err := write(ctx, r, concept(n))
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, res.Last)
	}
	fail.Store(true)
	wait, err := r.Begin(ctx, concept(6))
	if err != nil {
		t.Fatal(err)
	}
	<-entered
	fenced := fenceAsync(t, r)
	close(release)
	var durable uint64
	select {
	case durable = <-fenced:
	case <-time.After(10 * time.Second):
		t.Fatal("Fence did not return after the log failed")
	}
	if _, err := wait(); err == nil {
		t.Fatal("the write whose commit failed was acknowledged")
	}
	lost := 0
	for _, seq := range acked {
		if seq > durable {
			lost++
		}
	}
	t.Logf("%d of %d acknowledged writes above the durable sequence %d after the fence", lost, len(acked), durable)
	if lost != 0 {
		t.Fatalf("%d acknowledged writes are not durable after the fence", lost)
	}
	if _, err := write(ctx, r, concept(7)); err == nil {
		t.Fatal("a write after the fence on a failed log was acknowledged")
	}
}
