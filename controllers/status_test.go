package controllers

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/resources"
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

// testPod is the pod of instance name in c: labelled with role, carrying
// c's current spec hash, running and ready. mods change it.
func testPod(c *sutrav1.SutraCluster, name, role string, mods ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: c.Namespace,
			Labels:      map[string]string{resources.LabelCluster: c.Name, resources.LabelRole: role, resources.LabelInstanceName: name},
			Annotations: map[string]string{resources.AnnotationSpecHash: resources.PodSpecHash(c)}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: resources.ContainerName, Image: c.Spec.Image}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

func unready(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }

func terminating(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: testNow.Add(-time.Second)} }

func outdated(p *corev1.Pod) { p.Annotations[resources.AnnotationSpecHash] = "0123456789abcdef" }

// podScope is a scope over c's spec.replicas+1 instances s-1..s-N, s-1
// leading, each with a ready, current pod; mods change the pod of the
// instance they name, and a nil mod removes it (the instance has no pod).
func podScope(c *sutrav1.SutraCluster, mods map[string]func(*corev1.Pod)) *scope {
	s := &scope{cluster: c, now: testNow, pods: map[string]*corev1.Pod{}, leaderName: "s-1", targetName: "s-1"}
	for i := 1; i <= int(resources.Replicas(c))+1; i++ {
		name := resources.InstanceName(c, i)
		s.instances = append(s.instances, name)
		role := resources.RoleReplica
		if name == "s-1" {
			role = resources.RoleLeader
		}
		m, ok := mods[name]
		if ok && m == nil {
			continue
		}
		p := testPod(c, name, role)
		if m != nil {
			m(p)
		}
		s.pods[name] = p
	}
	return s
}

// withReplication is s reading snap (or failing with err) from the leader.
func withReplication(s *scope, snap *statusclient.Snapshot, err error) *scope {
	s.replication, s.replicationErr = snap, err
	if s.endpoint == "" {
		s.endpoint = "s-rw.ns.svc:50051"
	}
	return s
}

func streaming(id string, lag uint64) statusclient.Replica {
	return statusclient.Replica{ID: id, Healthy: true, State: "streaming", LagMs: lag, LastAppliedSequence: 10, DurableSequence: 9,
		FlushLagMs: lag + 2, LastHeartbeat: testNow.Add(-1500 * time.Millisecond)}
}

func diverged(id string, fork uint64) statusclient.Replica {
	return statusclient.Replica{ID: id, State: "diverged", LastAppliedSequence: fork + 5, LagEntries: 3, ForkSequence: fork, SyncState: "async",
		LastError: fmt.Sprintf("replication: diverged from the leader's log fork=%d", fork)}
}

func snap(rs ...statusclient.Replica) *statusclient.Snapshot {
	return &statusclient.Snapshot{NodeID: "s-1", Role: "leader", ClusterID: "ns.s", Epoch: 2, LeaderSequence: 10, Replicas: rs}
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
			scope: withReplication(podScope(testCluster(2, ""), nil), snap(streaming("s-2", 3), streaming("s-3", 12)), nil),
			want: want{phase: sutrav1.PhaseRunning, available: "True", degraded: "False", replication: "True",
				replicationReason: sutrav1.ReasonAllReplicasStreaming, messageContains: []string{"2 of 2", "12ms"},
				maxLag: "12ms", statuses: 2, observedGeneration: 4, progressingReason: sutrav1.ReasonReconciled, lastStatusTimeUpdated: true},
		},
		{
			name:  "replica missing from the leader's table",
			scope: withReplication(podScope(testCluster(2, sutrav1.PhaseRunning), nil), snap(streaming("s-2", 3)), nil),
			want: want{phase: sutrav1.PhaseDegraded, available: "True", degraded: "True", replication: "False",
				replicationReason: sutrav1.ReasonReplicaNotStreaming, messageContains: []string{"s-3 (missing)"},
				maxLag: "3ms", statuses: 2, observedGeneration: 4, progressingReason: sutrav1.ReasonReconciled, lastStatusTimeUpdated: true},
		},
		{
			name: "replica disconnected and another lagging",
			scope: withReplication(podScope(testCluster(3, sutrav1.PhaseRunning), nil), snap(
				streaming("s-2", 1500), statusclient.Replica{ID: "s-3", State: "disconnected"}, streaming("s-4", 0)), nil),
			want: want{phase: sutrav1.PhaseDegraded, available: "True", degraded: "True", replication: "False",
				replicationReason: sutrav1.ReasonReplicaNotStreaming, messageContains: []string{"s-3 (disconnected)", "s-2 (1500ms)"},
				maxLag: "1.5s", statuses: 3, observedGeneration: 4, progressingReason: sutrav1.ReasonReconciled, lastStatusTimeUpdated: true},
		},
		{
			name: "diverged replica takes precedence over one not streaming",
			scope: withReplication(podScope(testCluster(3, sutrav1.PhaseRunning), nil), snap(
				streaming("s-2", 0), diverged("s-3", 120), statusclient.Replica{ID: "s-4", State: "disconnected"}), nil),
			want: want{phase: sutrav1.PhaseDegraded, available: "True", degraded: "True", replication: "False",
				replicationReason: sutrav1.ReasonReplicaDiverged, messageContains: []string{"s-3 (shares up to sequence 120)", "s-4 (disconnected)"},
				maxLag: "0ms", statuses: 3, observedGeneration: 4, progressingReason: sutrav1.ReasonReconciled, lastStatusTimeUpdated: true},
		},
		{
			name:  "lagging only",
			scope: withReplication(podScope(testCluster(1, sutrav1.PhaseRunning), nil), snap(streaming("s-2", 2500)), nil),
			want: want{phase: sutrav1.PhaseDegraded, available: "True", degraded: "True", replication: "False",
				replicationReason: sutrav1.ReasonReplicaLagging, messageContains: []string{"s-2 (2500ms)", "1000ms threshold"},
				maxLag: "2.5s", statuses: 1, observedGeneration: 4, progressingReason: sutrav1.ReasonReconciled, lastStatusTimeUpdated: true},
		},
		{
			name:  "leader unreachable keeps the last table",
			scope: withReplication(podScope(testCluster(2, sutrav1.PhaseRunning), nil), nil, errors.New("connection refused")),
			want: want{phase: sutrav1.PhaseDegraded, available: "True", degraded: "True", replication: "Unknown",
				replicationReason: sutrav1.ReasonLeaderUnreachable, messageContains: []string{"s-rw.ns.svc:50051", "connection refused"},
				observedGeneration: 4, progressingReason: sutrav1.ReasonReconciled},
		},
		{
			name: "creating: leader not ready yet",
			scope: withReplication(podScope(testCluster(2, ""), map[string]func(*corev1.Pod){"s-1": unready, "s-2": unready, "s-3": unready}),
				nil, errors.New("no route")),
			want: want{phase: sutrav1.PhaseCreating, available: "False", degraded: "False", replication: "Unknown",
				replicationReason: sutrav1.ReasonLeaderUnreachable, observedGeneration: 4, progressingReason: sutrav1.ReasonScaling},
		},
		{
			name:  "failed: leader lost after running",
			scope: withReplication(podScope(testCluster(2, sutrav1.PhaseRunning), map[string]func(*corev1.Pod){"s-1": unready}), nil, errors.New("no route")),
			want: want{phase: sutrav1.PhaseFailed, available: "False", degraded: "True", replication: "Unknown",
				replicationReason: sutrav1.ReasonLeaderUnreachable, observedGeneration: 4, progressingReason: sutrav1.ReasonScaling},
		},
		{
			name:  "zero replicas",
			scope: withReplication(podScope(testCluster(0, ""), nil), snap(), nil),
			want: want{phase: sutrav1.PhaseRunning, available: "True", degraded: "False", replication: "True",
				replicationReason: sutrav1.ReasonNoReplicas, maxLag: "0ms", observedGeneration: 4, progressingReason: sutrav1.ReasonReconciled, lastStatusTimeUpdated: true},
		},
		{
			name:  "child error keeps the observed generation; pending before the instances are known",
			scope: &scope{cluster: testCluster(2, ""), childErr: errors.New("conflict"), replicationErr: errors.New("x")},
			want: want{phase: sutrav1.PhasePending, available: "False", degraded: "False", replication: "Unknown",
				replicationReason: sutrav1.ReasonLeaderUnreachable, observedGeneration: 0, progressingReason: sutrav1.ReasonScaling},
		},
		{
			name: "wrong node answers: its table is not this cluster's rows",
			scope: withReplication(podScope(testCluster(1, ""), nil),
				&statusclient.Snapshot{NodeID: "s-2", Role: "replica", ClusterID: "ns.s"}, nil),
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
	st := computeStatus(withReplication(podScope(c, nil), snap(streaming("s-2", 1), statusclient.Replica{ID: "s-3.s-peers.ns.svc:50051", State: "configured"}), nil))
	if got := st.ReplicaStatuses[1]; got.Name != "s-3" || got.State != "configured" || got.Healthy {
		t.Errorf("s-3 = %+v, want the configured row found by address", got)
	}
}

func TestReplicaStatusesDetails(t *testing.T) {
	c := testCluster(2, "")
	st := computeStatus(withReplication(podScope(c, nil), snap(streaming("s-3", 7), streaming("s-9", 99999)), nil))
	if len(st.ReplicaStatuses) != 2 || st.ReplicaStatuses[0].Name != "s-2" || st.ReplicaStatuses[1].Name != "s-3" {
		t.Fatalf("statuses = %+v (want desired replicas only, in instance order)", st.ReplicaStatuses)
	}
	r1 := st.ReplicaStatuses[1]
	if !r1.Healthy || r1.LagMs != 7 || r1.LastAppliedSequence != 10 || r1.LastDurableSequence != 9 || r1.FlushLagMs != 9 ||
		r1.LastHeartbeat == nil || !r1.LastHeartbeat.Time.Equal(testNow.Add(-2*time.Second)) {
		t.Errorf("s-3 = %+v (heartbeat truncated to seconds as the API stores it)", r1)
	}
	if st.MaxLagMs != 7 {
		t.Errorf("maxLagMs = %d: a replica no longer desired must not count", st.MaxLagMs)
	}
	if st.Leader.Pod != "s-1" || st.Leader.Endpoint != "s-rw.ns.svc:50051" || st.LeaderSequence != 10 || st.Epoch != 2 {
		t.Errorf("leader = %+v seq %d epoch %d", st.Leader, st.LeaderSequence, st.Epoch)
	}
	if st.CurrentLeader != "s-1" || st.TargetLeader != "s-1" {
		t.Errorf("currentLeader %q targetLeader %q, want s-1", st.CurrentLeader, st.TargetLeader)
	}
	if st.Replicas != 2 || st.ReadyReplicas != 2 {
		t.Errorf("replicas %d ready %d, want 2 2", st.Replicas, st.ReadyReplicas)
	}
}

func TestReplicationConditionDiverged(t *testing.T) {
	tests := []struct {
		name    string
		names   []string
		rows    []statusclient.Replica
		reason  string
		message string
	}{
		{
			name: "one diverged", names: []string{"s-2", "s-3"},
			rows:   []statusclient.Replica{streaming("s-2", 0), diverged("s-3", 120)},
			reason: sutrav1.ReasonReplicaDiverged,
			message: "1 replica diverged from the leader's log: s-3 (shares up to sequence 120); " +
				"see docs/troubleshooting.md#sutrareplicadiverged",
		},
		{
			name: "two diverged, in instance order", names: []string{"s-2", "s-3"},
			rows:   []statusclient.Replica{diverged("s-3", 7), diverged("s-2", 0)},
			reason: sutrav1.ReasonReplicaDiverged,
			message: "2 replicas diverged from the leader's log: s-2 (shares up to sequence 0), s-3 (shares up to sequence 7); " +
				"see docs/troubleshooting.md#sutrareplicadiverged",
		},
		{
			name: "diverged before missing and lagging", names: []string{"s-2", "s-3", "s-4"},
			rows:   []statusclient.Replica{streaming("s-2", 2500), diverged("s-4", 99)},
			reason: sutrav1.ReasonReplicaDiverged,
			message: "1 replica diverged from the leader's log: s-4 (shares up to sequence 99); " +
				"see docs/troubleshooting.md#sutrareplicadiverged; not streaming: s-3 (missing); lagging over 1000ms: s-2 (2500ms)",
		},
		{
			name: "without a diverged replica the reason is unchanged", names: []string{"s-2", "s-3"},
			rows:    []statusclient.Replica{streaming("s-2", 0), {ID: "s-3", State: "catchup", ForkSequence: 5}},
			reason:  sutrav1.ReasonReplicaNotStreaming,
			message: "1 replica is not streaming from the leader: s-3 (catchup)",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testCluster(int32(len(tc.names)), sutrav1.PhaseRunning)
			cond := replicationCondition(c, tc.names, "s-rw.ns.svc:50051", snap(tc.rows...), nil)
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
	st := computeStatus(withReplication(podScope(testCluster(1, sutrav1.PhaseRunning), nil), snap(diverged("s-2", 42)), nil))
	d := meta.FindStatusCondition(st.Conditions, sutrav1.ConditionDegraded)
	if d == nil || d.Status != metav1.ConditionTrue || d.Reason != sutrav1.ReasonReplicaDiverged || !strings.Contains(d.Message, "s-2 (shares up to sequence 42)") {
		t.Errorf("Degraded = %+v", d)
	}
}

func TestReplicaStatusesCopyForkAndSyncState(t *testing.T) {
	c := testCluster(3, "")
	syncRow := streaming("s-2", 0)
	syncRow.SyncState = "sync"
	stale := statusclient.Replica{ID: "s-4", State: "catchup", ForkSequence: 9, SyncState: "async"}
	got := replicaStatuses(c, []string{"s-2", "s-3", "s-4"}, snap(syncRow, diverged("s-3", 120), stale))
	want := []sutrav1.ReplicaStatus{
		{Name: "s-2", State: "streaming", SyncState: "sync", Healthy: true, LastAppliedSequence: 10, LastDurableSequence: 9, FlushLagMs: 2},
		{Name: "s-3", State: "diverged", SyncState: "async", ForkSequence: 120, LastAppliedSequence: 125, LagEntries: 3},
		{Name: "s-4", State: "catchup", SyncState: "async"}, // a fork point only with the diverged state
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
	s := withReplication(podScope(c, nil), snap(streaming("s-2", 1), streaming("s-3", 2)), nil)
	first := computeStatus(s)
	c2 := c.DeepCopy()
	c2.Status = *first
	s2 := *s
	s2.cluster = c2
	s2.now = testNow.Add(time.Minute)
	second := computeStatus(&s2)
	for _, typ := range []string{sutrav1.ConditionAvailable, sutrav1.ConditionReplicationHealthy, sutrav1.ConditionProgressing,
		sutrav1.ConditionFailoverBlocked, sutrav1.ConditionRolloutBlocked} {
		a, b := meta.FindStatusCondition(first.Conditions, typ), meta.FindStatusCondition(second.Conditions, typ)
		if a == nil || b == nil {
			t.Fatalf("%s missing", typ)
		}
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
	c.Status = *computeStatus(withReplication(podScope(c, nil), snap(streaming("s-2", 0), streaming("s-3", 0)), nil))
	notLeader := snap(streaming("s-2", 0), streaming("s-3", 0))
	notLeader.Role = "replica"
	for name, tc := range map[string]struct {
		snap *statusclient.Snapshot
		err  error
	}{
		"unreachable":    {err: errors.New("connection refused")},
		"not the leader": {snap: notLeader},
	} {
		t.Run(name, func(t *testing.T) {
			st := computeStatus(withReplication(podScope(c.DeepCopy(), nil), tc.snap, tc.err))
			if cond := meta.FindStatusCondition(st.Conditions, sutrav1.ConditionReplicationHealthy); cond.Status != metav1.ConditionUnknown {
				t.Errorf("ReplicationHealthy = %s, want Unknown", cond.Status)
			}
			if len(st.ReplicaStatuses) != 2 {
				t.Fatalf("rows: %+v", st.ReplicaStatuses)
			}
			for _, rs := range st.ReplicaStatuses {
				if rs.State != StateUnknown || rs.Healthy || rs.LastAppliedSequence != 10 {
					t.Errorf("%s: state %q healthy %v seq %d, want unknown, false, the last known 10", rs.Name, rs.State, rs.Healthy, rs.LastAppliedSequence)
				}
			}
		})
	}
}

func findCond(t *testing.T, st *sutrav1.SutraClusterStatus, typ string) *metav1.Condition {
	t.Helper()
	c := meta.FindStatusCondition(st.Conditions, typ)
	if c == nil {
		t.Fatalf("condition %s missing", typ)
	}
	return c
}

// Available follows the leader's pod, not any ready pod.
func TestAvailableFromLeaderPod(t *testing.T) {
	tests := []struct {
		name   string
		mod    func(*corev1.Pod) // of s-1, the leader; nil: no pod
		ready  bool
		status metav1.ConditionStatus
		reason string
		msg    string
	}{
		{name: "missing", status: "False", reason: sutrav1.ReasonLeaderNotReady, msg: "leader pod s-1 does not exist"},
		{name: "not ready", mod: unready, status: "False", reason: sutrav1.ReasonLeaderNotReady, msg: "leader pod s-1 is not ready"},
		{name: "terminating while ready", mod: terminating, status: "False", reason: sutrav1.ReasonLeaderTerminating, msg: "leader pod s-1 is terminating (deleted at 2026-03-04T05:06:06Z)"},
		{name: "ready", mod: func(*corev1.Pod) {}, status: "True", reason: sutrav1.ReasonLeaderReady, msg: "leader pod s-1 is ready"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := withReplication(podScope(testCluster(2, sutrav1.PhaseRunning), map[string]func(*corev1.Pod){"s-1": tc.mod}), snap(streaming("s-2", 0), streaming("s-3", 0)), nil)
			cond := findCond(t, computeStatus(s), sutrav1.ConditionAvailable)
			if cond.Status != tc.status || cond.Reason != tc.reason || cond.Message != tc.msg {
				t.Errorf("Available = %s/%s %q, want %s/%s %q", cond.Status, cond.Reason, cond.Message, tc.status, tc.reason, tc.msg)
			}
		})
	}

	// After a failover s-2 leads: its pod decides, and s-1's is a replica's.
	s := podScope(testCluster(2, sutrav1.PhaseRunning), map[string]func(*corev1.Pod){"s-1": unready})
	s.leaderName, s.targetName = "s-2", "s-2"
	st := computeStatus(s)
	if cond := findCond(t, st, sutrav1.ConditionAvailable); cond.Status != metav1.ConditionTrue || cond.Message != "leader pod s-2 is ready" {
		t.Errorf("Available with s-2 leading = %s %q", cond.Status, cond.Message)
	}
	if st.Replicas != 2 || st.ReadyReplicas != 1 {
		t.Errorf("replicas %d ready %d, want 2 1 (s-1 and s-3, s-1 not ready)", st.Replicas, st.ReadyReplicas)
	}
}

func TestProgressing(t *testing.T) {
	tests := []struct {
		name   string
		scope  *scope
		status metav1.ConditionStatus
		reason string
		msg    string
	}{
		{name: "instances unknown", scope: &scope{cluster: testCluster(2, "")}, status: "True", reason: sutrav1.ReasonScaling},
		{name: "outdated pod", scope: podScope(testCluster(2, sutrav1.PhaseRunning), map[string]func(*corev1.Pod){"s-3": outdated}),
			status: "True", reason: sutrav1.ReasonRollingOut, msg: "s-3 to update"},
		{name: "outdated beats missing", scope: podScope(testCluster(2, sutrav1.PhaseRunning), map[string]func(*corev1.Pod){"s-1": outdated, "s-3": nil}),
			status: "True", reason: sutrav1.ReasonRollingOut, msg: "s-1 to update"},
		{name: "missing pod", scope: podScope(testCluster(2, sutrav1.PhaseRunning), map[string]func(*corev1.Pod){"s-3": nil}),
			status: "True", reason: sutrav1.ReasonScaling, msg: "waiting for pods: s-3"},
		{name: "pod not ready", scope: podScope(testCluster(2, sutrav1.PhaseRunning), map[string]func(*corev1.Pod){"s-2": unready}),
			status: "True", reason: sutrav1.ReasonScaling, msg: "waiting for pods: s-2"},
		{name: "terminating pod", scope: podScope(testCluster(2, sutrav1.PhaseRunning), map[string]func(*corev1.Pod){"s-2": terminating}),
			status: "True", reason: sutrav1.ReasonScaling, msg: "waiting for pods: s-2"},
		{name: "all ready and current", scope: podScope(testCluster(2, sutrav1.PhaseRunning), nil),
			status: "False", reason: sutrav1.ReasonReconciled, msg: "leader and 2 replicas are ready and current"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.scope.now = testNow
			cond := findCond(t, computeStatus(tc.scope), sutrav1.ConditionProgressing)
			if cond.Status != tc.status || cond.Reason != tc.reason || !strings.Contains(cond.Message, tc.msg) {
				t.Errorf("Progressing = %s/%s %q, want %s/%s containing %q", cond.Status, cond.Reason, cond.Message, tc.status, tc.reason, tc.msg)
			}
		})
	}
}

func TestPhases(t *testing.T) {
	since := metav1.NewTime(testNow.Add(-time.Minute))
	healthy := func() *statusclient.Snapshot { return snap(streaming("s-2", 0), streaming("s-3", 0)) }
	tests := []struct {
		name     string
		prev     sutrav1.ClusterPhase
		mods     map[string]func(*corev1.Pod)
		setup    func(*scope)
		phase    sutrav1.ClusterPhase
		degraded metav1.ConditionStatus
	}{
		{name: "pending before the instances are known", setup: func(s *scope) { s.instances, s.pods = nil, nil }, phase: sutrav1.PhasePending, degraded: "False"},
		{name: "creating while pods start", mods: map[string]func(*corev1.Pod){"s-3": unready}, phase: sutrav1.PhaseCreating, degraded: "False"},
		{name: "running", prev: sutrav1.PhaseCreating, phase: sutrav1.PhaseRunning, degraded: "False"},
		{name: "running stays running", prev: sutrav1.PhaseRunning, phase: sutrav1.PhaseRunning, degraded: "False"},
		{name: "degraded: a replica down", prev: sutrav1.PhaseRunning, mods: map[string]func(*corev1.Pod){"s-3": unready}, phase: sutrav1.PhaseDegraded, degraded: "True"},
		{name: "failed: leader down, no change under way", prev: sutrav1.PhaseRunning, mods: map[string]func(*corev1.Pod){"s-1": unready},
			setup: func(s *scope) { s.leadership = leadership{current: "s-1", target: "s-1", unavailableSince: &since} },
			phase: sutrav1.PhaseFailed, degraded: "True"},
		{name: "failing over: new target, leader unavailable", prev: sutrav1.PhaseRunning, mods: map[string]func(*corev1.Pod){"s-1": unready},
			setup: func(s *scope) { s.leadership = leadership{current: "s-1", target: "s-2", unavailableSince: &since} },
			phase: sutrav1.PhaseFailingOver, degraded: "True"},
		{name: "switching over: new target, leader available", prev: sutrav1.PhaseRunning,
			setup: func(s *scope) { s.leadership = leadership{current: "s-1", target: "s-2"} },
			phase: sutrav1.PhaseSwitchingOver, degraded: "True"},
		{name: "upgrading: outdated pods of a cluster that was up", prev: sutrav1.PhaseRunning, mods: map[string]func(*corev1.Pod){"s-2": outdated, "s-3": outdated},
			phase: sutrav1.PhaseUpgrading, degraded: "True"},
		{name: "outdated pods of a cluster that was never up are not an upgrade", mods: map[string]func(*corev1.Pod){"s-2": outdated},
			phase: sutrav1.PhaseRunning, degraded: "False"},
		{name: "waiting for instances during a rollout", prev: sutrav1.PhaseUpgrading, mods: map[string]func(*corev1.Pod){"s-2": outdated, "s-3": unready},
			setup: func(s *scope) { s.rollout.waiting = "s-3 is not ready" },
			phase: sutrav1.PhaseWaitingForInstances, degraded: "True"},
		{name: "back to running after the upgrade", prev: sutrav1.PhaseUpgrading, phase: sutrav1.PhaseRunning, degraded: "False"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := withReplication(podScope(testCluster(2, tc.prev), tc.mods), healthy(), nil)
			if tc.setup != nil {
				tc.setup(s)
			}
			st := computeStatus(s)
			if st.Phase != tc.phase {
				t.Errorf("phase = %s, want %s", st.Phase, tc.phase)
			}
			if d := findCond(t, st, sutrav1.ConditionDegraded); d.Status != tc.degraded {
				t.Errorf("Degraded = %s (%s), want %s", d.Status, d.Reason, tc.degraded)
			}
		})
	}
}

func TestBlockedConditions(t *testing.T) {
	tests := []struct {
		name             string
		failover, rollut string
	}{
		{name: "nothing blocked"},
		{name: "failover blocked", failover: "leader s-1 is not ready; no replica is safe to promote"},
		{name: "rollout blocked", rollut: "s-3 (updated) is failing: CrashLoopBackOff"},
		{name: "both", failover: "no safe replica", rollut: "s-2 failing"},
	}
	check := func(t *testing.T, st *sutrav1.SutraClusterStatus, typ, msg, trueReason, falseReason string) {
		t.Helper()
		cond := findCond(t, st, typ)
		switch {
		case msg == "" && (cond.Status != metav1.ConditionFalse || cond.Reason != falseReason):
			t.Errorf("%s = %s/%s, want False/%s", typ, cond.Status, cond.Reason, falseReason)
		case msg != "" && (cond.Status != metav1.ConditionTrue || cond.Reason != trueReason || cond.Message != msg):
			t.Errorf("%s = %s/%s %q, want True/%s %q", typ, cond.Status, cond.Reason, cond.Message, trueReason, msg)
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := withReplication(podScope(testCluster(2, sutrav1.PhaseRunning), nil), snap(streaming("s-2", 0), streaming("s-3", 0)), nil)
			s.leadership = leadership{current: "s-1", target: "s-1", blocked: tc.failover}
			s.rollout.blocked = tc.rollut
			st := computeStatus(s)
			check(t, st, sutrav1.ConditionFailoverBlocked, tc.failover, "NoSafeReplica", "LeaderAvailable")
			check(t, st, sutrav1.ConditionRolloutBlocked, tc.rollut, "InstanceFailing", "RolloutProceeds")
		})
	}
}

// The leadership step's decision reaches status; without it, status keeps
// what it had and names the scope's leader.
func TestLeadershipInStatus(t *testing.T) {
	since := metav1.NewTime(testNow.Add(-30 * time.Second))
	last := &sutrav1.FailoverStatus{Time: metav1.NewTime(testNow.Add(-time.Hour)), From: "s-1", To: "s-2", Reason: sutrav1.FailoverReasonFailover, Epoch: 3}

	t.Run("decided", func(t *testing.T) {
		c := testCluster(2, sutrav1.PhaseRunning)
		s := withReplication(podScope(c, map[string]func(*corev1.Pod){"s-1": unready}), snap(streaming("s-1", 0), streaming("s-3", 0)), nil)
		s.leaderName, s.targetName = "s-2", "s-2"
		s.leadership = leadership{current: "s-2", target: "s-3", unavailableSince: &since, last: last}
		st := computeStatus(s)
		if st.CurrentLeader != "s-2" || st.TargetLeader != "s-3" || st.Leader.Pod != "s-2" {
			t.Errorf("current %q target %q leader pod %q, want s-2 s-3 s-2", st.CurrentLeader, st.TargetLeader, st.Leader.Pod)
		}
		if st.LeaderUnavailableSince == nil || !st.LeaderUnavailableSince.Equal(&since) {
			t.Errorf("leaderUnavailableSince = %v, want %v", st.LeaderUnavailableSince, since)
		}
		if st.LastFailover == nil || *st.LastFailover != *last {
			t.Errorf("lastFailover = %+v, want %+v", st.LastFailover, last)
		}
		var names []string
		for _, rs := range st.ReplicaStatuses {
			names = append(names, rs.Name)
		}
		if !slices.Equal(names, []string{"s-1", "s-3"}) {
			t.Errorf("replica rows = %v, want the instances other than the leader s-2", names)
		}
		if st.Phase != sutrav1.PhaseFailingOver {
			t.Errorf("phase = %s, want FailingOver", st.Phase)
		}
	})
	t.Run("leadership step did not run", func(t *testing.T) {
		c := testCluster(2, sutrav1.PhaseRunning)
		c.Status.CurrentLeader, c.Status.TargetLeader = "s-2", "s-2"
		c.Status.LeaderUnavailableSince, c.Status.LastFailover = &since, last
		s := withReplication(podScope(c, nil), snap(streaming("s-1", 0), streaming("s-3", 0)), nil)
		s.leaderName, s.targetName = "s-2", "s-2"
		st := computeStatus(s)
		if st.CurrentLeader != "s-2" || st.TargetLeader != "s-2" {
			t.Errorf("current %q target %q, want s-2", st.CurrentLeader, st.TargetLeader)
		}
		if st.LeaderUnavailableSince == nil || st.LastFailover == nil || *st.LastFailover != *last {
			t.Errorf("unavailableSince %v lastFailover %+v: want the previous values kept", st.LeaderUnavailableSince, st.LastFailover)
		}
		if len(st.ReplicaStatuses) != 2 || st.ReplicaStatuses[0].Name != "s-1" || st.ReplicaStatuses[1].Name != "s-3" {
			t.Errorf("replica rows = %+v", st.ReplicaStatuses)
		}
	})
	t.Run("new cluster", func(t *testing.T) {
		s := withReplication(podScope(testCluster(2, ""), nil), snap(streaming("s-2", 0), streaming("s-3", 0)), nil)
		st := computeStatus(s)
		if st.CurrentLeader != "s-1" || st.TargetLeader != "s-1" || st.LeaderUnavailableSince != nil || st.LastFailover != nil {
			t.Errorf("current %q target %q since %v last %v", st.CurrentLeader, st.TargetLeader, st.LeaderUnavailableSince, st.LastFailover)
		}
	})
}

// A reconcile whose child step failed reads no replication status: the
// last known condition and rows stay, and nothing is told.
func TestChildErrorKeepsReplication(t *testing.T) {
	c := testCluster(2, sutrav1.PhaseRunning)
	c.Status = *computeStatus(withReplication(podScope(c, nil), snap(streaming("s-2", 0), diverged("s-3", 7)), nil))
	before := c.Status.DeepCopy()
	c.Generation = 5
	for name, s := range map[string]*scope{
		"before the instances are known": {cluster: c.DeepCopy(), now: testNow, childErr: errors.New("conflict")},
		"after the instances are known": func() *scope {
			s := podScope(c.DeepCopy(), nil)
			s.childErr = errors.New("volumes: forbidden")
			return s
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			st := computeStatus(s)
			cond := findCond(t, st, sutrav1.ConditionReplicationHealthy)
			if cond.Status != metav1.ConditionFalse || cond.Reason != sutrav1.ReasonReplicaDiverged {
				t.Errorf("ReplicationHealthy = %s/%s, want the last known False/ReplicaDiverged", cond.Status, cond.Reason)
			}
			if st.ObservedGeneration != 4 {
				t.Errorf("observedGeneration = %d, want 4 kept", st.ObservedGeneration)
			}
			if len(st.ReplicaStatuses) != 2 || st.ReplicaStatuses[1].State != StateDiverged {
				t.Errorf("rows = %+v, want the last known", st.ReplicaStatuses)
			}
			if got := eventsOf(before, st); len(got) != 0 {
				t.Errorf("events = %q, want none", got)
			}
		})
	}
	// A new cluster whose first reconcile fails has no condition to keep.
	st := computeStatus(&scope{cluster: testCluster(2, ""), now: testNow, childErr: errors.New("conflict")})
	if cond := findCond(t, st, sutrav1.ConditionReplicationHealthy); cond.Status != metav1.ConditionUnknown {
		t.Errorf("first reconcile: ReplicationHealthy = %s, want Unknown", cond.Status)
	}
}

// status.instances lists every pod with its role label and whether it runs
// the current template.
func TestInstancesInStatus(t *testing.T) {
	s := podScope(testCluster(2, sutrav1.PhaseRunning), map[string]func(*corev1.Pod){"s-3": outdated})
	st := computeStatus(s)
	if len(st.Instances) != 3 {
		t.Fatalf("instances = %+v", st.Instances)
	}
	want := map[string]struct {
		role     string
		upToDate bool
	}{"s-1": {"leader", true}, "s-2": {"replica", true}, "s-3": {"replica", false}}
	for _, in := range st.Instances {
		w := want[in.Name]
		if in.Role != w.role || in.UpToDate != w.upToDate || !in.Ready {
			t.Errorf("%s: role %q upToDate %v ready %v, want %q %v true", in.Name, in.Role, in.UpToDate, in.Ready, w.role, w.upToDate)
		}
	}
}
