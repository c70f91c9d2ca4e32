package controllers

import (
	"context"
	"fmt"
)

// observeReplication reads the leader's replication table into the scope. A
// failure is not a reconcile error: it becomes ReplicationHealthy=Unknown
// with reason LeaderUnreachable, and the next poll tries again, so a down
// leader never causes an error storm.
func (r *SutraClusterReconciler) observeReplication(ctx context.Context, s *scope) {
	s.endpoint = r.podEndpoint(s.cluster, s.leaderName)
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
