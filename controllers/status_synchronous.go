package controllers

import (
	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/resources"
)

// SyncStateSync is the leader's sync_state of a replica whose acks count
// towards confirming writes.
const SyncStateSync = "sync"

// synchronousStatus is status.synchronous: spec.replication.synchronous as
// the nodes were given it, and how many of the replicas in rs the leader
// counts as synchronous. Nil when replication is asynchronous.
func synchronousStatus(c *sutrav1.SutraCluster, rs []sutrav1.ReplicaStatus) *sutrav1.SynchronousStatus {
	sync := c.Spec.Replication.Synchronous
	if sync == nil {
		return nil
	}
	out := &sutrav1.SynchronousStatus{Replicas: sync.Replicas, DataDurability: resources.DataDurability(c)}
	for _, r := range rs {
		if r.SyncState == SyncStateSync {
			out.SyncReplicas++
		}
	}
	return out
}
