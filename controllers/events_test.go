package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/statusclient"
)

func TestRecordTransitionsDiverged(t *testing.T) {
	statusOf := func(before *sutrav1.SutraClusterStatus, rows ...statusclient.Replica) *sutrav1.SutraClusterStatus {
		c := testCluster(2, sutrav1.PhaseRunning)
		if before != nil {
			c.Status = *before
		}
		return computeStatus(&scope{cluster: c, now: testNow, leader: sts("s-leader", 1, 1), replicas: sts("s-replica", 2, 2), replication: snap(rows...)})
	}
	healthy := statusOf(nil, streaming("s-replica-0", 0), streaming("s-replica-1", 0))
	oneDiverged := statusOf(healthy, streaming("s-replica-0", 0), diverged("s-replica-1", 120))
	bothDiverged := statusOf(oneDiverged, diverged("s-replica-0", 118), diverged("s-replica-1", 120))
	disconnected := statusOf(healthy, streaming("s-replica-0", 0), statusclient.Replica{ID: "s-replica-1", State: "disconnected"})
	down := testCluster(2, sutrav1.PhaseRunning)
	down.Status = *oneDiverged
	unreachable := computeStatus(&scope{cluster: down, now: testNow, endpoint: "s-leader.ns.svc:50051",
		leader: sts("s-leader", 1, 1), replicas: sts("s-replica", 2, 2), replicationErr: errors.New("connection refused")})
	backAfterUnreachable := statusOf(unreachable, streaming("s-replica-0", 0), diverged("s-replica-1", 120))

	const divergedNote = "Warning ReplicaDiverged replica s-replica-1 diverged from the leader's log after sequence 120; " +
		"the leader refuses to stream into it; see docs/troubleshooting.md#sutrareplicadiverged"
	tests := []struct {
		name          string
		before, after *sutrav1.SutraClusterStatus
		want          []string
	}{
		{name: "healthy to diverged: one diverged warning, no generic one", before: healthy, after: oneDiverged, want: []string{divergedNote}},
		{name: "still diverged: nothing", before: oneDiverged, after: statusOf(oneDiverged, streaming("s-replica-0", 0), diverged("s-replica-1", 120))},
		{name: "a second replica diverges: only it", before: oneDiverged, after: bothDiverged, want: []string{
			"Warning ReplicaDiverged replica s-replica-0 diverged from the leader's log after sequence 118; " +
				"the leader refuses to stream into it; see docs/troubleshooting.md#sutrareplicadiverged"}},
		{name: "not streaming to diverged: the diverged warning", before: disconnected, after: oneDiverged, want: []string{divergedNote}},
		{name: "leader unreachable keeps the table: no diverged warning", before: oneDiverged, after: unreachable,
			want: []string{"Warning LeaderUnreachable cannot read replication status from s-leader.ns.svc:50051: connection refused"}},
		{name: "leader back, replica still diverged: the condition change is told", before: unreachable, after: backAfterUnreachable,
			want: []string{"Warning ReplicationUnhealthy 1 replica diverged from the leader's log: s-replica-1 (shares up to sequence 120); " +
				"see docs/troubleshooting.md#sutrareplicadiverged"}},
		{name: "diverged replica follows again", before: oneDiverged, after: statusOf(oneDiverged, streaming("s-replica-0", 0), streaming("s-replica-1", 0)),
			want: []string{"Normal ReplicationHealthy 2 of 2 replicas streaming, max lag 0ms"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := events.NewFakeRecorder(10)
			r := &SutraClusterReconciler{Recorder: rec}
			r.recordTransitions(testCluster(2, sutrav1.PhaseRunning), tc.before, tc.after)
			close(rec.Events)
			var got []string
			for e := range rec.Events {
				got = append(got, e)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("events:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// eventsOf runs recordTransitions from before to after and returns what it
// recorded.
func eventsOf(before, after *sutrav1.SutraClusterStatus) []string {
	rec := events.NewFakeRecorder(10)
	r := &SutraClusterReconciler{Recorder: rec}
	r.recordTransitions(testCluster(2, sutrav1.PhaseRunning), before, after)
	close(rec.Events)
	var got []string
	for e := range rec.Events {
		got = append(got, e)
	}
	return got
}

func noWarnings(t *testing.T, step string, got []string) {
	t.Helper()
	for _, e := range got {
		if strings.HasPrefix(e, corev1.EventTypeWarning) {
			t.Errorf("%s: Warning event %q", step, e)
		}
	}
}

func TestBootstrapEmitsNoWarning(t *testing.T) {
	c := testCluster(2, "")
	step := func(s *scope) *sutrav1.SutraClusterStatus {
		s.cluster, s.now, s.endpoint = c.DeepCopy(), testNow, "s-leader.ns.svc:50051"
		st := computeStatus(s)
		c.Status = *st
		return st
	}
	var all []string
	before := c.Status.DeepCopy()
	for i, s := range []*scope{
		{childErr: errors.New("creating"), replicationErr: errors.New("connection refused")},
		{leader: sts("s-leader", 1, 0), replicas: sts("s-replica", 2, 0), replicationErr: errors.New("connection refused")},
		{leader: sts("s-leader", 1, 1), replicas: sts("s-replica", 2, 0), replication: snap()},
		{leader: sts("s-leader", 1, 1), replicas: sts("s-replica", 2, 1), replication: snap(streaming("s-replica-0", 0),
			statusclient.Replica{ID: "s-replica-1", State: "connecting"})},
		{leader: sts("s-leader", 1, 1), replicas: sts("s-replica", 2, 2), replication: snap(streaming("s-replica-0", 0), streaming("s-replica-1", 0))},
	} {
		after := step(s)
		got := eventsOf(before, after)
		noWarnings(t, fmt.Sprintf("step %d (phase %s)", i, after.Phase), got)
		all = append(all, got...)
		before = after
	}
	want := []string{
		"Normal Bootstrapping cannot read replication status from s-leader.ns.svc:50051: connection refused",
		"Normal Bootstrapping 2 replicas are not streaming from the leader: s-replica-0 (missing), s-replica-1 (missing)",
		"Normal ReplicationHealthy 2 of 2 replicas streaming, max lag 0ms",
	}
	if !slices.Equal(all, want) {
		t.Errorf("events:\n got %q\nwant %q", all, want)
	}
}

func TestScaleUpEmitsNoWarning(t *testing.T) {
	c := testCluster(2, sutrav1.PhaseRunning)
	c.Status = *computeStatus(&scope{cluster: c, now: testNow, leader: sts("s-leader", 1, 1), replicas: sts("s-replica", 2, 2),
		replication: snap(streaming("s-replica-0", 0), streaming("s-replica-1", 0))})
	before := c.Status.DeepCopy()
	c.Spec.Replicas = ptr.To[int32](3)

	scaled := computeStatus(&scope{cluster: c, now: testNow, leader: sts("s-leader", 1, 1), replicas: sts("s-replica", 3, 2),
		replication: snap(streaming("s-replica-0", 0), streaming("s-replica-1", 0))})
	got := eventsOf(before, scaled)
	noWarnings(t, "scale-up", got)
	want := []string{"Normal ReplicaJoining 1 replica is not streaming from the leader: s-replica-2 (missing)"}
	if !slices.Equal(got, want) {
		t.Errorf("events:\n got %q\nwant %q", got, want)
	}

	// Once the new replica streams, one that stops is still a Warning.
	c.Status = *scaled
	joined := computeStatus(&scope{cluster: c, now: testNow, leader: sts("s-leader", 1, 1), replicas: sts("s-replica", 3, 3),
		replication: snap(streaming("s-replica-0", 0), streaming("s-replica-1", 0), streaming("s-replica-2", 0))})
	if got := eventsOf(scaled, joined); !slices.Equal(got, []string{"Normal ReplicationHealthy 3 of 3 replicas streaming, max lag 0ms"}) {
		t.Errorf("joined: got %q", got)
	}
	c.Status = *joined
	stopped := computeStatus(&scope{cluster: c, now: testNow, leader: sts("s-leader", 1, 1), replicas: sts("s-replica", 3, 2),
		replication: snap(streaming("s-replica-0", 0), statusclient.Replica{ID: "s-replica-1", State: "disconnected"}, streaming("s-replica-2", 0))})
	got = eventsOf(joined, stopped)
	want = []string{"Warning ReplicationUnhealthy 1 replica is not streaming from the leader: s-replica-1 (disconnected)"}
	if !slices.Equal(got, want) {
		t.Errorf("after the join, a stopped replica:\n got %q\nwant %q", got, want)
	}
}

func conditionReplication(status metav1.ConditionStatus, reason string) metav1.Condition {
	return metav1.Condition{Type: sutrav1.ConditionReplicationHealthy, Status: status, Reason: reason, Message: reason,
		LastTransitionTime: metav1.NewTime(testNow)}
}

// TestOneTransitionOneEvent: two reconciles that start from the same status
// (the second from a cache that has not yet seen the first's write) tell the
// transition once.
func TestOneTransitionOneEvent(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := sutrav1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	stored := testCluster(2, sutrav1.PhaseDegraded)
	stored.Status.Conditions = []metav1.Condition{conditionReplication(metav1.ConditionFalse, sutrav1.ReasonReplicaNotStreaming)}
	cl := fake.NewClientBuilder().WithScheme(scheme).WithObjects(stored).WithStatusSubresource(stored).Build()
	read := &sutrav1.SutraCluster{}
	if err := cl.Get(context.Background(), client.ObjectKeyFromObject(stored), read); err != nil {
		t.Fatal(err)
	}
	rec := events.NewFakeRecorder(10)
	r := &SutraClusterReconciler{Client: cl, Recorder: rec}
	healthy := read.Status.DeepCopy()
	healthy.Phase = sutrav1.PhaseRunning
	healthy.Conditions = []metav1.Condition{conditionReplication(metav1.ConditionTrue, sutrav1.ReasonAllReplicasStreaming)}

	first := r.publishStatus(context.Background(), read.DeepCopy(), healthy)
	second := r.publishStatus(context.Background(), read.DeepCopy(), healthy)
	close(rec.Events)
	var got []string
	for e := range rec.Events {
		got = append(got, e)
	}
	t.Logf("first write: %v; second write from the stale read: %v", first, second)
	if want := []string{"Normal ReplicationHealthy AllReplicasStreaming"}; !slices.Equal(got, want) {
		t.Errorf("events:\n got %q\nwant %q", got, want)
	}
	if first != nil || !apierrors.IsConflict(second) {
		t.Errorf("writes: first %v, second %v; want nil and a Conflict", first, second)
	}
}
