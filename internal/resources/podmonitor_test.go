package resources

import (
	"encoding/json"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

func TestPodMonitor(t *testing.T) {
	tests := []struct {
		name    string
		cluster *sutrav1.SutraCluster
		wantSel map[string]string
		wantNS  string
	}{
		{
			name:    "defaults",
			cluster: cluster(),
			wantSel: map[string]string{"app.kubernetes.io/name": "sutra", "storage.sutra.io/cluster": "demo"},
			wantNS:  "prod",
		},
		{
			name: "other name, namespace and metrics port",
			cluster: cluster(func(c *sutrav1.SutraCluster) {
				c.Name, c.Namespace = "orders", "shop"
				c.Spec.Ports.Metrics = 9400
				c.Spec.Monitoring.EnablePodMonitor = true
			}),
			wantSel: map[string]string{"app.kubernetes.io/name": "sutra", "storage.sutra.io/cluster": "orders"},
			wantNS:  "shop",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cluster
			pm := PodMonitor(c)

			if gvk := pm.GroupVersionKind(); gvk.String() != "monitoring.coreos.com/v1, Kind=PodMonitor" {
				t.Errorf("kind = %s", gvk)
			}
			if pm.GetName() != c.Name || pm.GetNamespace() != tc.wantNS {
				t.Errorf("name = %s/%s, want %s/%s", pm.GetNamespace(), pm.GetName(), tc.wantNS, c.Name)
			}
			if !reflect.DeepEqual(pm.GetLabels(), ClusterLabels(c)) {
				t.Errorf("labels = %v, want %v", pm.GetLabels(), ClusterLabels(c))
			}
			refs := pm.GetOwnerReferences()
			if len(refs) != 1 || refs[0].Kind != "SutraCluster" || refs[0].Name != c.Name || refs[0].UID != c.UID ||
				refs[0].Controller == nil || !*refs[0].Controller {
				t.Errorf("owner references = %+v, want the cluster as controller", refs)
			}

			sel, _, err := unstructured.NestedStringMap(pm.Object, "spec", "selector", "matchLabels")
			if err != nil || !reflect.DeepEqual(sel, tc.wantSel) {
				t.Errorf("selector = %v (%v), want %v", sel, err, tc.wantSel)
			}
			if !reflect.DeepEqual(sel, SelectorLabels(c)) {
				t.Errorf("selector %v differs from SelectorLabels %v", sel, SelectorLabels(c))
			}
			ns, _, _ := unstructured.NestedStringSlice(pm.Object, "spec", "namespaceSelector", "matchNames")
			if !reflect.DeepEqual(ns, []string{tc.wantNS}) {
				t.Errorf("namespaceSelector = %v", ns)
			}
			if job, _, _ := unstructured.NestedString(pm.Object, "spec", "jobLabel"); job != LabelName {
				t.Errorf("jobLabel = %q, want %q (its value on the pods is job=\"sutra\")", job, LabelName)
			}

			eps, _, err := unstructured.NestedSlice(pm.Object, "spec", "podMetricsEndpoints")
			if err != nil || len(eps) != 1 {
				t.Fatalf("podMetricsEndpoints = %v (%v), want one", eps, err)
			}
			ep := eps[0].(map[string]any)
			if ep["port"] != "metrics" || ep["path"] != "/metrics" {
				t.Errorf("endpoint = %v, want port metrics, path /metrics", ep)
			}
			targets := map[string]string{}
			for _, r := range ep["relabelings"].([]any) {
				rl := r.(map[string]any)
				targets[rl["targetLabel"].(string)] = rl["sourceLabels"].([]any)[0].(string)
			}
			wantTargets := map[string]string{
				"role":          "__meta_kubernetes_pod_label_storage_sutra_io_role",
				"sutra_cluster": "__meta_kubernetes_pod_label_storage_sutra_io_cluster",
			}
			if !reflect.DeepEqual(targets, wantTargets) {
				t.Errorf("relabelings = %v, want %v", targets, wantTargets)
			}

			// The object is plain JSON data (what server-side apply sends) and
			// its copy is independent.
			if _, err := json.Marshal(pm.Object); err != nil {
				t.Errorf("marshal: %v", err)
			}
			cp := pm.DeepCopy()
			if !reflect.DeepEqual(cp.Object, pm.Object) {
				t.Error("DeepCopy differs")
			}
		})
	}
}

// TestPodMonitorPortMatchesPods: the PodMonitor scrapes the container port
// every instance's pod names metrics.
func TestPodMonitorPortMatchesPods(t *testing.T) {
	c := cluster()
	eps, _, _ := unstructured.NestedSlice(PodMonitor(c).Object, "spec", "podMetricsEndpoints")
	port := eps[0].(map[string]any)["port"]
	for _, pod := range []*corev1.Pod{Pod(c, "demo-1", RoleLeader, ""), Pod(c, "demo-2", RoleReplica, "x:1")} {
		found := false
		for _, p := range pod.Spec.Containers[0].Ports {
			if p.Name == port && p.ContainerPort == MetricsPort(c) {
				found = true
			}
		}
		if !found {
			t.Errorf("no container port named %v on the pods of %s", port, pod.Name)
		}
	}
}
