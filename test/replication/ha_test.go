package replication

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sutra/sutra-operator/internal/pb/adminpb"
	"github.com/sutra/sutra-operator/internal/pb/replicationpb"
	"github.com/sutra/sutra-operator/internal/pb/storagepb"
	"github.com/sutra/sutra-operator/internal/wal"
)

func (n *node) nodeStatus() *adminpb.NodeStatus {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := n.admin.Status(ctx, &adminpb.StatusRequest{})
	if err != nil {
		n.t.Fatalf("admin status of %s: %v", n.name, err)
	}
	return st
}

func (n *node) promote(epoch uint64) (*adminpb.NodeStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return n.admin.Promote(ctx, &adminpb.PromoteRequest{Epoch: epoch})
}

func (n *node) follow(leader *node, epoch uint64) (*adminpb.NodeStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return n.admin.Follow(ctx, &adminpb.FollowRequest{LeaderAddress: leader.addr, Epoch: epoch})
}

func (n *node) mustFollow(leader *node, epoch uint64) {
	n.t.Helper()
	if _, err := n.follow(leader, epoch); err != nil {
		n.t.Fatalf("%s follow %s in epoch %d: %v", n.name, leader.name, epoch, err)
	}
}

// row returns the leader's table row for a replica.
func row(t *testing.T, leader *node, id string) *replicationpb.ReplicaInfo {
	t.Helper()
	for _, r := range leader.status().GetReplicas() {
		if r.GetId() == id {
			return r
		}
	}
	return nil
}

func asideRecords(t *testing.T, n *node) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(n.dir, "diverged-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A leader whose data directory was recreated has a log with another
// identity: its replica is refused and shown as diverged, keeps its data
// although the new log grows past it, and rejoins only when told to
// follow, with its old records set aside and counted.
func TestRecreatedLeaderDirIsDivergence(t *testing.T) {
	leader := startLeader(t, "leader")
	r1 := startReplica(t, "r1", leader.addr)
	old := newWriter(20)
	old.write(leader, 200, 4)
	converged(t, leader, r1)
	before, _ := r1.stats()

	leader.stop()
	if err := os.RemoveAll(leader.dir); err != nil {
		t.Fatal(err)
	}
	leader.start()
	fresh := newWriter(21)
	fresh.write(leader, 400, 4) // past the replica's position
	eventually(t, 10*time.Second, "the leader to show r1 diverged", func() error {
		if r := row(t, leader, "r1"); r == nil || r.GetState() != "diverged" || !strings.Contains(r.GetLastError(), "fork=0") {
			return fmt.Errorf("row %v", r)
		}
		return nil
	})
	if st := r1.status().GetReplicas()[0]; st.GetState() != "diverged" {
		t.Fatalf("r1 reports itself %q, want diverged", st.GetState())
	}
	after, _ := r1.stats()
	if after.GetAppliedSequence() != before.GetAppliedSequence() || after.GetDigest() != before.GetDigest() {
		t.Fatalf("r1 changed while diverged: applied %d -> %d", before.GetAppliedSequence(), after.GetAppliedSequence())
	}
	old.checkAcked(t, r1) // its data is kept

	epoch := leader.nodeStatus().GetEpoch()
	r1.mustFollow(leader, epoch)
	converged(t, leader, r1)
	fresh.checkAcked(t, r1)
	st := r1.nodeStatus()
	t.Logf("r1 set aside %d records of the old log in %v", st.GetSetAside(), asideRecords(t, r1))
	if st.GetSetAside() != before.GetAppliedSequence() || len(asideRecords(t, r1)) != 1 {
		t.Fatalf("r1 set aside %d records, want its whole old log of %d", st.GetSetAside(), before.GetAppliedSequence())
	}
	if r := row(t, leader, "r1"); r.GetState() == "diverged" {
		t.Fatalf("r1 still diverged after Follow: %v", r)
	}
}

// Anyone can send a heartbeat: one with a higher epoch must not take a
// replica away from its real leader.
func TestStrayHeartbeatChangesNothing(t *testing.T) {
	leader := startLeader(t, "leader")
	r1 := startReplica(t, "r1", leader.addr)
	w := newWriter(22)
	w.write(leader, 50, 2)
	converged(t, leader, r1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := r1.repl.Heartbeat(ctx, &replicationpb.HeartbeatRequest{LeaderId: "impostor", ClusterId: "e2e", Epoch: 99}); err != nil {
		t.Fatalf("stray heartbeat: %v", err)
	}
	// Make the replica reconnect so it must accept its leader again.
	leader.stop()
	leader.start()
	w.write(leader, 50, 2)
	converged(t, leader, r1)
	w.checkAcked(t, r1)
	if e := r1.nodeStatus().GetEpoch(); e != leader.nodeStatus().GetEpoch() {
		t.Fatalf("r1 in epoch %d, its leader in %d", e, leader.nodeStatus().GetEpoch())
	}
}

// Calls about an older epoch are refused and change nothing; a repeated
// call changes nothing either.
func TestStaleAdminCallsChangeNothing(t *testing.T) {
	a := startLeader(t, "a")
	b := startReplica(t, "b", a.addr)
	w := newWriter(23)
	w.write(a, 50, 2)
	converged(t, a, b)
	e1 := a.nodeStatus().GetEpoch()
	if _, err := b.promote(e1 + 1); err != nil {
		t.Fatal(err)
	}
	a.mustFollow(b, e1+1)
	w.write(b, 50, 2)
	converged(t, b, a)

	expect := func(name string, err error) {
		t.Helper()
		if status.Code(err) != codes.FailedPrecondition {
			t.Errorf("%s: got %v, want FailedPrecondition", name, err)
		}
	}
	_, err := a.promote(e1)
	expect("late promote of the old leader", err)
	_, err = b.follow(a, e1)
	expect("late follow of the old leader", err)
	_, err = b.admin.Fence(context.Background(), &adminpb.FenceRequest{Epoch: e1})
	expect("late fence of the new leader", err)
	st, err := b.promote(e1 + 1)
	if err != nil || st.GetRole() != "leader" || st.GetEpoch() != e1+1 {
		t.Fatalf("repeated promote: %v %v", st, err)
	}
	if _, err := a.follow(b, e1+1); err != nil {
		t.Fatalf("repeated follow: %v", err)
	}
	if s := b.nodeStatus(); s.GetRole() != "leader" || s.GetFenced() || s.GetEpoch() != e1+1 {
		t.Fatalf("the new leader changed: %v", s)
	}
	w.write(b, 50, 2)
	converged(t, b, a)
	w.checkAcked(t, a)
	w.checkAcked(t, b)
	_, err = a.store.WriteConcept(context.Background(), &storagepb.WriteConceptRequest{Concept: &storagepb.Concept{Id: conceptID(23, 1<<40), Content: []byte("x")}})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "leader="+b.addr) {
		t.Fatalf("write to the old leader: %v", err)
	}
}

// promoteMostAdvanced asks every candidate its durable position, promotes
// the most advanced one in epoch, points the others at it, and returns it
// with that position and the time from Promote to its first acknowledged
// write.
func promoteMostAdvanced(t *testing.T, epoch uint64, candidates ...*node) (*node, uint64, time.Duration) {
	t.Helper()
	sort.Slice(candidates, func(i, j int) bool {
		return candidates[i].nodeStatus().GetDurableSequence() > candidates[j].nodeStatus().GetDurableSequence()
	})
	best := candidates[0]
	start := time.Now()
	// The position the new epoch starts from is the promoted node's when
	// Promote answers: a replica resumed from SIGSTOP may still make
	// durable records it had received, after the statuses were read.
	st, err := best.promote(epoch)
	if err != nil {
		t.Fatalf("promote %s: %v", best.name, err)
	}
	durable := st.GetDurableSequence()
	for _, n := range candidates[1:] {
		n.mustFollow(best, epoch)
	}
	w := newWriter(999)
	for !w.put(best, 1) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%s accepts no write after promotion", best.name)
		}
	}
	return best, durable, time.Since(start)
}

// failoverRounds kills the leader under load round after round, promotes
// the most advanced replica, points the others and the restarted old
// leader at it, and counts the acknowledged writes lost.
//
// Before each kill the replicas are paused (SIGSTOP) for load.pause while
// the writers go on, so that synchronously the writers must wait, and
// asynchronously the leader acknowledges writes no replica has: with
// load.pad bytes in each write, the paused replicas' 4 MiB stream windows
// fill, and the leader cannot even send what it acknowledges after that
// (what it did send, a replica reads from its socket once resumed).
func failoverRounds(t *testing.T, rounds int, load failoverLoad, extra ...string) (lost []int, promotion []time.Duration) {
	nodes := []*node{startLeader(t, "n0", extra...)}
	nodes = append(nodes, startReplica(t, "n1", nodes[0].addr, extra...), startReplica(t, "n2", nodes[0].addr, extra...))
	leader := nodes[0]
	epoch := leader.nodeStatus().GetEpoch()
	w := newWriter(30)
	w.pad = make([]byte, load.pad)
	w.write(leader, 100, 4)
	converged(t, leader, nodes[1], nodes[2])
	for round := 0; round < rounds; round++ {
		stop := make(chan struct{})
		done := w.background(leader, 8, stop)
		time.Sleep(300 * time.Millisecond)
		var others []*node
		for _, n := range nodes {
			if n != leader {
				others = append(others, n)
			}
		}
		for _, n := range others {
			n.signal(syscall.SIGSTOP)
		}
		time.Sleep(load.pause)
		leader.kill()
		for _, n := range others {
			n.signal(syscall.SIGCONT)
		}
		close(stop)
		<-done
		epoch++
		next, durable, took := promoteMostAdvanced(t, epoch, others...)
		promotion = append(promotion, took)
		expectLost := w.ackedAfter(durable)
		// The old leader comes back as a replica and is told to follow.
		leader.restartAs(append([]string{"--role", "replica", "--leader", next.addr}, extra...)...)
		leader.mustFollow(next, epoch)
		// Until its rewind has set aside its records past the fork (a
		// copy of them), the old leader is ahead of the new one.
		eventually(t, 30*time.Second, leader.name+" to rewind to the fork", func() error {
			if a, d := leader.nodeStatus().GetAppliedSequence(), next.nodeStatus().GetDurableSequence(); a > d {
				return fmt.Errorf("%s applied %d, past %s's durable %d", leader.name, a, next.name, d)
			}
			return nil
		})
		missing, total := w.missing(t, next)
		t.Logf("round %d: %s promoted at durable %d in %v; %d of %d acknowledged writes lost (expected %d beyond its position)",
			round+1, next.name, durable, took.Round(time.Millisecond), len(missing), total, expectLost)
		if len(missing) != expectLost {
			t.Fatalf("round %d: lost %d acknowledged writes, but %d were acknowledged beyond the promoted replica's durable position %d",
				round+1, len(missing), expectLost, durable)
		}
		lost = append(lost, len(missing))
		w.forget(missing)
		leader = next
		var replicas []*node
		for _, n := range nodes {
			if n != leader {
				replicas = append(replicas, n)
			}
		}
		converged(t, leader, replicas...) // same sequence and digest everywhere
	}
	for _, n := range nodes {
		w.checkAcked(t, n)
	}
	return lost, promotion
}

// failoverLoad shapes failoverRounds' writes before each kill.
type failoverLoad struct {
	pause time.Duration // how long the replicas are paused before the kill
	pad   int           // bytes added to each write
}

func summarize(t *testing.T, lost []int, promotion []time.Duration) {
	total := 0
	for _, n := range lost {
		total += n
	}
	sort.Slice(promotion, func(i, j int) bool { return promotion[i] < promotion[j] })
	t.Logf("%d rounds: %d acknowledged writes lost in all; promotion to first acknowledged write p50 %v, max %v",
		len(lost), total, promotion[len(promotion)/2].Round(time.Millisecond), promotion[len(promotion)-1].Round(time.Millisecond))
}

// With one synchronous replica, killing the leader loses no acknowledged
// write: the most advanced replica has every one of them.
func TestFailoverSyncLosesNothing(t *testing.T) {
	lost, promotion := failoverRounds(t, 20, failoverLoad{pause: 100 * time.Millisecond}, "--sync-replicas", "1", "--sync-timeout", "2s")
	summarize(t, lost, promotion)
	for i, n := range lost {
		if n != 0 {
			t.Fatalf("round %d lost %d acknowledged writes under synchronous replication", i+1, n)
		}
	}
}

// Asynchronously, what is lost is exactly what the leader acknowledged past
// the promoted replica's durable position.
func TestFailoverAsyncLosesOnlyUnreplicated(t *testing.T) {
	lost, promotion := failoverRounds(t, 5, failoverLoad{pause: 500 * time.Millisecond, pad: 16 << 10})
	summarize(t, lost, promotion)
	total := 0
	for _, n := range lost {
		total += n
	}
	if total == 0 {
		t.Fatal("no round lost a write: the replicas were never behind, so the test proved nothing")
	}
}

// Synchronous replication with its only replica gone: a write fails with
// UNAVAILABLE naming the replica after the timeout (required), or is
// acknowledged by the leader alone (preferred); every acknowledged write
// survives on the replica once it returns.
func TestSyncReplicationWithoutReplicas(t *testing.T) {
	for _, mode := range []string{"required", "preferred"} {
		t.Run(mode, func(t *testing.T) {
			leader := startLeader(t, "leader", "--sync-replicas", "1", "--sync-mode", mode, "--sync-timeout", "500ms")
			r1 := startReplica(t, "r1", leader.addr)
			w := newWriter(40)
			if n := w.write(leader, 100, 4); n != 100 {
				t.Fatalf("%d of 100 writes acknowledged with the synchronous replica streaming", n)
			}
			rows := leader.status().GetReplicas()
			if len(rows) != 1 || rows[0].GetSyncState() != "sync" {
				t.Fatalf("replication table: %v, want r1 sync", rows)
			}
			r1.kill()
			eventually(t, 10*time.Second, "the leader to see r1 gone", func() error {
				if r := row(t, leader, "r1"); r.GetState() != "disconnected" {
					return fmt.Errorf("r1 is %s", r.GetState())
				}
				return nil
			})
			start := time.Now()
			ok := w.put(leader, 1000)
			took := time.Since(start)
			if mode == "required" {
				_, err := leader.store.WriteConcept(context.Background(), &storagepb.WriteConceptRequest{Concept: &storagepb.Concept{Id: conceptID(40, 1001), Content: []byte("x")}})
				if ok || status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "r1") {
					t.Fatalf("write without the synchronous replica: acknowledged %v, err %v; want UNAVAILABLE naming r1", ok, err)
				}
				if took < 400*time.Millisecond {
					t.Fatalf("write failed after %v, before the 500ms timeout", took)
				}
			} else if !ok {
				t.Fatal("preferred mode refused a write with no replica streaming")
			}
			t.Logf("%s: write without replicas answered in %v", mode, took.Round(time.Millisecond))
			r1.start()
			w.write(leader, 50, 4)
			converged(t, leader, r1)
			w.checkAcked(t, r1)
			w.checkAcked(t, leader)
		})
	}
}

// A leader that hears from no replica and no admin caller for the
// configured time stops taking writes until contact returns, so an
// isolated old leader cannot keep acknowledging what a promoted replica
// will never have.
func TestLeaderSelfFences(t *testing.T) {
	leader := startLeader(t, "leader", "--self-fence-after", "1s")
	r1 := startReplica(t, "r1", leader.addr)
	w := newWriter(41)
	w.write(leader, 50, 2)
	r1.signal(syscall.SIGSTOP) // the replica is cut off but its connection stays
	time.Sleep(1500 * time.Millisecond)
	_, err := leader.store.WriteConcept(context.Background(), &storagepb.WriteConceptRequest{Concept: &storagepb.Concept{Id: conceptID(41, 1<<30), Content: []byte("x")}})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "self-fenced") {
		t.Fatalf("write to an isolated leader: %v, want UNAVAILABLE self-fenced", err)
	}
	r1.signal(syscall.SIGCONT)
	eventually(t, 10*time.Second, "writes to resume", func() error {
		if !w.put(leader, 1<<31) {
			return fmt.Errorf("write refused")
		}
		return nil
	})
	w.write(leader, 50, 2)
	converged(t, leader, r1)
	w.checkAcked(t, r1)
}

// corruptRecord rewrites the payload of record seq in a stopped node's log
// and recomputes its CRC: damage no checksum can see, as a bug writing the
// wrong bytes would leave. Only continuous verification can notice it.
func corruptRecord(t *testing.T, n *node, seq uint64, from, to string) {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(n.dir, "wal", "*.wal"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("segments of %s: %v %v", n.name, segs, err)
	}
	for _, path := range segs {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for off := wal.SegmentHeaderSize; off < len(b); {
			rec, size, err := wal.DecodeRecord(b[off:])
			if err != nil {
				break
			}
			if rec.Seq == seq {
				i := bytes.Index(rec.Data, []byte(from))
				if i < 0 {
					t.Fatalf("record %d does not hold %q", seq, from)
				}
				copy(rec.Data[i:], to)
				binary.LittleEndian.PutUint32(b[off+4:], wal.Checksum(rec.Seq, rec.Epoch, rec.More, rec.Time, rec.Data))
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			off += size
		}
	}
	t.Fatalf("record %d not found in %s's log", seq, n.name)
}

// A replica whose log holds a record that differs from the leader's but
// passes every checksum is caught by the digest comparison at the next
// checkpoint, shown diverged on both ends with both digests, and rejoins
// whole after a Follow.
func TestCorruptReplicaCaughtByVerification(t *testing.T) {
	leader := startLeader(t, "leader", "--verify-interval", "100")
	r1 := startReplica(t, "r1", leader.addr, "--verify-interval", "100")
	w := newWriter(50)
	w.write(leader, 250, 4)
	converged(t, leader, r1)
	eventually(t, 10*time.Second, "r1 verified", func() error {
		if r := row(t, leader, "r1"); r.GetVerifiedSequence() != 200 {
			return fmt.Errorf("verified %d", r.GetVerifiedSequence())
		}
		return nil
	})
	r1.stop()
	corruptRecord(t, r1, 42, "concept", "CONCEPT")
	r1.start()
	eventually(t, 10*time.Second, "the leader to show r1 diverged", func() error {
		r := row(t, leader, "r1")
		if r.GetState() != "diverged" || !strings.Contains(r.GetLastError(), "state digest after sequence 200") {
			return fmt.Errorf("row %v", r)
		}
		return nil
	})
	t.Logf("leader reports: %s", row(t, leader, "r1").GetLastError())
	if st := r1.nodeStatus(); !st.GetDiverged() {
		t.Fatalf("r1 does not report itself diverged: %v", st)
	}
	r1.mustFollow(leader, leader.nodeStatus().GetEpoch())
	w.write(leader, 50, 4)
	converged(t, leader, r1)
	w.checkAcked(t, r1)
	t.Logf("r1 set aside %d records and resynced", r1.nodeStatus().GetSetAside())
}
