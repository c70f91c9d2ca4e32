package replication

import (
	"context"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sutra/sutra-operator/internal/engine"
	"github.com/sutra/sutra-operator/internal/store"
	"github.com/sutra/sutra-operator/internal/wal"
)

// A replica whose disk stalls still applies what it receives: the leader's
// table shows it applied (its readers see the writes) and not durable,
// with a flush lag that grows while its replay lag stays 0. Once the disk
// is back, every write the leader acknowledged is durable on the replica
// and the states agree.
func TestStalledReplicaDiskIsReportedApartFromApply(t *testing.T) {
	var leader *Leader
	le := openLeaderEngine(t, 1, engine.Options{OnQueued: func(s uint64, at time.Time) { leader.Committed(s, at) }})
	flushed := make(chan time.Duration, 64)
	leader = NewLeader(le, LeaderOptions{NodeID: "leader", ClusterID: "c1", Epoch: 1, Logger: quiet(),
		OnFlushed: func(_ string, lag time.Duration) { flushed <- lag }})
	var stalled atomic.Bool
	release := make(chan struct{})
	r := openEngine(t, engine.Options{WAL: wal.Options{SyncFault: func() error {
		if stalled.Load() {
			<-release
		}
		return nil
	}}})
	// A failing check must not leave the replica's log stuck in a sync.
	var once sync.Once
	unstall := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unstall)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go NewFollower(r, memDialer(ctx, leader), FollowerOptions{NodeID: "r1", ClusterID: "c1", Logger: quiet()}).Run(ctx)

	type ack struct{ concept, seq uint64 }
	var acked []ack // the ledger: every write the leader acknowledged
	write := func(from, to uint64) uint64 {
		for i := from; i <= to; i++ {
			res, err := le.Write([]store.Op{putOp(i)})
			if err != nil {
				t.Fatal(err)
			}
			acked = append(acked, ack{i, res.Last})
		}
		return acked[len(acked)-1].seq
	}
	row := func() ReplicaStatus {
		st := leader.Status()
		if len(st.Replicas) != 1 {
			return ReplicaStatus{}
		}
		return st.Replicas[0]
	}
	before := write(1, 10)
	waitFor(t, "r1 durable", func() bool { r := row(); return r.Sent == before && r.Applied == before && r.Durable == before })
	drainLags(flushed)

	stalled.Store(true)
	last := write(11, 20)
	waitFor(t, "r1 applied everything with its disk stalled", func() bool {
		r := row()
		return r.Sent == last && r.Applied == last && r.Durable == before
	})
	time.Sleep(60 * time.Millisecond)
	got := row()
	if got.LagMs != 0 || got.FlushLagMs < 50 || got.Durable != before {
		t.Fatalf("stalled disk: applied %d durable %d, lag %d ms, flush lag %d ms; want applied %d, durable %d, lag 0 and flush lag >= 50 ms",
			got.Applied, got.Durable, got.LagMs, got.FlushLagMs, last, before)
	}
	if _, ok := r.Store().Get(conceptID(20)); !ok {
		t.Fatal("a reader of the stalled replica does not see write 20")
	}

	unstall()
	waitFor(t, "r1 durable again", func() bool { r := row(); return r.Durable == last && r.FlushLagMs == 0 })
	var longest time.Duration
	for _, lag := range drainLags(flushed) {
		longest = max(longest, lag)
	}
	if longest < 50*time.Millisecond {
		t.Fatalf("flush lag observed after the stall at most %v, want >= 50ms", longest)
	}
	lost := 0
	for _, a := range acked {
		if _, ok := r.Store().Get(conceptID(a.concept)); !ok || a.seq > r.DurableSeq() {
			lost++
		}
	}
	t.Logf("acknowledged %d, lost on the replica %d, longest flush lag %v", len(acked), lost, longest)
	if lost != 0 || r.Store().Digest() != le.Store().Digest() {
		t.Fatalf("lost %d of %d acknowledged writes on the replica, digests equal %t", lost, len(acked), r.Store().Digest() == le.Store().Digest())
	}
}

// The lags a leader observes from acks leave out how long the replica held
// each ack: replay lag counts to when it applied the entry, flush lag to
// when its log made the entry durable.
func TestLagsLeaveOutTheAcksHold(t *testing.T) {
	start := time.Unix(2000, 0)
	now := start.Add(-time.Minute) // when the leader starts
	var replays, flushes []time.Duration
	l := NewLeader(openLeaderEngine(t, 1, engine.Options{}), LeaderOptions{NodeID: "leader", ClusterID: "c1", Epoch: 1,
		Logger: quiet(), Clock: func() time.Time { return now },
		OnReplayed: func(_ string, lag time.Duration) { replays = append(replays, lag) },
		OnFlushed:  func(_ string, lag time.Duration) { flushes = append(flushes, lag) }})
	now = start
	l.Committed(10, now.Add(-time.Second))
	l.Committed(11, now.Add(-100*time.Millisecond))
	acks := make(chan Ack, 4)
	acks <- Ack{Applied: 10, Durable: 10} // the stream's baseline
	// Applied 30 ms before it was sent, not yet durable.
	acks <- Ack{Applied: 11, Durable: 10, Held: 30 * time.Millisecond}
	// Made durable 10 ms before it was sent.
	acks <- Ack{Applied: 11, Durable: 11, Held: 30 * time.Millisecond, DurableHeld: 10 * time.Millisecond}
	close(acks)
	l.consumeAcks(context.Background(), "r1", &liveStream{}, acks, func(error) {})
	if len(replays) != 1 || replays[0] != 70*time.Millisecond {
		t.Fatalf("replay lags %v, want [70ms]: written 100 ms before the ack, applied 30 ms before it", replays)
	}
	if len(flushes) != 1 || flushes[0] != 90*time.Millisecond {
		t.Fatalf("flush lags %v, want [90ms]: written 100 ms before the ack, durable 10 ms before it", flushes)
	}
}

func conceptID(n uint64) store.ConceptID {
	var id store.ConceptID
	binary.BigEndian.PutUint64(id[8:], n)
	return id
}

func drainLags(ch chan time.Duration) []time.Duration {
	var out []time.Duration
	for {
		select {
		case d := <-ch:
			out = append(out, d)
		default:
			return out
		}
	}
}
