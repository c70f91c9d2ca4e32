package controllers

import (
	"context"

	"github.com/sutra/sutra-operator/internal/resources"
)

// reconcileDisruptionBudget applies the PodDisruptionBudget over every node.
func (r *SutraClusterReconciler) reconcileDisruptionBudget(ctx context.Context, s *scope) error {
	return r.applyAll(ctx, s, resources.PodDisruptionBudget(s.cluster))
}
