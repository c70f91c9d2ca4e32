package kubectlsutra

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

var testNow = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

func at(d time.Duration) *metav1.Time { t := metav1.NewTime(testNow.Add(-d)); return &t }

// normalisedLines is the output's lines with runs of spaces made one.
func normalisedLines(s string) map[string]bool {
	lines := map[string]bool{}
	for _, l := range strings.Split(s, "\n") {
		lines[strings.Join(strings.Fields(l), " ")] = true
	}
	return lines
}

func degradedCluster() *sutrav1.SutraCluster {
	return &sutrav1.SutraCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "prod", Generation: 4},
		Spec:       sutrav1.SutraClusterSpec{Image: "x", Replicas: ptr.To[int32](2)},
		Status: sutrav1.SutraClusterStatus{
			ObservedGeneration: 4,
			Phase:              sutrav1.PhaseDegraded,
			Leader:             &sutrav1.LeaderStatus{Pod: "demo-leader-0", Endpoint: "demo-leader.prod.svc:50051"},
			CurrentLeader:      "demo-leader-0",
			TargetLeader:       "demo-leader-0",
			Epoch:              3,
			LeaderSequence:     1042,
			ReadyReplicas:      1,
			MaxLag:             "1.5s",
			LastStatusTime:     at(4 * time.Second),
			ReplicaStatuses: []sutrav1.ReplicaStatus{
				{Name: "demo-replica-0", State: "streaming", Healthy: true, LastAppliedSequence: 1042, LastDurableSequence: 1040, LagMs: 3, FlushLagMs: 4,
					LastHeartbeat: at(time.Second)},
				{Name: "demo-replica-1", State: "disconnected", LastAppliedSequence: 900, LastDurableSequence: 880, LagEntries: 142, LagMs: 1500,
					FlushLagMs: 1620, LastHeartbeat: at(2 * time.Minute)},
			},
			Conditions: []metav1.Condition{
				{Type: sutrav1.ConditionAvailable, Status: metav1.ConditionTrue, Reason: sutrav1.ReasonLeaderReady},
				{Type: sutrav1.ConditionProgressing, Status: metav1.ConditionFalse, Reason: sutrav1.ReasonReconciled},
				{Type: sutrav1.ConditionReplicationHealthy, Status: metav1.ConditionFalse,
					Reason: sutrav1.ReasonReplicaNotStreaming, Message: "1 replica is not streaming from the leader: demo-replica-1 (disconnected)"},
			},
			Instances: []sutrav1.InstanceStatus{
				{Name: "demo-leader-0", Role: "leader", Node: "node-a", Image: "sutra:1.2", Ready: true, UpToDate: true, Phase: "Running"},
				{Name: "demo-replica-0", Role: "replica", Node: "node-b", Image: "sutra:1.2", Ready: true, UpToDate: true, Restarts: 1, Phase: "Running"},
				{Name: "demo-replica-1", Role: "replica", Node: "node-c", Image: "sutra:1.2", Restarts: 7, Phase: "Running",
					Reason: "CrashLoopBackOff", Message: "back-off 5m0s restarting failed container; last run: exit code 1 (Error): boom"},
				{Name: "demo-replica-2", Role: "replica", Image: "sutra:1.2", Phase: "Pending",
					Reason: "Unschedulable", Message: "0/3 nodes are available: 3 Insufficient memory."},
			},
		},
	}
}

func TestPrintStatus(t *testing.T) {
	failedOver := degradedCluster()
	failedOver.Status.Phase = sutrav1.PhaseFailingOver
	failedOver.Status.CurrentLeader = "demo-replica-0"
	failedOver.Status.TargetLeader = "demo-replica-1"
	failedOver.Status.LastFailover = &sutrav1.FailoverStatus{Time: *at(90 * time.Second), From: "demo-leader-0", To: "demo-replica-0",
		Reason: sutrav1.FailoverReasonFailover, Epoch: 3, EntriesLost: 12}
	failedOver.Status.Conditions = append(failedOver.Status.Conditions,
		metav1.Condition{Type: sutrav1.ConditionFailoverBlocked, Status: metav1.ConditionTrue, Reason: "NoSafeReplica",
			Message: "no replica holds every acknowledged write"},
		metav1.Condition{Type: sutrav1.ConditionRolloutBlocked, Status: metav1.ConditionTrue, Reason: "NotCaughtUp",
			Message: "demo-replica-1 did not catch up"})

	stale := degradedCluster()
	stale.Status.LastStatusTime = at(31 * time.Second) // 3x the default 10s is 30s
	staleCustom := degradedCluster()
	staleCustom.Spec.StatusPollInterval = metav1.Duration{Duration: time.Minute}
	staleCustom.Status.LastStatusTime = at(2 * time.Minute) // within 3x 1m
	behind := degradedCluster()
	behind.Generation = 5

	healthy := degradedCluster()
	healthy.Status.Conditions = healthy.Status.Conditions[:2]

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
				{Name: "sync-replica-0", State: "streaming", SyncState: "sync", Healthy: true, LastAppliedSequence: 7, LastDurableSequence: 7},
				{Name: "sync-replica-1", State: "catchup", SyncState: "async", LastAppliedSequence: 5, LastDurableSequence: 4, LagEntries: 2, FlushLagMs: 9},
			},
		},
	}
	preferredNew := &sutrav1.SutraCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "preferred", Namespace: "prod"},
		Spec: sutrav1.SutraClusterSpec{Image: "x",
			Replication: sutrav1.ReplicationSpec{Synchronous: &sutrav1.SynchronousSpec{Replicas: 1, DataDurability: sutrav1.DataDurabilityPreferred}}},
	}
	onTLS := degradedCluster()
	onTLS.Spec.TLS.Mode = sutrav1.TLSEnabled
	onTLS.Status.Certificates = []sutrav1.CertificateStatus{
		{SecretName: "demo-ca", CA: true, NotAfter: *at(-87600 * time.Hour)},
		{SecretName: "demo-1-tls", Identity: "urn:sutra:node:demo-1", NotAfter: *at(-48 * time.Hour)},
		{SecretName: "demo-client", Identity: "urn:sutra:writer:demo", NotAfter: *at(-2000 * time.Hour)},
	}
	plaintext := degradedCluster()
	plaintext.Spec.TLS.Mode = sutrav1.TLSDisabled
	oldOperator := degradedCluster() // writes status.leader but not currentLeader
	oldOperator.Status.CurrentLeader, oldOperator.Status.TargetLeader = "", ""

	tests := []struct {
		name    string
		cluster *sutrav1.SutraCluster
		want    []string // lines, whitespace-normalised, that must appear
		notWant []string // substrings that must not appear
		first   string   // the first line, when it matters
	}{
		{
			name:    "degraded cluster",
			cluster: degradedCluster(),
			first:   "Cluster:           prod/demo",
			want: []string{
				"Cluster: prod/demo",
				"Phase: Degraded",
				"Leader: demo-leader-0 (demo-leader.prod.svc:50051)",
				"Epoch / sequence: 3 / 1042",
				"Last failover: none",
				"Replicas: 2 desired, 1 ready",
				"Replication: asynchronous",
				"Max lag: 1.5s",
				"Status read: 4s ago",
				"REPLICA STATE SYNC HEALTHY APPLIED DURABLE LAG ENTRIES LAG FLUSH LAG LAST HEARTBEAT",
				"demo-replica-0 streaming - yes 1042 1040 0 3ms 4ms 1s ago",
				"demo-replica-1 disconnected - no 900 880 142 1500ms 1620ms 2m ago",
				"CONDITION STATUS REASON MESSAGE",
				"ReplicationHealthy False ReplicaNotStreaming 1 replica is not streaming from the leader: demo-replica-1 (disconnected)",
				"POD ROLE NODE READY RESTARTS IMAGE UP-TO-DATE REASON",
				"demo-leader-0 leader node-a yes 0 sutra:1.2 yes -",
				"demo-replica-0 replica node-b yes 1 sutra:1.2 yes -",
				"demo-replica-1 replica node-c no 7 sutra:1.2 no CrashLoopBackOff",
				"demo-replica-2 replica - no 0 sutra:1.2 no Unschedulable",
				"demo-replica-1: CrashLoopBackOff: back-off 5m0s restarting failed container; last run: exit code 1 (Error): boom",
				"demo-replica-2: Unschedulable: 0/3 nodes are available: 3 Insufficient memory.",
			},
			notWant: []string{"Warning", "switching to", "Available", "Progressing"},
		},
		{
			name:    "after a failover, switching again, failover and rollout blocked",
			cluster: failedOver,
			want: []string{
				"Phase: FailingOver",
				"Leader: demo-replica-0 (demo-leader.prod.svc:50051)",
				"Target leader: switching to demo-replica-1",
				"Last failover: 90s ago (2026-05-06T07:06:39Z): demo-leader-0 -> demo-replica-0, Failover, epoch 3, 12 entries lost",
				"FailoverBlocked True NoSafeReplica no replica holds every acknowledged write",
				"RolloutBlocked True NotCaughtUp demo-replica-1 did not catch up",
			},
			notWant: []string{"Warning"},
		},
		{
			name:    "status not read for more than 3 poll intervals",
			cluster: stale,
			first:   "Warning: status is stale: last read 31s ago, more than 3x the status poll interval (10s); is the operator running?",
		},
		{
			name:    "spec.statusPollInterval widens the stale threshold",
			cluster: staleCustom,
			want:    []string{"Status read: 2m ago"},
			notWant: []string{"Warning"},
		},
		{
			name:    "observedGeneration behind generation",
			cluster: behind,
			first:   "Warning: status is behind the spec: observedGeneration 4 < generation 5; the operator has not reconciled the latest change",
		},
		{
			name:    "every condition healthy",
			cluster: healthy,
			want:    []string{"Conditions: all healthy"},
			notWant: []string{"CONDITION"},
		},
		{
			name:    "operator without currentLeader",
			cluster: oldOperator,
			want:    []string{"Leader: demo-leader-0 (demo-leader.prod.svc:50051)"},
			notWant: []string{"switching to"},
		},
		{
			name:    "status not written yet",
			cluster: fresh,
			want: []string{
				"Phase: -",
				"Leader: - (-)",
				"Replicas: 2 desired, 0 ready",
				"Status read: never",
				"(none reported)",
				"(no pods)",
				"Conditions: none reported",
			},
			notWant: []string{"Warning"},
		},
		{
			name:    "synchronous, one replica short",
			cluster: synchronous,
			want: []string{
				"Replication: synchronous, each write confirmed by 2 replicas (required), in sync: 1",
				"sync-replica-0 streaming sync yes 7 7 0 0ms 0ms never",
				"sync-replica-1 catchup async no 5 4 2 0ms 9ms never",
			},
		},
		{
			name:    "mutual TLS: the certificate that expires first",
			cluster: onTLS,
			want:    []string{"TLS: mutual TLS; 3 certificates; first to expire: demo-1-tls in 48h0m0s (" + testNow.Add(48*time.Hour).UTC().Format(time.DateOnly) + ")"},
		},
		{
			name:    "plaintext by choice",
			cluster: plaintext,
			want:    []string{"TLS: disabled (plaintext, no authentication)"},
		},
		{
			name:    "synchronous, not counted yet",
			cluster: preferredNew,
			want:    []string{"Replication: synchronous, each write confirmed by 1 replica (preferred), in sync: -"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := printStatus(&out, tc.cluster, testNow); err != nil {
				t.Fatal(err)
			}
			s := out.String()
			if first, _, _ := strings.Cut(s, "\n"); tc.first != "" && first != tc.first {
				t.Errorf("first line = %q, want %q", first, tc.first)
			}
			lines := normalisedLines(s)
			for _, w := range tc.want {
				if !lines[w] {
					t.Errorf("missing line %q in:\n%s", w, s)
				}
			}
			for _, nw := range tc.notWant {
				if strings.Contains(s, nw) {
					t.Errorf("output has %q:\n%s", nw, s)
				}
			}
		})
	}
}

func TestPrintObject(t *testing.T) {
	sc := degradedCluster()
	sc.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "sutra-operator"}}
	for _, format := range []string{"json", "yaml"} {
		t.Run(format, func(t *testing.T) {
			var out bytes.Buffer
			if err := printObject(&out, sc, format); err != nil {
				t.Fatal(err)
			}
			got := &sutrav1.SutraCluster{}
			unmarshal := json.Unmarshal
			if format == "yaml" {
				unmarshal = func(b []byte, v any) error { return yaml.UnmarshalStrict(b, v) }
			}
			if err := unmarshal(out.Bytes(), got); err != nil {
				t.Fatalf("output does not parse back: %v\n%s", err, out.String())
			}
			if got.APIVersion != "storage.sutra.io/v1alpha1" || got.Kind != "SutraCluster" {
				t.Errorf("apiVersion, kind = %q, %q", got.APIVersion, got.Kind)
			}
			if got.ManagedFields != nil {
				t.Errorf("managedFields printed: %v", got.ManagedFields)
			}
			want := sc.DeepCopy()
			want.TypeMeta, want.ManagedFields = got.TypeMeta, nil
			if !apiequality.Semantic.DeepEqual(got, want) {
				t.Errorf("parsed back:\n%+v\nwant:\n%+v", got, want)
			}
			if len(sc.ManagedFields) != 1 || sc.Kind != "" {
				t.Error("printObject changed its argument")
			}
		})
	}
}

func TestConditionHealthyByType(t *testing.T) {
	for _, tc := range []struct {
		typ    string
		status metav1.ConditionStatus
		want   bool
	}{
		{sutrav1.ConditionAvailable, metav1.ConditionTrue, true},
		{sutrav1.ConditionAvailable, metav1.ConditionFalse, false},
		{sutrav1.ConditionFenced, metav1.ConditionFalse, true},
		{sutrav1.ConditionFenced, metav1.ConditionTrue, false},
		{sutrav1.ConditionFailoverBlocked, metav1.ConditionTrue, false},
		{sutrav1.ConditionRolloutBlocked, metav1.ConditionFalse, true},
	} {
		if got := conditionHealthy(metav1.Condition{Type: tc.typ, Status: tc.status}); got != tc.want {
			t.Errorf("%s=%s healthy = %v, want %v", tc.typ, tc.status, got, tc.want)
		}
	}
}
