package controllers

import (
	"errors"
	"slices"
	"testing"

	"k8s.io/client-go/tools/events"

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
