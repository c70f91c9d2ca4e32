package controllers

import (
	"context"
	"fmt"
)

// observeReplication reads the leader's replication table into the scope. A
// failure is not a reconcile error: it becomes ReplicationHealthy=Unknown
// with reason LeaderUnreachable, and the next poll tries again, so a down
// leader never causes an error storm. A leader that did not answer its
// admin status call in this reconcile is not called again: a partitioned
// leader would cost a second timeout on every reconcile of a failover.
func (r *SutraClusterReconciler) observeReplication(ctx context.Context, s *scope) {
	s.endpoint = r.podEndpoint(s.cluster, s.leaderName)
	if ns, ok := s.nodes[s.leaderName]; ok && ns.err != nil {
		s.replicationErr = ns.err
		return
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
