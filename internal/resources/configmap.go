package resources

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

// TopologyConfigMap builds NAME-topology. Key "replicas" holds the desired
// replicas' addresses, comma-separated in ordinal order (empty for zero
// replicas); the leader reads it from /etc/sutra/replicas and re-reads it when
// the kubelet updates the file, so scaling never restarts the leader. Key
// "leader" holds the leader pod's address.
func TopologyConfigMap(c *sutrav1.SutraCluster) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: objectMeta(c, TopologyConfigMapName(c), nil),
		Data: map[string]string{
			TopologyKey:    TopologyReplicas(c),
			TopologyLeader: LeaderPodAddress(c),
		},
	}
}
