package kubectlsutra

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

func TestStatus(t *testing.T) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	at := func(d time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(-d)); return &t }
	running := &sutrav1.SutraCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "prod"},
		Spec:       sutrav1.SutraClusterSpec{Image: "x", Replicas: ptr.To[int32](2)},
		Status: sutrav1.SutraClusterStatus{
			Phase:          sutrav1.PhaseDegraded,
			Leader:         &sutrav1.LeaderStatus{Pod: "demo-leader-0", Endpoint: "demo-leader.prod.svc:50051"},
			Epoch:          3,
			LeaderSequence: 1042,
			ReadyReplicas:  1,
			MaxLag:         "1.5s",
			LastStatusTime: at(4 * time.Second),
			ReplicaStatuses: []sutrav1.ReplicaStatus{
				{Name: "demo-replica-0", State: "streaming", Healthy: true, LastAppliedSequence: 1042, LagMs: 3, LastHeartbeat: at(time.Second)},
				{Name: "demo-replica-1", State: "disconnected", LastAppliedSequence: 900, LagEntries: 142, LagMs: 1500, LastHeartbeat: at(2 * time.Minute)},
			},
			Conditions: []metav1.Condition{{Type: sutrav1.ConditionReplicationHealthy, Status: metav1.ConditionFalse,
				Reason: sutrav1.ReasonReplicaNotStreaming, Message: "1 replica is not streaming from the leader: demo-replica-1 (disconnected)"}},
			Instances: []sutrav1.InstanceStatus{
				{Name: "demo-leader-0", Role: "leader", Node: "node-a", Image: "sutra:1.2", Ready: true, Restarts: 0, Phase: "Running"},
				{Name: "demo-replica-0", Role: "replica", Node: "node-b", Image: "sutra:1.2", Ready: true, Restarts: 1, Phase: "Running"},
				{Name: "demo-replica-1", Role: "replica", Node: "node-c", Image: "sutra:1.2", Restarts: 7, Phase: "Running",
					Reason: "CrashLoopBackOff", Message: "back-off 5m0s restarting failed container; last run: exit code 1 (Error): boom"},
				{Name: "demo-replica-2", Role: "replica", Image: "sutra:1.2", Phase: "Pending",
					Reason: "Unschedulable", Message: "0/3 nodes are available: 3 Insufficient memory."},
			},
		},
	}
	fresh := &sutrav1.SutraCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "new", Namespace: "prod"},
		Spec:       sutrav1.SutraClusterSpec{Image: "x"},
	}
	synchronous := &sutrav1.SutraCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "sync", Namespace: "prod"},
		Spec: sutrav1.SutraClusterSpec{Image: "x", Replicas: ptr.To[int32](3),
			Replication: sutrav1.ReplicationSpec{Synchronous: &sutrav1.SynchronousSpec{Replicas: 2}}},
		Status: sutrav1.SutraClusterStatus{
			Phase:       sutrav1.PhaseRunning,
			Synchronous: &sutrav1.SynchronousStatus{Replicas: 2, DataDurability: sutrav1.DataDurabilityRequired, SyncReplicas: 1},
			ReplicaStatuses: []sutrav1.ReplicaStatus{
				{Name: "sync-replica-0", State: "streaming", SyncState: "sync", Healthy: true, LastAppliedSequence: 7},
				{Name: "sync-replica-1", State: "catchup", SyncState: "async", LastAppliedSequence: 5, LagEntries: 2},
			},
		},
	}
	preferredNew := &sutrav1.SutraCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "preferred", Namespace: "prod"},
		Spec: sutrav1.SutraClusterSpec{Image: "x",
			Replication: sutrav1.ReplicationSpec{Synchronous: &sutrav1.SynchronousSpec{Replicas: 1, DataDurability: sutrav1.DataDurabilityPreferred}}},
	}

	tests := []struct {
		name      string
		cluster   string
		want      []string // lines, whitespace-normalised, that must appear
		wantError string
	}{
		{
			name:    "degraded cluster",
			cluster: "demo",
			want: []string{
				"Cluster: prod/demo",
				"Phase: Degraded",
				"Leader: demo-leader-0 (demo-leader.prod.svc:50051)",
				"Epoch / sequence: 3 / 1042",
				"Replicas: 2 desired, 1 ready",
				"Replication: asynchronous",
				"Max lag: 1.5s",
				"Status read: 4s ago",
				"REPLICA STATE SYNC HEALTHY APPLIED LAG ENTRIES LAG LAST HEARTBEAT",
				"demo-replica-0 streaming - yes 1042 0 3ms 1s ago",
				"demo-replica-1 disconnected - no 900 142 1500ms 2m ago",
				"ReplicationHealthy False ReplicaNotStreaming 1 replica is not streaming from the leader: demo-replica-1 (disconnected)",
				"NAME ROLE NODE READY RESTARTS IMAGE REASON",
				"demo-leader-0 leader node-a yes 0 sutra:1.2 -",
				"demo-replica-0 replica node-b yes 1 sutra:1.2 -",
				"demo-replica-1 replica node-c no 7 sutra:1.2 CrashLoopBackOff",
				"demo-replica-2 replica - no 0 sutra:1.2 Unschedulable",
				"demo-replica-1: CrashLoopBackOff: back-off 5m0s restarting failed container; last run: exit code 1 (Error): boom",
				"demo-replica-2: Unschedulable: 0/3 nodes are available: 3 Insufficient memory.",
			},
		},
		{
			name:    "status not written yet",
			cluster: "new",
			want: []string{
				"Phase: -",
				"Leader: - (-)",
				"Replicas: 2 desired, 0 ready",
				"Status read: never",
				"(none reported)",
				"(no pods)",
			},
		},
		{
			name:    "synchronous, one replica short",
			cluster: "sync",
			want: []string{
				"Replication: synchronous, each write confirmed by 2 replicas (required), in sync: 1",
				"sync-replica-0 streaming sync yes 7 0 0ms never",
				"sync-replica-1 catchup async no 5 2 0ms never",
			},
		},
		{
			name:    "synchronous, not counted yet",
			cluster: "preferred",
			want:    []string{"Replication: synchronous, each write confirmed by 1 replica (preferred), in sync: -"},
		},
		{name: "missing", cluster: "nope", wantError: `get sutracluster prod/nope`},
	}

	scheme := runtime.NewScheme()
	if err := sutrav1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(running, fresh, synchronous, preferredNew).Build()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := status(context.Background(), c, "prod", tc.cluster, &out, now)
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) {
					t.Fatalf("err = %v, want %q", err, tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			lines := map[string]bool{}
			for _, l := range strings.Split(out.String(), "\n") {
				lines[strings.Join(strings.Fields(l), " ")] = true
			}
			for _, w := range tc.want {
				if !lines[w] {
					t.Errorf("missing line %q in:\n%s", w, out.String())
				}
			}
		})
	}
}
