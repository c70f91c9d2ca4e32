package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sutra/sutra-operator/internal/engine"
	"github.com/sutra/sutra-operator/internal/history"
	"github.com/sutra/sutra-operator/internal/store"
	"github.com/sutra/sutra-operator/internal/wal"
)

// memStream connects a Follower to a Leader in process: frames go through a
// channel, acks through another. Cutting ctx partitions them.
type memStream struct {
	frames chan *Frame
	acks   chan Ack
	errc   chan error
	cancel context.CancelFunc
}

func (m *memStream) Recv() (*Frame, error) {
	select {
	case f := <-m.frames:
		return f, nil
	case err := <-m.errc:
		return nil, err
	}
}

func (m *memStream) Ack(a Ack) error {
	if a.Mismatch.Seq != 0 { // as the gRPC adapter: never dropped
		m.acks <- a
		return nil
	}
	select {
	case m.acks <- a:
	default: // acks are progress reports; dropping one is harmless
	}
	return nil
}

func (m *memStream) Close() error { m.cancel(); return nil }

func memDialer(ctx context.Context, l *Leader) Dialer {
	return func(_ context.Context, start Start) (Stream, error) {
		sctx, cancel := context.WithCancel(ctx)
		m := &memStream{frames: make(chan *Frame, 4), acks: make(chan Ack, 16), errc: make(chan error, 1), cancel: cancel}
		if err := l.check(start); err != nil {
			cancel()
			return nil, err
		}
		go func() {
			err := l.Serve(sctx, start, func(f *Frame) error {
				select {
				case m.frames <- keep(f):
					return nil
				case <-sctx.Done():
					return sctx.Err()
				}
			}, m.acks)
			if err == nil {
				err = io.EOF
			}
			m.errc <- err
		}()
		return m, nil
	}
}

// keep copies a frame that a test transport queues: the leader reuses a
// frame and its slices once its Sender returns.
func keep(f *Frame) *Frame {
	c := *f
	c.Entries = make([]wal.Record, len(f.Entries))
	for i, r := range f.Entries {
		r.Data = bytes.Clone(r.Data)
		c.Entries[i] = r
	}
	if f.Snapshot != nil {
		ch := *f.Snapshot
		ch.Data = bytes.Clone(ch.Data)
		c.Snapshot = &ch
	}
	return &c
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openEngine(t *testing.T, o engine.Options) *engine.Engine {
	t.Helper()
	o.WAL = wal.Options{SegmentSize: 8 << 10, NoSync: true, SyncFault: o.WAL.SyncFault}
	o.Logger = quiet()
	o.CheckpointBytes = -1
	e, _, err := engine.Open(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// openLeaderEngine opens an engine that leads in epoch.
func openLeaderEngine(t *testing.T, epoch uint64, o engine.Options) *engine.Engine {
	t.Helper()
	e := openEngine(t, o)
	if err := e.BeginEpoch(epoch); err != nil {
		t.Fatal(err)
	}
	return e
}

func putOp(n uint64) store.Op {
	return store.Op{Type: store.OpWriteConcept, Concept: store.Concept{ID: conceptID(n), Content: []byte("replicated content"), Strength: 1, Confidence: 1}}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStreamCatchupTailAndSnapshot(t *testing.T) {
	var leader *Leader
	le := openLeaderEngine(t, 1, engine.Options{OnQueued: func(s uint64, at time.Time) { leader.Committed(s, at) }})
	leader = NewLeader(le, LeaderOptions{NodeID: "leader", ClusterID: "c1", Epoch: 1, Logger: quiet(), MaxBatchBytes: 4096})
	for i := uint64(1); i <= 500; i++ {
		if _, err := le.Write([]store.Op{putOp(i)}); err != nil {
			t.Fatal(err)
		}
		if i == 250 {
			// With one snapshot the log is kept whole (recovery's fallback
			// is the empty store); the checkpoint below truncates up to this one.
			if _, err := le.Checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// A replica joining late catches up from the retained segments.
	r1 := openEngine(t, engine.Options{})
	f1 := NewFollower(r1, memDialer(ctx, leader), FollowerOptions{NodeID: "r1", ClusterID: "c1", Logger: quiet()})
	go f1.Run(ctx)
	waitFor(t, "r1 catch-up", func() bool { return r1.AppliedSeq() == 500 })

	// The log is truncated past what a new replica needs: it gets a snapshot.
	if _, err := le.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if le.Log().FirstSeq() <= 1 {
		t.Fatalf("checkpoint kept the whole log (first %d)", le.Log().FirstSeq())
	}
	r2 := openEngine(t, engine.Options{})
	f2 := NewFollower(r2, memDialer(ctx, leader), FollowerOptions{NodeID: "r2", ClusterID: "c1", Logger: quiet()})
	go f2.Run(ctx)
	for i := uint64(501); i <= 700; i++ {
		if _, err := le.Write([]store.Op{putOp(i)}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "both replicas at 700", func() bool { return r1.AppliedSeq() == 700 && r2.AppliedSeq() == 700 })
	if f2.Status().Snapshots != 1 {
		t.Fatalf("r2 did not catch up from a snapshot: %+v", f2.Status())
	}
	want := le.Store().Digest()
	if r1.Store().Digest() != want || r2.Store().Digest() != want {
		t.Fatal("replica state differs from the leader")
	}
	waitFor(t, "status", func() bool {
		st := leader.Status()
		return len(st.Replicas) == 2 && st.Replicas[0].Applied == 700 && st.Replicas[1].Applied == 700 &&
			st.Replicas[0].Healthy && st.Replicas[1].Healthy && st.Replicas[1].SnapshotsSent == 1
	})
}

func TestLeaderRejectsBadStarts(t *testing.T) {
	le := openLeaderEngine(t, 2, engine.Options{})
	l := NewLeader(le, LeaderOptions{ClusterID: "c1", Epoch: 2, Logger: quiet()})
	if _, err := le.Write([]store.Op{putOp(1)}); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		s    Start
		want error
	}{
		"other cluster": {Start{ReplicaID: "r", ClusterID: "c2", StartSeq: 1}, ErrClusterMismatch},
		"beyond end":    {Start{ReplicaID: "r", ClusterID: "c1", StartSeq: 5, History: le.History()}, ErrDiverged},
		"other history": {Start{ReplicaID: "r", ClusterID: "c1", StartSeq: 2, History: history.History{{Epoch: 2, Start: 1, ID: 1}}}, ErrDiverged},
		"newer epoch":   {Start{ReplicaID: "r", ClusterID: "c1", StartSeq: 1, Epoch: 3}, ErrStaleEpoch},
		"no id":         {Start{ClusterID: "c1", StartSeq: 1}, ErrBadRequest},
	} {
		err := l.Serve(context.Background(), c.s, func(*Frame) error { return nil }, nil)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", name, err, c.want)
		}
	}
}

func TestLagSampler(t *testing.T) {
	s := newLagSampler(4)
	base := time.Unix(1000, 0)
	for i := 0; i < 6; i++ {
		s.record(uint64(10*(i+1)), base.Add(time.Duration(i)*10*time.Millisecond))
	}
	now := base.Add(100 * time.Millisecond)
	// Samples kept: 30@20ms 40@30ms 50@40ms 60@50ms.
	for _, c := range []struct {
		applied uint64
		want    uint64
	}{{60, 0}, {55, 50}, {45, 60}, {35, 70}, {5, 80}} {
		if got := s.lagMs(c.applied, 60, now); got != c.want {
			t.Errorf("applied %d: lag %d ms, want %d", c.applied, got, c.want)
		}
	}
}

// A heartbeat is answered but never moves the replica's epoch: a stray one
// with a higher epoch must not make it refuse its real leader.
func TestFollowerRefusesStaleEpochs(t *testing.T) {
	e := openLeaderEngine(t, 3, engine.Options{})
	f := NewFollower(e, nil, FollowerOptions{NodeID: "r", ClusterID: "c1", Logger: quiet()})
	if _, err := f.Heartbeat(Heartbeat{ClusterID: "c1", Epoch: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Heartbeat(Heartbeat{ClusterID: "c1", Epoch: 2}); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("heartbeat from an older epoch: %v", err)
	}
	if _, err := f.Heartbeat(Heartbeat{ClusterID: "other", Epoch: 3}); !errors.Is(err, ErrClusterMismatch) {
		t.Fatalf("heartbeat from another cluster: %v", err)
	}
	if r, err := f.Heartbeat(Heartbeat{ClusterID: "c1", Epoch: 99}); err != nil || r.ReplicaID != "r" {
		t.Fatalf("newer epoch: %+v %v", r, err)
	}
	if _, err := f.Heartbeat(Heartbeat{ClusterID: "c1", Epoch: 3}); err != nil {
		t.Fatalf("a stray epoch-99 heartbeat made the replica refuse its epoch-3 leader: %v", err)
	}
	if got := f.Status().MinEpoch; got != 3 {
		t.Fatalf("epoch after heartbeats = %d, want 3", got)
	}
}

// The leader reports each replica's replay lag: from when an entry was
// written to the ack that says the replica applied it, on the leader's
// clock. The first ack of a stream only sets the baseline.
func TestLeaderReportsReplayLag(t *testing.T) {
	var written, now atomic.Int64 // engine and leader clocks, Unix nanoseconds
	written.Store(1000e9)
	now.Store(1000e9)
	type obs struct {
		replica string
		lag     time.Duration
	}
	seen := make(chan obs, 16)
	var leader *Leader
	le := openLeaderEngine(t, 1, engine.Options{Clock: func() time.Time { return time.Unix(0, written.Load()) },
		OnQueued: func(s uint64, at time.Time) { leader.Committed(s, at) }})
	leader = NewLeader(le, LeaderOptions{NodeID: "leader", ClusterID: "c1", Epoch: 1, Logger: quiet(),
		Clock:      func() time.Time { return time.Unix(0, now.Load()) },
		OnReplayed: func(r string, lag time.Duration) { seen <- obs{r, lag} }})
	for i := uint64(1); i <= 10; i++ {
		if _, err := le.Write([]store.Op{putOp(i)}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := openEngine(t, engine.Options{})
	go NewFollower(r, memDialer(ctx, leader), FollowerOptions{NodeID: "r1", ClusterID: "c1", Logger: quiet()}).Run(ctx)
	waitFor(t, "catch-up acked", func() bool {
		st := leader.Status()
		return len(st.Replicas) == 1 && st.Replicas[0].Applied == 10
	})
	select {
	case o := <-seen:
		t.Fatalf("the first ack of a stream was reported as replay lag: %+v", o)
	default:
	}
	written.Store(2000e9)
	now.Store(2000e9 + 250e6)
	if _, err := le.Write([]store.Op{putOp(11)}); err != nil {
		t.Fatal(err)
	}
	select {
	case o := <-seen:
		// Less the real time the replica held its ack after applying
		// entry 11 (its fsync, and up to the stream's ack delay).
		if o.replica != "r1" || o.lag > 250*time.Millisecond || o.lag < 250*time.Millisecond-time.Second {
			t.Fatalf("replay lag %+v, want r1 250ms less the ack's hold", o)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no replay lag reported for entry 11")
	}
}

// Replicas prove their state equal to the leader's at every checkpoint. A
// replica whose store changed behind its log's back (a bug, memory
// corruption) is caught at the next one: reported by both ends with both
// digests, and it stops applying.
func TestReplicaStateVerifiedAtCheckpoints(t *testing.T) {
	var leader *Leader
	le := openLeaderEngine(t, 1, engine.Options{VerifyEvery: 50, OnQueued: func(s uint64, at time.Time) { leader.Committed(s, at) }})
	leader = NewLeader(le, LeaderOptions{NodeID: "leader", ClusterID: "c1", Epoch: 1, Logger: quiet(), KeepaliveInterval: 20 * time.Millisecond})
	write := func(from, to uint64) {
		for i := from; i <= to; i++ {
			if _, err := le.Write([]store.Op{putOp(i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(1, 120)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r1 := openEngine(t, engine.Options{VerifyEvery: 50})
	f1 := NewFollower(r1, memDialer(ctx, leader), FollowerOptions{NodeID: "r1", ClusterID: "c1", Logger: quiet()})
	go f1.Run(ctx)
	waitFor(t, "checkpoint 100 verified on both ends", func() bool {
		st := leader.Status()
		return len(st.Replicas) == 1 && st.Replicas[0].Verified == 100 && f1.Status().Verified == 100 && r1.AppliedSeq() == 120
	})

	// Behind the log's back: the replica's store takes a write the log
	// never had, and then skips the leader's record 121 as out of order.
	if err := r1.Store().Apply(121, putOp(1_000_000)); err != nil {
		t.Fatal(err)
	}
	write(121, 200)
	waitFor(t, "the leader to show r1 diverged", func() bool {
		return leader.Status().Replicas[0].State == StateDiverged
	})
	row := leader.Status().Replicas[0]
	// The first checkpoint after the change that the stream carried: 150,
	// or 200 if the leader was already past it.
	var at uint64
	if _, err := fmt.Sscanf(row.LastError[strings.Index(row.LastError, "after sequence"):], "after sequence %d", &at); err != nil || (at != 150 && at != 200) {
		t.Fatalf("leader's report %q: want a mismatch after sequence 150 or 200", row.LastError)
	}
	ours, _ := le.DigestAt(at)
	theirs, _ := r1.DigestAt(at)
	if ours == theirs || !strings.Contains(row.LastError, ours.String()) || !strings.Contains(row.LastError, theirs.String()) {
		t.Fatalf("leader's report %q does not name both digests (%s, %s)", row.LastError, ours, theirs)
	}
	st := f1.Status()
	if !st.Diverged || st.Fork != 100 || st.Verified != 100 {
		t.Fatalf("replica status %+v: want diverged, last verified 100", st)
	}
	applied := r1.AppliedSeq()
	write(201, 260)
	time.Sleep(200 * time.Millisecond)
	if r1.AppliedSeq() != applied {
		t.Fatalf("a replica whose state diverged went on applying: %d -> %d", applied, r1.AppliedSeq())
	}
}

// A heartbeat failure shows in the table's LastError only until the
// replica is heard from again with its stream up.
func TestHeartbeatErrorClearedOnRecovery(t *testing.T) {
	le := openLeaderEngine(t, 1, engine.Options{})
	leader := NewLeader(le, LeaderOptions{NodeID: "leader", ClusterID: "c1", Epoch: 1, Logger: quiet(),
		HeartbeatInterval: 10 * time.Millisecond, KeepaliveInterval: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r1 := openEngine(t, engine.Options{})
	f1 := NewFollower(r1, memDialer(ctx, leader), FollowerOptions{NodeID: "r1", ClusterID: "c1", Address: "r1:7000", Logger: quiet()})
	go f1.Run(ctx)
	var failing atomic.Bool
	failing.Store(true)
	go leader.RunHeartbeats(ctx, func(_ context.Context, _ string, hb Heartbeat) (HeartbeatReply, error) {
		if failing.Load() {
			return HeartbeatReply{}, errors.New("connection refused")
		}
		return f1.Heartbeat(hb)
	})
	row := func() ReplicaStatus {
		st := leader.Status()
		if len(st.Replicas) != 1 {
			return ReplicaStatus{}
		}
		return st.Replicas[0]
	}
	waitFor(t, "heartbeat error in the table", func() bool {
		return row().State == StateStreaming && row().LastError == "heartbeat: connection refused"
	})
	failing.Store(false)
	waitFor(t, "heartbeat error cleared", func() bool { r := row(); return r.LastError == "" && r.Healthy })
}

// A follower whose stream ended says so at once, not when the session has
// wound down.
func TestFollowerDisconnectedWhenStreamEnds(t *testing.T) {
	le := openLeaderEngine(t, 1, engine.Options{})
	leader := NewLeader(le, LeaderOptions{NodeID: "leader", ClusterID: "c1", Epoch: 1, Logger: quiet(), KeepaliveInterval: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r1 := openEngine(t, engine.Options{})
	ended := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	dial := memDialer(ctx, leader)
	var dials atomic.Int32
	f1 := NewFollower(r1, func(ctx context.Context, s Start) (Stream, error) {
		if dials.Add(1) > 1 {
			<-release
			return nil, errors.New("leader gone")
		}
		st, err := dial(ctx, s)
		if err != nil {
			return nil, err
		}
		return &endingStream{Stream: st, ended: ended, release: release}, nil
	}, FollowerOptions{NodeID: "r1", ClusterID: "c1", Logger: quiet()})
	go f1.Run(ctx)
	waitFor(t, "r1 connected", func() bool { return f1.Status().Connected })
	leader.Stop()
	<-ended
	waitFor(t, "r1 to report the stream ended", func() bool { return !f1.Status().Connected })
	if hb, _ := f1.Heartbeat(Heartbeat{ClusterID: "c1", Epoch: 1}); hb.Healthy {
		t.Fatal("heartbeat reply says healthy after the stream ended")
	}
}

// endingStream reports when Recv fails and holds Close until released, as
// a session whose stream has ended but that is still winding down.
type endingStream struct {
	Stream
	ended   chan struct{}
	release chan struct{}
	once    sync.Once
}

func (e *endingStream) Recv() (*Frame, error) {
	f, err := e.Stream.Recv()
	if err != nil {
		e.once.Do(func() { close(e.ended) })
	}
	return f, err
}

func (e *endingStream) Close() error {
	<-e.release
	return e.Stream.Close()
}

// An asynchronous leader lets replicas hold acks for its AckDelay: one
// write at a time then costs the leader one ack per delay, not one per
// write, and the table still reaches the last write within the delay.
func TestAsyncReplicasHoldAcks(t *testing.T) {
	for _, c := range []struct {
		name  string
		delay time.Duration
	}{{"held for 100ms", 100 * time.Millisecond}, {"at once", -1}} {
		t.Run(c.name, func(t *testing.T) {
			var leader *Leader
			var acks atomic.Int64
			le := openLeaderEngine(t, 1, engine.Options{OnQueued: func(s uint64, at time.Time) { leader.Committed(s, at) }})
			leader = NewLeader(le, LeaderOptions{NodeID: "leader", ClusterID: "c1", Epoch: 1, Logger: quiet(), AckDelay: c.delay,
				OnReplayed: func(string, time.Duration) { acks.Add(1) }})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go NewFollower(openEngine(t, engine.Options{}), memDialer(ctx, leader), FollowerOptions{NodeID: "r1", ClusterID: "c1", Logger: quiet()}).Run(ctx)
			waitFor(t, "the stream", func() bool {
				st := leader.Status()
				return len(st.Replicas) == 1 && st.Replicas[0].State == StateStreaming
			})
			start := time.Now()
			const writes = 60
			for i := uint64(1); i <= writes; i++ {
				if _, err := le.Write([]store.Op{putOp(i)}); err != nil {
					t.Fatal(err)
				}
				time.Sleep(5 * time.Millisecond)
			}
			waitFor(t, "the last write in the table", func() bool { return leader.Status().Replicas[0].Durable == writes })
			elapsed, n := time.Since(start), acks.Load()
			t.Logf("%d writes over %v: %d acks advanced the replica", writes, elapsed.Round(time.Millisecond), n)
			if c.delay > 0 {
				if most := int64(elapsed/c.delay) + 2; n > most {
					t.Fatalf("%d acks in %v, at most %d with a %v delay", n, elapsed, most, c.delay)
				}
			} else if n < writes/2 {
				t.Fatalf("%d acks for %d writes %v apart with no delay", n, writes, 5*time.Millisecond)
			}
		})
	}
}
