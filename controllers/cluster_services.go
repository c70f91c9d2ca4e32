package controllers

import (
	"context"

	"github.com/sutra/sutra-operator/internal/resources"
)

// reconcileServices applies the peers (headless), read-write, read-only
// and read Services, and the earlier names of the first two.
func (r *SutraClusterReconciler) reconcileServices(ctx context.Context, s *scope) error {
	for _, svc := range resources.Services(s.cluster) {
		if err := r.applyAll(ctx, s, svc); err != nil {
			return err
		}
	}
	return nil
}
