package controllers

import (
	"context"
	"fmt"

	"github.com/sutra/sutra-operator/internal/resources"
)

// observeReplication reads the leader's replication table into the scope. A
// failure is not a reconcile error: it becomes ReplicationHealthy=Unknown
// with reason LeaderUnreachable, and the next poll tries again, so a down
// leader never causes an error storm.
func (r *SutraClusterReconciler) observeReplication(ctx context.Context, s *scope) {
	s.endpoint = resources.LeaderEndpoint(s.cluster)
	if r.LeaderEndpoint != nil {
		s.endpoint = r.LeaderEndpoint(s.cluster)
	}
	if r.Replication == nil {
		s.replicationErr = fmt.Errorf("no replication status reader configured")
		return
	}
	snap, err := r.Replication.ReplicationStatus(ctx, s.endpoint)
	if err != nil {
		s.replicationErr = err
		return
	}
	s.replication = &snap
}
