package resources

import (
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

// PodDisruptionBudget builds NAME over the replicas with maxUnavailable 1:
// a drain evicts one replica at a time. An unready pod may always be
// evicted (AlwaysAllow), so a broken pod never blocks a drain.
func PodDisruptionBudget(c *sutrav1.SutraCluster) *policyv1.PodDisruptionBudget {
	maxUnavailable := intstr.FromInt32(1)
	return budget(c, PodDisruptionBudgetName(c), RoleReplica, policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &maxUnavailable})
}

// LeaderDisruptionBudget builds NAME-leader over the leader with
// minAvailable 1: the leader is never evicted while it is ready. A drain of
// its node waits until the operator has switched over to a replica (the
// old leader then falls under the replicas' budget). A cluster without
// replicas has no such budget: there is nothing to switch over to.
func LeaderDisruptionBudget(c *sutrav1.SutraCluster) *policyv1.PodDisruptionBudget {
	minAvailable := intstr.FromInt32(1)
	return budget(c, LeaderDisruptionBudgetName(c), RoleLeader, policyv1.PodDisruptionBudgetSpec{MinAvailable: &minAvailable})
}

func budget(c *sutrav1.SutraCluster, name, role string, spec policyv1.PodDisruptionBudgetSpec) *policyv1.PodDisruptionBudget {
	spec.Selector = &metav1.LabelSelector{MatchLabels: RoleSelectorLabels(c, role)}
	spec.UnhealthyPodEvictionPolicy = ptr.To(policyv1.AlwaysAllow)
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: objectMeta(c, name, map[string]string{LabelRole: role}),
		Spec:       spec,
	}
}
