package replication

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sutra/sutra-operator/internal/pb/replicationpb"
	"github.com/sutra/sutra-operator/internal/pb/storagepb"
)

func TestOneLeaderOneReplica(t *testing.T) {
	leader := startLeader(t, "leader")
	r1 := startReplica(t, "r1", leader.addr)
	w := newWriter(1)
	if n := w.write(leader, 2000, 16); n != 2000 {
		t.Fatalf("only %d of 2000 writes acknowledged", n)
	}
	converged(t, leader, r1)
	w.checkAcked(t, r1)
	eventually(t, 10*time.Second, "status row", func() error {
		st := leader.status()
		if len(st.GetReplicas()) != 1 || st.GetReplicas()[0].GetId() != "r1" || !st.GetReplicas()[0].GetHealthy() ||
			st.GetReplicas()[0].GetLastAppliedSequence() != st.GetLeaderSequence() {
			return errors.New(st.String())
		}
		return nil
	})
}

func TestThreeReplicasAndLateJoiner(t *testing.T) {
	leader := startLeader(t, "leader")
	r1 := startReplica(t, "r1", leader.addr)
	r2 := startReplica(t, "r2", leader.addr)
	w := newWriter(2)
	w.write(leader, 1500, 16)
	// A replica that joins late catches up from the retained log.
	r3 := startReplica(t, "r3", leader.addr)
	w.write(leader, 500, 16)
	converged(t, leader, r1, r2, r3)
	w.checkAcked(t, r3)
	if st := r3.status(); st.GetFirstRetainedSequence() != 1 {
		t.Fatalf("late joiner should have streamed the whole log, its log starts at %d", st.GetFirstRetainedSequence())
	}
}

func TestReplicaBehindTruncatedLogGetsSnapshot(t *testing.T) {
	leader := startLeader(t, "leader", "--wal-segment-bytes", "16384", "--checkpoint-bytes", "65536", "--wal-retention-bytes", "32768")
	w := newWriter(3)
	w.write(leader, 3000, 16)
	// The first checkpoint keeps the whole log (with one snapshot, recovery's
	// fallback is the empty store); a later one truncates it. Keep writing
	// until one has.
	eventually(t, 20*time.Second, "leader to truncate its log", func() error {
		if first := leader.status().GetFirstRetainedSequence(); first <= 1 {
			w.write(leader, 200, 8)
			return errors.New("log not truncated yet")
		}
		return nil
	})
	r1 := startReplica(t, "r1", leader.addr)
	w.write(leader, 200, 8)
	converged(t, leader, r1)
	w.checkAcked(t, r1)
	if first := r1.status().GetFirstRetainedSequence(); first <= 1 {
		t.Fatalf("replica log starts at %d: it streamed instead of installing a snapshot", first)
	}
}

func TestKillReplicaDuringLoad(t *testing.T) {
	leader := startLeader(t, "leader")
	r1 := startReplica(t, "r1", leader.addr)
	r2 := startReplica(t, "r2", leader.addr)
	w := newWriter(4)
	stop := make(chan struct{})
	done := w.background(leader, 8, stop)
	time.Sleep(500 * time.Millisecond)
	r1.kill()
	time.Sleep(700 * time.Millisecond)
	r1.start()
	time.Sleep(500 * time.Millisecond)
	close(stop)
	<-done
	converged(t, leader, r1, r2)
	w.checkAcked(t, r1)
	w.checkAcked(t, r2)
}

func TestKillLeaderDuringLoad(t *testing.T) {
	leader := startLeader(t, "leader")
	r1 := startReplica(t, "r1", leader.addr)
	r2 := startReplica(t, "r2", leader.addr)
	w := newWriter(5)
	stop := make(chan struct{})
	done := w.background(leader, 16, stop)
	time.Sleep(700 * time.Millisecond)
	leader.kill()
	// While the leader is down, replicas still serve reads and never hold
	// more than the leader had acknowledged on disk.
	time.Sleep(300 * time.Millisecond)
	leader.start()
	time.Sleep(700 * time.Millisecond)
	close(stop)
	<-done
	t.Logf("%d writes acknowledged across the leader restart", len(w.acked))
	w.checkAcked(t, leader) // no acknowledged write lost by the leader
	converged(t, leader, r1, r2)
	w.checkAcked(t, r1)
	w.checkAcked(t, r2)
}

func TestPartitionAndHeal(t *testing.T) {
	leader := startLeader(t, "leader")
	p := newProxy(t, leader.addr)
	r1 := startReplica(t, "r1", p.addr())
	r2 := startReplica(t, "r2", leader.addr)
	w := newWriter(6)
	w.write(leader, 500, 8)
	converged(t, leader, r1, r2)
	p.partition()
	w.write(leader, 1000, 8)
	eventually(t, 15*time.Second, "leader to report r1 unhealthy", func() error {
		for _, r := range leader.status().GetReplicas() {
			if r.GetId() == "r1" && !r.GetHealthy() && r.GetLagEntries() > 0 {
				return nil
			}
		}
		return errors.New("r1 still reported healthy")
	})
	converged(t, leader, r2) // the other replica is unaffected
	p.heal()
	w.write(leader, 200, 8)
	converged(t, leader, r1, r2)
	w.checkAcked(t, r1)
	eventually(t, 15*time.Second, "r1 healthy again", func() error {
		for _, r := range leader.status().GetReplicas() {
			if r.GetId() == "r1" && r.GetHealthy() && r.GetReconnects() > 0 {
				return nil
			}
		}
		return errors.New("r1 not healthy after heal")
	})
}

func TestThrottledReplicaDoesNotSlowOthers(t *testing.T) {
	leader := startLeader(t, "leader")
	p := newProxy(t, leader.addr)
	slow := startReplica(t, "slow", p.addr())
	fast := startReplica(t, "fast", leader.addr)
	p.throttle(64 << 10) // 64 KiB/s
	w := newWriter(7)
	w.write(leader, 4000, 16) // about 600 KB of log
	converged(t, leader, fast)
	if s, _ := slow.stats(); s.GetAppliedSequence() >= 4000 {
		t.Fatalf("the throttled replica kept up (%d); the throttle is not working", s.GetAppliedSequence())
	}
	var slowRow *replicationpb.ReplicaInfo
	for _, r := range leader.status().GetReplicas() {
		if r.GetId() == "slow" {
			slowRow = r
		}
	}
	if slowRow == nil || slowRow.GetLagEntries() == 0 || slowRow.GetLagMs() == 0 {
		t.Fatalf("leader does not report the slow replica's lag: %v", slowRow)
	}
	// What the leader sent is held up on the wire: sent runs ahead of
	// applied, which runs ahead of durable or meets it.
	if r := slowRow; r.GetSentSequence() <= r.GetLastAppliedSequence() || r.GetDurableSequence() > r.GetLastAppliedSequence() ||
		r.GetFlushLagMs() < r.GetLagMs() {
		t.Fatalf("slow replica's positions: sent %d, applied %d, durable %d, lag %d ms, flush lag %d ms",
			r.GetSentSequence(), r.GetLastAppliedSequence(), r.GetDurableSequence(), r.GetLagMs(), r.GetFlushLagMs())
	}
	p.throttle(0)
	converged(t, leader, slow, fast)
	eventually(t, 10*time.Second, "every replica's positions at the leader's", func() error {
		st := leader.status()
		for _, r := range st.GetReplicas() {
			seq := st.GetLeaderSequence()
			if r.GetSentSequence() != seq || r.GetLastAppliedSequence() != seq || r.GetDurableSequence() != seq ||
				r.GetLagMs() != 0 || r.GetFlushLagMs() != 0 {
				return fmt.Errorf("%s: leader %d, sent %d, applied %d, durable %d, lag %d ms, flush lag %d ms", r.GetId(), seq,
					r.GetSentSequence(), r.GetLastAppliedSequence(), r.GetDurableSequence(), r.GetLagMs(), r.GetFlushLagMs())
			}
		}
		return nil
	})
	w.checkAcked(t, slow)
	w.checkAcked(t, fast)
}

func TestBadInput(t *testing.T) {
	leader := startLeader(t, "leader")
	r1 := startReplica(t, "r1", leader.addr)
	w := newWriter(8)
	w.write(leader, 100, 4)
	converged(t, leader, r1)
	before, _ := leader.stats()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	expect := func(name string, err error, code codes.Code, text string) {
		t.Helper()
		if status.Code(err) != code || !strings.Contains(status.Convert(err).Message(), text) {
			t.Errorf("%s: got %v, want %s containing %q", name, err, code, text)
		}
	}
	_, err := r1.store.WriteConcept(ctx, &storagepb.WriteConceptRequest{Concept: &storagepb.Concept{Id: conceptID(9, 1), Content: []byte("x")}})
	expect("write to replica", err, codes.FailedPrecondition, "leader="+leader.addr)
	_, err = leader.store.WriteConcept(ctx, &storagepb.WriteConceptRequest{Concept: &storagepb.Concept{Id: []byte("short"), Content: []byte("x")}})
	expect("15-byte id", err, codes.InvalidArgument, "concept.id")
	_, err = leader.store.WriteConcept(ctx, &storagepb.WriteConceptRequest{Concept: &storagepb.Concept{Id: conceptID(9, 2), Strength: float32(math.NaN())}})
	expect("NaN strength", err, codes.InvalidArgument, "strength")
	_, err = leader.store.WriteConcept(ctx, &storagepb.WriteConceptRequest{Concept: &storagepb.Concept{Id: conceptID(9, 3), Content: make([]byte, 2<<20)}})
	expect("content above the limit", err, codes.InvalidArgument, "too large")
	_, err = leader.store.WriteConcept(ctx, &storagepb.WriteConceptRequest{Concept: &storagepb.Concept{Id: conceptID(9, 4), Content: make([]byte, 20<<20)}})
	expect("oversized message", err, codes.ResourceExhausted, "")
	_, err = leader.store.BatchWrite(ctx, &storagepb.BatchWriteRequest{Ops: []*storagepb.WriteOp{
		{Op: &storagepb.WriteOp_WriteConcept{WriteConcept: &storagepb.Concept{Id: conceptID(9, 5)}}},
		{Op: &storagepb.WriteOp_WriteAssociation{WriteAssociation: &storagepb.Association{Source: conceptID(9, 5), Target: conceptID(9, 99)}}},
	}})
	expect("batch with a dangling association", err, codes.NotFound, "")
	_, err = leader.store.WriteAssociation(ctx, &storagepb.WriteAssociationRequest{})
	expect("empty association", err, codes.InvalidArgument, "association")

	streamErr := func(req *replicationpb.WalStreamRequest) error {
		s, err := leader.repl.StreamWal(ctx)
		if err != nil {
			return err
		}
		if err := s.Send(&replicationpb.ReplicaMessage{Kind: &replicationpb.ReplicaMessage_Start{Start: req}}); err != nil {
			return err
		}
		// A refused replica may get the leader's hello first.
		for range 2 {
			if _, err = s.Recv(); err != nil {
				return err
			}
		}
		return nil
	}
	last := before.GetAppliedSequence()
	expect("start beyond the end", streamErr(&replicationpb.WalStreamRequest{StartSequence: last + 10, ReplicaId: "x", ClusterId: "e2e"}), codes.FailedPrecondition, "diverged")
	expect("unknown cluster", streamErr(&replicationpb.WalStreamRequest{StartSequence: 1, ReplicaId: "x", ClusterId: "other"}), codes.FailedPrecondition, "cluster")
	expect("no replica id", streamErr(&replicationpb.WalStreamRequest{StartSequence: 1, ClusterId: "e2e"}), codes.InvalidArgument, "replica id")
	s, _ := leader.repl.StreamWal(ctx)
	_ = s.Send(&replicationpb.ReplicaMessage{Kind: &replicationpb.ReplicaMessage_Ack{Ack: &replicationpb.ReplicaAck{}}})
	_, err = s.Recv()
	expect("stream without start", err, codes.InvalidArgument, "start")
	_, err = r1.repl.Heartbeat(ctx, &replicationpb.HeartbeatRequest{LeaderId: "impostor", ClusterId: "other"})
	expect("heartbeat from another cluster", err, codes.FailedPrecondition, "cluster")

	after, _ := leader.stats()
	if after.GetAppliedSequence() != before.GetAppliedSequence() || after.GetDigest() != before.GetDigest() {
		t.Fatal("rejected requests changed the leader's state")
	}
	w.write(leader, 10, 2)
	converged(t, leader, r1)
	w.checkAcked(t, r1)
}
