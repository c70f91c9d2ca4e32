package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

// Cluster status as the operator last observed it, on the manager's
// /metrics next to controller-runtime's reconcile metrics. The storage
// nodes export the same lag themselves; these series let one scrape of the
// operator watch every cluster, and they vanish when a cluster is deleted.
var (
	clusterLabels = []string{"namespace", "name"}
	mReplicas     = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sutra_cluster_replicas",
		Help: "Desired replicas of a SutraCluster (the leader not counted)."}, clusterLabels)
	mReady = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sutra_cluster_ready_replicas",
		Help: "Replica pods ready."}, clusterLabels)
	mMaxLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sutra_cluster_max_lag_seconds",
		Help: "Largest replica lag reported by the leader."}, clusterLabels)
	mLeaderSeq = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sutra_cluster_leader_sequence",
		Help: "Leader's last durable sequence."}, clusterLabels)
	mHealthy = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sutra_cluster_replication_healthy",
		Help: "1 when the ReplicationHealthy condition is True, 0 when False, -1 when Unknown."}, clusterLabels)
	mReplicaLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sutra_cluster_replica_lag_seconds",
		Help: "Lag of each replica as the leader reported it."}, append(clusterLabels, "replica"))
)

func init() {
	metrics.Registry.MustRegister(mReplicas, mReady, mMaxLag, mLeaderSeq, mHealthy, mReplicaLag)
}

// observeMetrics publishes a computed status.
func observeMetrics(c *sutrav1.SutraCluster, st *sutrav1.SutraClusterStatus) {
	l := []string{c.Namespace, c.Name}
	mReplicas.WithLabelValues(l...).Set(float64(st.Replicas))
	mReady.WithLabelValues(l...).Set(float64(st.ReadyReplicas))
	mMaxLag.WithLabelValues(l...).Set(float64(st.MaxLagMs) / 1000)
	mLeaderSeq.WithLabelValues(l...).Set(float64(st.LeaderSequence))
	healthy := -1.0
	if cond := meta.FindStatusCondition(st.Conditions, sutrav1.ConditionReplicationHealthy); cond != nil {
		switch cond.Status {
		case "True":
			healthy = 1
		case "False":
			healthy = 0
		}
	}
	mHealthy.WithLabelValues(l...).Set(healthy)
	mReplicaLag.DeletePartialMatch(map[string]string{"namespace": c.Namespace, "name": c.Name})
	for _, r := range st.ReplicaStatuses {
		mReplicaLag.WithLabelValues(c.Namespace, c.Name, r.Name).Set(float64(r.LagMs) / 1000)
	}
}

// forgetMetrics drops a deleted cluster's series.
func forgetMetrics(namespace, name string) {
	m := map[string]string{"namespace": namespace, "name": name}
	for _, v := range []*prometheus.GaugeVec{mReplicas, mReady, mMaxLag, mLeaderSeq, mHealthy, mReplicaLag} {
		v.DeletePartialMatch(m)
	}
}
