package resources

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

// TopologyConfigMap builds NAME-topology. Key "replicas" holds every
// instance's address (TopologyReplicas); the leader reads it from
// /etc/sutra/replicas and re-reads it when the kubelet updates the file, so
// scaling never restarts the leader.
func TopologyConfigMap(c *sutrav1.SutraCluster, instances []string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: objectMeta(c, TopologyConfigMapName(c), nil),
		Data:       map[string]string{TopologyKey: TopologyReplicas(c, instances)},
	}
}
