package controllers

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

func TestClusterMetrics(t *testing.T) {
	c := &sutrav1.SutraCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "m"}}
	st := &sutrav1.SutraClusterStatus{Replicas: 2, ReadyReplicas: 1, MaxLagMs: 1500, LeaderSequence: 42,
		ReplicaStatuses: []sutrav1.ReplicaStatus{{Name: "m-2", LagMs: 1500}, {Name: "m-3"}},
		Conditions:      []metav1.Condition{{Type: sutrav1.ConditionReplicationHealthy, Status: metav1.ConditionFalse}}}
	observeMetrics(c, st)
	want := `
# HELP sutra_cluster_replica_lag_seconds Lag of each replica as the leader reported it.
# TYPE sutra_cluster_replica_lag_seconds gauge
sutra_cluster_replica_lag_seconds{name="m",namespace="ns",replica="m-2"} 1.5
sutra_cluster_replica_lag_seconds{name="m",namespace="ns",replica="m-3"} 0
`
	if err := testutil.CollectAndCompare(mReplicaLag, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if v := testutil.ToFloat64(mHealthy.WithLabelValues("ns", "m")); v != 0 {
		t.Fatalf("replication_healthy = %v", v)
	}
	if v := testutil.ToFloat64(mMaxLag.WithLabelValues("ns", "m")); v != 1.5 {
		t.Fatalf("max lag = %v", v)
	}
	forgetMetrics("ns", "m")
	if n := testutil.CollectAndCount(mReplicaLag); n != 0 {
		t.Fatalf("%d series left after the cluster was deleted", n)
	}
}
