package controllers

import (
	"context"

	"github.com/sutra/sutra-operator/internal/resources"
)

// reconcileTopology applies NAME-topology before the StatefulSets: on a scale
// up the leader learns the new replica addresses as the pods start; on a
// scale down it stops expecting the removed replicas before they go.
func (r *SutraClusterReconciler) reconcileTopology(ctx context.Context, s *scope) error {
	return r.applyAll(ctx, s, resources.TopologyConfigMap(s.cluster))
}
