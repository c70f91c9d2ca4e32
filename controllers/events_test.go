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
		return computeStatus(withReplication(podScope(c, nil), snap(rows...), nil))
	}
	healthy := statusOf(nil, streaming("s-2", 0), streaming("s-3", 0))
	oneDiverged := statusOf(healthy, streaming("s-2", 0), diverged("s-3", 120))
	bothDiverged := statusOf(oneDiverged, diverged("s-2", 118), diverged("s-3", 120))
	disconnected := statusOf(healthy, streaming("s-2", 0), statusclient.Replica{ID: "s-3", State: "disconnected"})
	down := testCluster(2, sutrav1.PhaseRunning)
	down.Status = *oneDiverged
	unreachable := computeStatus(withReplication(podScope(down, nil), nil, errors.New("connection refused")))
	backAfterUnreachable := statusOf(unreachable, streaming("s-2", 0), diverged("s-3", 120))

	const divergedNote = "Warning ReplicaDiverged replica s-3 diverged from the leader's log after sequence 120; " +
		"the leader refuses to stream into it; see docs/troubleshooting.md#sutrareplicadiverged"
	tests := []struct {
		name          string
		before, after *sutrav1.SutraClusterStatus
		want          []string
	}{
		{name: "healthy to diverged: one diverged warning, no generic one", before: healthy, after: oneDiverged, want: []string{divergedNote}},
		{name: "still diverged: nothing", before: oneDiverged, after: statusOf(oneDiverged, streaming("s-2", 0), diverged("s-3", 120))},
		{name: "a second replica diverges: only it", before: oneDiverged, after: bothDiverged, want: []string{
			"Warning ReplicaDiverged replica s-2 diverged from the leader's log after sequence 118; " +
				"the leader refuses to stream into it; see docs/troubleshooting.md#sutrareplicadiverged"}},
		{name: "not streaming to diverged: the diverged warning", before: disconnected, after: oneDiverged, want: []string{divergedNote}},
		{name: "leader unreachable keeps the table: no diverged warning", before: oneDiverged, after: unreachable,
			want: []string{"Warning LeaderUnreachable cannot read replication status from s-rw.ns.svc:50051: connection refused"}},
		{name: "leader back, replica still diverged: the condition change is told", before: unreachable, after: backAfterUnreachable,
			want: []string{"Warning ReplicationUnhealthy 1 replica diverged from the leader's log: s-3 (shares up to sequence 120); " +
				"see docs/troubleshooting.md#sutrareplicadiverged"}},
		{name: "diverged replica follows again", before: oneDiverged, after: statusOf(oneDiverged, streaming("s-2", 0), streaming("s-3", 0)),
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
		s.now, s.endpoint = testNow, "s-rw.ns.svc:50051"
		st := computeStatus(s)
		c.Status = *st
		return st
	}
	// Each step sees the cluster as the last one left it.
	pods := func(mods map[string]func(*corev1.Pod)) *scope { return podScope(c.DeepCopy(), mods) }
	var all []string
	before := c.Status.DeepCopy()
	for i, s := range []func() *scope{
		func() *scope {
			// The first reconcile fails before the leader is asked.
			return &scope{cluster: c.DeepCopy(), childErr: errors.New("creating")}
		},
		func() *scope {
			return withReplication(pods(map[string]func(*corev1.Pod){"s-1": unready, "s-2": nil, "s-3": nil}), nil, errors.New("connection refused"))
		},
		func() *scope {
			return withReplication(pods(map[string]func(*corev1.Pod){"s-2": unready, "s-3": unready}), snap(), nil)
		},
		func() *scope {
			return withReplication(pods(map[string]func(*corev1.Pod){"s-3": unready}), snap(streaming("s-2", 0),
				statusclient.Replica{ID: "s-3", State: "connecting"}), nil)
		},
		func() *scope {
			return withReplication(pods(nil), snap(streaming("s-2", 0), streaming("s-3", 0)), nil)
		},
	} {
		after := step(s())
		got := eventsOf(before, after)
		noWarnings(t, fmt.Sprintf("step %d (phase %s)", i, after.Phase), got)
		all = append(all, got...)
		before = after
	}
	if c.Status.Phase != sutrav1.PhaseRunning {
		t.Errorf("phase after bootstrap = %s, want Running", c.Status.Phase)
	}
	want := []string{
		"Normal Bootstrapping replication status has not been read yet",
		"Normal Bootstrapping 2 replicas are not streaming from the leader: s-2 (missing), s-3 (missing)",
		"Normal ReplicationHealthy 2 of 2 replicas streaming, max lag 0ms",
	}
	if !slices.Equal(all, want) {
		t.Errorf("events:\n got %q\nwant %q", all, want)
	}
}

func TestScaleUpEmitsNoWarning(t *testing.T) {
	c := testCluster(2, sutrav1.PhaseRunning)
	c.Status = *computeStatus(withReplication(podScope(c, nil), snap(streaming("s-2", 0), streaming("s-3", 0)), nil))
	before := c.Status.DeepCopy()
	c.Spec.Replicas = ptr.To[int32](3)

	// s-4 is a new instance whose pod is not ready yet.
	scaled := computeStatus(withReplication(podScope(c, map[string]func(*corev1.Pod){"s-4": unready}),
		snap(streaming("s-2", 0), streaming("s-3", 0)), nil))
	got := eventsOf(before, scaled)
	noWarnings(t, "scale-up", got)
	want := []string{"Normal ReplicaJoining 1 replica is not streaming from the leader: s-4 (missing)"}
	if !slices.Equal(got, want) {
		t.Errorf("events:\n got %q\nwant %q", got, want)
	}

	// Once the new replica streams, one that stops is still a Warning.
	c.Status = *scaled
	joined := computeStatus(withReplication(podScope(c, nil), snap(streaming("s-2", 0), streaming("s-3", 0), streaming("s-4", 0)), nil))
	if got := eventsOf(scaled, joined); !slices.Equal(got, []string{"Normal ReplicationHealthy 3 of 3 replicas streaming, max lag 0ms"}) {
		t.Errorf("joined: got %q", got)
	}
	c.Status = *joined
	stopped := computeStatus(withReplication(podScope(c, map[string]func(*corev1.Pod){"s-3": unready}),
		snap(streaming("s-2", 0), statusclient.Replica{ID: "s-3", State: "disconnected"}, streaming("s-4", 0)), nil))
	got = eventsOf(joined, stopped)
	want = []string{"Warning ReplicationUnhealthy 1 replica is not streaming from the leader: s-3 (disconnected)"}
	if !slices.Equal(got, want) {
		t.Errorf("after the join, a stopped replica:\n got %q\nwant %q", got, want)
	}
}

// A switchover moves the leader: the old leader becomes a replica row it
// never had. That is not a scale-up, but it is no failure either once it
// streams.
func TestSwitchoverRows(t *testing.T) {
	c := testCluster(2, sutrav1.PhaseRunning)
	c.Status = *computeStatus(withReplication(podScope(c, nil), snap(streaming("s-2", 0), streaming("s-3", 0)), nil))
	before := c.Status.DeepCopy()
	s := withReplication(podScope(c, nil), snap(streaming("s-1", 0), streaming("s-3", 0)), nil)
	s.leaderName, s.targetName = "s-2", "s-2"
	after := computeStatus(s)
	if after.CurrentLeader != "s-2" || len(after.ReplicaStatuses) != 2 || after.ReplicaStatuses[0].Name != "s-1" {
		t.Fatalf("after switchover: leader %q rows %+v", after.CurrentLeader, after.ReplicaStatuses)
	}
	if got := eventsOf(before, after); len(got) != 0 {
		t.Errorf("events = %q, want none: replication stayed healthy", got)
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

	_, first := r.publishStatus(context.Background(), read.DeepCopy(), healthy)
	_, second := r.publishStatus(context.Background(), read.DeepCopy(), healthy)
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
