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
	// Write writes ops when the node accepts writes now and, under
	// synchronous replication, returns once enough replicas confirmed
	// them. A replica refuses with ErrReadOnly naming its leader, a fenced
	// leader with replication.ErrFenced.
	Write(ctx context.Context, ops []store.Op) (engine.Result, error)
}
