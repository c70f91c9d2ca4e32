package resources

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

// PodMonitorGVK is the Prometheus Operator's PodMonitor kind. The operator
// builds PodMonitors as unstructured objects, so it needs no Prometheus
// Operator Go module and runs where the kind is not installed.
var PodMonitorGVK = schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "PodMonitor"}

// MetricsPath is where the storage server serves Prometheus metrics.
const MetricsPath = "/metrics"

// PodMonitorName is NAME.
func PodMonitorName(c *sutrav1.SutraCluster) string { return c.Name }

// PodMonitor builds NAME, a monitoring.coreos.com/v1 PodMonitor that scrapes
// the metrics port of every storage pod of c (both roles) at /metrics, with
// the labels the alert rules expect (docs/metrics.md): job="sutra" (from
// the pods' app.kubernetes.io/name label), role from storage.sutra.io/role
// and sutra_cluster from storage.sutra.io/cluster.
func PodMonitor(c *sutrav1.SutraCluster) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(PodMonitorGVK)
	u.SetName(PodMonitorName(c))
	u.SetNamespace(c.Namespace)
	u.SetLabels(ClusterLabels(c))
	u.SetOwnerReferences([]metav1.OwnerReference{OwnerReference(c)})

	matchLabels := map[string]any{}
	for k, v := range SelectorLabels(c) {
		matchLabels[k] = v
	}
	u.Object["spec"] = map[string]any{
		"jobLabel": LabelName,
		"selector": map[string]any{"matchLabels": matchLabels},
		"namespaceSelector": map[string]any{
			"matchNames": []any{c.Namespace},
		},
		"podMetricsEndpoints": []any{
			map[string]any{
				"port": MetricsPortName,
				"path": MetricsPath,
				"relabelings": []any{
					map[string]any{
						"sourceLabels": []any{"__meta_kubernetes_pod_label_storage_sutra_io_role"},
						"targetLabel":  "role",
					},
					map[string]any{
						"sourceLabels": []any{"__meta_kubernetes_pod_label_storage_sutra_io_cluster"},
						"targetLabel":  "sutra_cluster",
					},
				},
			},
		},
	}
	return u
}
