package controllers

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sutra/sutra-operator/internal/resources"
)

// reconcileDisruptionBudget applies the replicas' PodDisruptionBudget and,
// when the cluster has replicas, the leader's (deleting it otherwise: a
// single instance must not block drains forever).
func (r *SutraClusterReconciler) reconcileDisruptionBudget(ctx context.Context, s *scope) error {
	c := s.cluster
	if err := r.applyAll(ctx, s, resources.PodDisruptionBudget(c)); err != nil {
		return err
	}
	leader := resources.LeaderDisruptionBudget(c)
	if resources.Replicas(c) == 0 {
		return client.IgnoreNotFound(r.Delete(ctx, leader))
	}
	return r.applyAll(ctx, s, leader)
}
