package controllers

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/statusclient"
)

var testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func testCluster(replicas int32, phase sutrav1.ClusterPhase) *sutrav1.SutraCluster {
	return &sutrav1.SutraCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns", Generation: 4},
		Spec: sutrav1.SutraClusterSpec{Image: "img", Replicas: ptr.To(replicas),
			Replication: sutrav1.ReplicationSpec{LagThresholdMs: 1000}},
		Status: sutrav1.SutraClusterStatus{Phase: phase},
	}
}

func sts(name string, want, ready int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Generation: 1},
		Spec:       appsv1.StatefulSetSpec{Replicas: ptr.To(want)},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: want, ReadyReplicas: ready,
			UpdatedReplicas: want, CurrentRevision: "r1", UpdateRevision: "r1"},
	}
}

func streaming(id string, lag uint64) statusclient.Replica {
	return statusclient.Replica{ID: id, Healthy: true, State: "streaming", LagMs: lag, LastAppliedSequence: 10,
		LastHeartbeat: testNow.Add(-1500 * time.Millisecond)}
}

func diverged(id string, fork uint64) statusclient.Replica {
	return statusclient.Replica{ID: id, State: "diverged", LastAppliedSequence: fork + 5, LagEntries: 3, ForkSequence: fork, SyncState: "async",
		LastError: fmt.Sprintf("replication: diverged from the leader's log fork=%d", fork)}
}

func snap(rs ...statusclient.Replica) *statusclient.Snapshot {
	return &statusclient.Snapshot{NodeID: "s-leader-0", Role: "leader", ClusterID: "ns.s", Epoch: 2, LeaderSequence: 10, Replicas: rs}
}

func TestComputeStatus(t *testing.T) {
	type want struct {
		phase                 sutrav1.ClusterPhase
		available, degraded   metav1.ConditionStatus
		replication           metav1.ConditionStatus
		replicationReason     string
		messageContains       []string
		maxLag                string
		statuses              int
		observedGeneration    int64
		progressingReason     string
		lastStatusTimeUpdated bool
	}
	tests := []struct {
		name  string
		scope *scope
		want  want
	}{
		{
			name:  "all streaming",
			scope: &scope{cluster: testCluster(2, ""), leader: sts("s-leader", 1, 1), replicas: sts("s-replica", 2, 2), replication: snap(streaming("s-replica-0", 3), streaming("s-replica-1", 12))},
			want: want{phase: sutrav1.PhaseRunning, available: "True", degraded: "False", replication: "True",
				replicationReason: sutrav1.ReasonAllReplicasStreaming, messageContains: []string{"2 of 2", "12ms"},
				maxLag: "12ms", statuses: 2, observedGeneration: 4, progressingReason: sutrav1.ReasonReconciled, lastStatusTimeUpdated: true},
		},
		{
			name:  "replica missing from the leader's table",
			scope: &scope{cluster: testCluster(2, sutrav1.PhaseRunning), leader: sts("s-leader", 1, 1), replicas: sts("s-replica", 2, 2), replication: snap(streaming("s-replica-0", 3))},
			want: want{phase: sutrav1.PhaseDegraded, available: "True", degraded: "True", replication: "False",
				replicationReason: sutrav1.ReasonReplicaNotStreaming, messageContains: []string{"s-replica-1 (missing)"},
				maxLag: "3ms", statuses: 2, observedGeneration: 4, progressingReason: sutrav1.ReasonReconciled, lastStatusTimeUpdated: true},
		},
		{
			name: "replica disconnected and another lagging",
			scope: &scope{cluster: testCluster(3, sutrav1.PhaseRunning), leader: sts("s-leader", 1, 1), replicas: sts("s-replica", 3, 3), replication: snap(
				streaming("s-replica-0", 1500), statusclient.Replica{ID: "s-replica-1", State: "disconnected"}, streaming("s-replica-2", 0))},
			want: want{phase: sutrav1.PhaseDegraded, available: "True", degraded: "True", replication: "False",
				replicationReason: sutrav1.ReasonReplicaNotStreaming, messageContains: []string{"s-replica-1 (disconnected)", "s-replica-0 (1500ms)"},
				maxLag: "1.5s", statuses: 3, observedGeneration: 4, progressingReason: sutrav1.ReasonReconciled, lastStatusTimeUpdated: true},
		},
		{
			name: "diverged replica takes precedence over one not streaming",
			scope: &scope{cluster: testCluster(3, sutrav1.PhaseRunning), leader: sts("s-leader", 1, 1), replicas: sts("s-replica", 3, 3), replication: snap(
				streaming("s-replica-0", 0), diverged("s-replica-1", 120), statusclient.Replica{ID: "s-replica-2", State: "disconnected"})},
			want: want{phase: sutrav1.PhaseDegraded, available: "True", degraded: "True", replication: "False",
				replicationReason: sutrav1.ReasonReplicaDiverged, messageContains: []string{"s-replica-1 (shares up to sequence 120)", "s-replica-2 (disconnected)"},
				maxLag: "0ms", statuses: 3, observedGeneration: 4, progressingReason: sutrav1.ReasonReconciled, lastStatusTimeUpdated: true},
		},
		{
			name:  "lagging only",
			scope: &scope{cluster: testCluster(1, sutrav1.PhaseRunning), leader: sts("s-leader", 1, 1), replicas: sts("s-replica", 1, 1), replication: snap(streaming("s-replica-0", 2500))},
			want: want{phase: sutrav1.PhaseDegraded, available: "True", degraded: "True", replication: "False",
				replicationReason: sutrav1.ReasonReplicaLagging, messageContains: []string{"s-replica-0 (2500ms)", "1000ms threshold"},
				maxLag: "2.5s", statuses: 1, observedGeneration: 4, progressingReason: sutrav1.ReasonReconciled, lastStatusTimeUpdated: true},
		},
		{
			name:  "leader unreachable keeps the last table",
			scope: &scope{cluster: testCluster(2, sutrav1.PhaseRunning), endpoint: "s-leader.ns.svc:50051", leader: sts("s-leader", 1, 1), replicas: sts("s-replica", 2, 2), replicationErr: errors.New("connection refused")},
			want: want{phase: sutrav1.PhaseDegraded, available: "True", degraded: "True", replication: "Unknown",
				replicationReason: sutrav1.ReasonLeaderUnreachable, messageContains: []string{"s-leader.ns.svc:50051", "connection refused"},
				observedGeneration: 4, progressingReason: sutrav1.ReasonReconciled},
		},
		{
			name:  "creating: leader not ready yet",
			scope: &scope{cluster: testCluster(2, ""), leader: sts("s-leader", 1, 0), replicas: sts("s-replica", 2, 0), replicationErr: errors.New("no route")},
			want: want{phase: sutrav1.PhaseCreating, available: "False", degraded: "False", replication: "Unknown",
				replicationReason: sutrav1.ReasonLeaderUnreachable, observedGeneration: 4, progressingReason: sutrav1.ReasonScaling},
		},
		{
			name:  "failed: leader lost after running",
			scope: &scope{cluster: testCluster(2, sutrav1.PhaseRunning), leader: sts("s-leader", 1, 0), replicas: sts("s-replica", 2, 2), replicationErr: errors.New("no route")},
			want: want{phase: sutrav1.PhaseFailed, available: "False", degraded: "True", replication: "Unknown",
				replicationReason: sutrav1.ReasonLeaderUnreachable, observedGeneration: 4, progressingReason: sutrav1.ReasonScaling},
		},
		{
			name:  "zero replicas",
			scope: &scope{cluster: testCluster(0, ""), leader: sts("s-leader", 1, 1), replicas: sts("s-replica", 0, 0), replication: snap()},
			want: want{phase: sutrav1.PhaseRunning, available: "True", degraded: "False", replication: "True",
				replicationReason: sutrav1.ReasonNoReplicas, maxLag: "0ms", observedGeneration: 4, progressingReason: sutrav1.ReasonReconciled, lastStatusTimeUpdated: true},
		},
		{
			name:  "child error keeps the observed generation; pending before StatefulSets exist",
			scope: &scope{cluster: testCluster(2, ""), childErr: errors.New("conflict"), replicationErr: errors.New("x")},
			want: want{phase: sutrav1.PhasePending, available: "False", degraded: "False", replication: "Unknown",
				replicationReason: sutrav1.ReasonLeaderUnreachable, observedGeneration: 0, progressingReason: sutrav1.ReasonScaling},
		},
		{
			name: "wrong node answers: its table is not this cluster's rows",
			scope: &scope{cluster: testCluster(1, ""), leader: sts("s-leader", 1, 1), replicas: sts("s-replica", 1, 1),
				replication: &statusclient.Snapshot{NodeID: "s-replica-0", Role: "replica", ClusterID: "ns.s"}},
			want: want{phase: sutrav1.PhaseCreating, available: "True", degraded: "False", replication: "Unknown",
				replicationReason: sutrav1.ReasonLeaderMismatch, messageContains: []string{`role "replica"`},
				observedGeneration: 4, progressingReason: sutrav1.ReasonReconciled, lastStatusTimeUpdated: true, statuses: 0, maxLag: "0ms"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.scope.now = testNow
			st := computeStatus(tc.scope)
			w := tc.want
			if st.Phase != w.phase {
				t.Errorf("phase = %s, want %s", st.Phase, w.phase)
			}
			cond := func(typ string) *metav1.Condition {
				c := meta.FindStatusCondition(st.Conditions, typ)
				if c == nil {
					t.Fatalf("condition %s missing", typ)
				}
				if c.ObservedGeneration != 4 || !c.LastTransitionTime.Time.Equal(testNow) {
					t.Errorf("%s: observedGeneration %d transition %v", typ, c.ObservedGeneration, c.LastTransitionTime)
				}
				return c
			}
			if c := cond(sutrav1.ConditionAvailable); c.Status != w.available {
				t.Errorf("Available = %s, want %s", c.Status, w.available)
			}
			if c := cond(sutrav1.ConditionDegraded); c.Status != w.degraded {
				t.Errorf("Degraded = %s (%s), want %s", c.Status, c.Reason, w.degraded)
			}
			if c := cond(sutrav1.ConditionProgressing); c.Reason != w.progressingReason {
				t.Errorf("Progressing reason = %s, want %s", c.Reason, w.progressingReason)
			}
			rc := cond(sutrav1.ConditionReplicationHealthy)
			if rc.Status != w.replication || rc.Reason != w.replicationReason {
				t.Errorf("ReplicationHealthy = %s/%s, want %s/%s (%s)", rc.Status, rc.Reason, w.replication, w.replicationReason, rc.Message)
			}
			for _, s := range w.messageContains {
				if !strings.Contains(rc.Message, s) {
					t.Errorf("ReplicationHealthy message %q lacks %q", rc.Message, s)
				}
			}
			if st.MaxLag != w.maxLag || len(st.ReplicaStatuses) != w.statuses {
				t.Errorf("maxLag %q statuses %d, want %q %d", st.MaxLag, len(st.ReplicaStatuses), w.maxLag, w.statuses)
			}
			if st.ObservedGeneration != w.observedGeneration {
				t.Errorf("observedGeneration = %d, want %d", st.ObservedGeneration, w.observedGeneration)
			}
			if got := st.LastStatusTime != nil; got != w.lastStatusTimeUpdated {
				t.Errorf("lastStatusTime set = %v, want %v", got, w.lastStatusTimeUpdated)
			}
			if st.Selector != "app.kubernetes.io/name=sutra,storage.sutra.io/cluster=s,storage.sutra.io/role=replica" {
				t.Errorf("selector = %q", st.Selector)
			}
		})
	}
}

func TestReplicaMatchedByConfiguredAddress(t *testing.T) {
	c := testCluster(2, "")
	st := computeStatus(&scope{cluster: c, now: testNow, leader: sts("s-leader", 1, 1), replicas: sts("s-replica", 2, 2),
		replication: snap(streaming("s-replica-0", 1), statusclient.Replica{ID: "s-replica-1.s-peers.ns.svc:50051", State: "configured"})})
	if got := st.ReplicaStatuses[1]; got.State != "configured" || got.Healthy {
		t.Errorf("replica-1 = %+v, want the configured row found by address", got)
	}
}

func TestReplicaStatusesDetails(t *testing.T) {
	c := testCluster(2, "")
	st := computeStatus(&scope{cluster: c, now: testNow, leader: sts("s-leader", 1, 1), replicas: sts("s-replica", 2, 2),
		replication: snap(streaming("s-replica-1", 7), streaming("s-replica-9", 99999))})
	if len(st.ReplicaStatuses) != 2 || st.ReplicaStatuses[0].Name != "s-replica-0" || st.ReplicaStatuses[1].Name != "s-replica-1" {
		t.Fatalf("statuses = %+v (want desired replicas only, in ordinal order)", st.ReplicaStatuses)
	}
	r1 := st.ReplicaStatuses[1]
	if !r1.Healthy || r1.LagMs != 7 || r1.LastAppliedSequence != 10 || r1.LastHeartbeat == nil || !r1.LastHeartbeat.Time.Equal(testNow.Add(-2*time.Second)) {
		t.Errorf("replica-1 = %+v (heartbeat truncated to seconds as the API stores it)", r1)
	}
	if st.MaxLagMs != 7 {
		t.Errorf("maxLagMs = %d: a replica no longer desired must not count", st.MaxLagMs)
	}
	if st.Leader.Pod != "s-leader-0" || st.Leader.Endpoint != "s-leader.ns.svc:50051" || st.LeaderSequence != 10 || st.Epoch != 2 {
		t.Errorf("leader = %+v seq %d epoch %d", st.Leader, st.LeaderSequence, st.Epoch)
	}
}

func TestReplicationConditionDiverged(t *testing.T) {
	tests := []struct {
		name     string
		replicas int32
		rows     []statusclient.Replica
		reason   string
		message  string
	}{
		{
			name: "one diverged", replicas: 2,
			rows:   []statusclient.Replica{streaming("s-replica-0", 0), diverged("s-replica-1", 120)},
			reason: sutrav1.ReasonReplicaDiverged,
			message: "1 replica diverged from the leader's log: s-replica-1 (shares up to sequence 120); " +
				"see docs/troubleshooting.md#sutrareplicadiverged",
		},
		{
			name: "two diverged, in ordinal order", replicas: 2,
			rows:   []statusclient.Replica{diverged("s-replica-1", 7), diverged("s-replica-0", 0)},
			reason: sutrav1.ReasonReplicaDiverged,
			message: "2 replicas diverged from the leader's log: s-replica-0 (shares up to sequence 0), s-replica-1 (shares up to sequence 7); " +
				"see docs/troubleshooting.md#sutrareplicadiverged",
		},
		{
			name: "diverged before missing and lagging", replicas: 3,
			rows:   []statusclient.Replica{streaming("s-replica-0", 2500), diverged("s-replica-2", 99)},
			reason: sutrav1.ReasonReplicaDiverged,
			message: "1 replica diverged from the leader's log: s-replica-2 (shares up to sequence 99); " +
				"see docs/troubleshooting.md#sutrareplicadiverged; not streaming: s-replica-1 (missing); lagging over 1000ms: s-replica-0 (2500ms)",
		},
		{
			name: "without a diverged replica the reason is unchanged", replicas: 2,
			rows:    []statusclient.Replica{streaming("s-replica-0", 0), {ID: "s-replica-1", State: "catchup", ForkSequence: 5}},
			reason:  sutrav1.ReasonReplicaNotStreaming,
			message: "1 replica is not streaming from the leader: s-replica-1 (catchup)",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testCluster(tc.replicas, sutrav1.PhaseRunning)
			cond := replicationCondition(c, "s-leader.ns.svc:50051", snap(tc.rows...), nil)
			if cond.Status != metav1.ConditionFalse || cond.Reason != tc.reason {
				t.Errorf("condition = %s/%s, want False/%s", cond.Status, cond.Reason, tc.reason)
			}
			if cond.Message != tc.message {
				t.Errorf("message:\n got %q\nwant %q", cond.Message, tc.message)
			}
		})
	}
}

// Degraded carries the diverged cause, so `kubectl get` readers see it in
// both conditions.
func TestDegradedNamesDivergedReplica(t *testing.T) {
	st := computeStatus(&scope{cluster: testCluster(1, sutrav1.PhaseRunning), now: testNow, leader: sts("s-leader", 1, 1),
		replicas: sts("s-replica", 1, 1), replication: snap(diverged("s-replica-0", 42))})
	d := meta.FindStatusCondition(st.Conditions, sutrav1.ConditionDegraded)
	if d == nil || d.Status != metav1.ConditionTrue || d.Reason != sutrav1.ReasonReplicaDiverged || !strings.Contains(d.Message, "s-replica-0 (shares up to sequence 42)") {
		t.Errorf("Degraded = %+v", d)
	}
}

func TestReplicaStatusesCopyForkAndSyncState(t *testing.T) {
	c := testCluster(3, "")
	syncRow := streaming("s-replica-0", 0)
	syncRow.SyncState = "sync"
	stale := statusclient.Replica{ID: "s-replica-2", State: "catchup", ForkSequence: 9, SyncState: "async"}
	got := replicaStatuses(c, snap(syncRow, diverged("s-replica-1", 120), stale))
	want := []sutrav1.ReplicaStatus{
		{Name: "s-replica-0", State: "streaming", SyncState: "sync", Healthy: true, LastAppliedSequence: 10},
		{Name: "s-replica-1", State: "diverged", SyncState: "async", ForkSequence: 120, LastAppliedSequence: 125, LagEntries: 3},
		{Name: "s-replica-2", State: "catchup", SyncState: "async"}, // a fork point only with the diverged state
	}
	if len(got) != len(want) {
		t.Fatalf("statuses = %+v", got)
	}
	for i := range want {
		g := got[i]
		g.LastHeartbeat = nil
		if g != want[i] {
			t.Errorf("status %d = %+v, want %+v", i, g, want[i])
		}
	}
}

// A second computation over the status it produced, with the same
// observations, must give an equal status, so writeStatus skips the patch.
func TestComputeStatusIsStable(t *testing.T) {
	c := testCluster(2, "")
	s := &scope{cluster: c, now: testNow, leader: sts("s-leader", 1, 1), replicas: sts("s-replica", 2, 2), replication: snap(streaming("s-replica-0", 1), streaming("s-replica-1", 2))}
	first := computeStatus(s)
	c2 := c.DeepCopy()
	c2.Status = *first
	s2 := *s
	s2.cluster = c2
	s2.now = testNow.Add(time.Minute)
	second := computeStatus(&s2)
	for _, typ := range []string{sutrav1.ConditionAvailable, sutrav1.ConditionReplicationHealthy} {
		a, b := meta.FindStatusCondition(first.Conditions, typ), meta.FindStatusCondition(second.Conditions, typ)
		if !a.LastTransitionTime.Equal(&b.LastTransitionTime) {
			t.Errorf("%s transition time moved without a status change", typ)
		}
	}
}

func TestFormatLag(t *testing.T) {
	for ms, want := range map[int64]string{0: "0ms", 12: "12ms", 999: "999ms", 1000: "1s", 1500: "1.5s", 61000: "1m1s"} {
		if got := formatLag(ms); got != want {
			t.Errorf("formatLag(%d) = %q, want %q", ms, got, want)
		}
	}
}

// TestRowsUnknownWhenTableUnreadable: rows whose source (the leader's
// table) cannot be read say so, instead of repeating the last known state.
func TestRowsUnknownWhenTableUnreadable(t *testing.T) {
	c := testCluster(2, sutrav1.PhaseRunning)
	c.Status = *computeStatus(&scope{cluster: c, now: testNow, leader: sts("s-leader", 1, 1), replicas: sts("s-replica", 2, 2),
		replication: snap(streaming("s-replica-0", 0), streaming("s-replica-1", 0))})
	notLeader := snap(streaming("s-replica-0", 0), streaming("s-replica-1", 0))
	notLeader.Role = "replica"
	for name, s := range map[string]*scope{
		"unreachable":    {replicationErr: errors.New("connection refused")},
		"not the leader": {replication: notLeader},
	} {
		t.Run(name, func(t *testing.T) {
			s.cluster, s.now, s.endpoint = c.DeepCopy(), testNow, "s-leader.ns.svc:50051"
			s.leader, s.replicas = sts("s-leader", 1, 1), sts("s-replica", 2, 2)
			st := computeStatus(s)
			if cond := meta.FindStatusCondition(st.Conditions, sutrav1.ConditionReplicationHealthy); cond.Status != metav1.ConditionUnknown {
				t.Errorf("ReplicationHealthy = %s, want Unknown", cond.Status)
			}
			if len(st.ReplicaStatuses) != 2 {
				t.Fatalf("rows: %+v", st.ReplicaStatuses)
			}
			for _, rs := range st.ReplicaStatuses {
				t.Logf("%s: state %s healthy %v lastAppliedSequence %d", rs.Name, rs.State, rs.Healthy, rs.LastAppliedSequence)
				if rs.State != StateUnknown || rs.Healthy {
					t.Errorf("%s: state %q healthy %v, want unknown, false", rs.Name, rs.State, rs.Healthy)
				}
			}
		})
	}
}
