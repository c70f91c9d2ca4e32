package resources

import (
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

// PodDisruptionBudget builds NAME over every node with maxUnavailable 1: a
// drain takes one node at a time, so the leader and a replica are never
// evicted together. An unready pod may always be evicted
// (AlwaysAllow), so a broken pod never blocks a drain.
func PodDisruptionBudget(c *sutrav1.SutraCluster) *policyv1.PodDisruptionBudget {
	maxUnavailable := intstr.FromInt32(1)
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: objectMeta(c, PodDisruptionBudgetName(c), nil),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable:             &maxUnavailable,
			Selector:                   &metav1.LabelSelector{MatchLabels: SelectorLabels(c)},
			UnhealthyPodEvictionPolicy: ptr.To(policyv1.AlwaysAllow),
		},
	}
}
