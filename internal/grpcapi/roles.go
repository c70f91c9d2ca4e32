package grpcapi

import (
	"context"

	"github.com/sutra/sutra-operator/internal/engine"
	"github.com/sutra/sutra-operator/internal/replication"
	"github.com/sutra/sutra-operator/internal/store"
)

// Roles is the node as the adapters see it. Its role can change while it
// serves (internal/node, the admin service), so adapters ask on every call
// instead of keeping what they saw at start.
type Roles interface {
	// Info identifies the node and its current role.
	Info() NodeInfo
	// Leader is the replication leader, nil unless the node leads.
	Leader() *replication.Leader
	// Follower is the replication follower, nil unless the node is a
	// replica.
	Follower() *replication.Follower
	// Begin queues ops when the node accepts writes now; a replica
	// refuses with ErrReadOnly naming its leader, a fenced leader with
	// replication.ErrFenced. The wait it returns must be called exactly
	// once: it blocks until the write is durable and applied and, under
	// synchronous replication, until enough replicas confirmed it. Writes
	// are durable in the order Begin queued them.
	Begin(ctx context.Context, ops []store.Op) (wait func() (engine.Result, error), err error)
}
