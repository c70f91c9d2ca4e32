package controllers

import (
	"context"

	"github.com/sutra/sutra-operator/internal/resources"
)

// reconcileServices applies the peers (headless), leader and replicas
// Services.
func (r *SutraClusterReconciler) reconcileServices(ctx context.Context, s *scope) error {
	c := s.cluster
	return r.applyAll(ctx, s, resources.PeersService(c), resources.LeaderService(c), resources.ReplicasService(c))
}
