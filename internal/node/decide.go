package node

import (
	"fmt"

	"github.com/sutra/sutra-operator/internal/replication"
)

// The admin calls' decisions are pure functions of the node's observed
// state, so that retried, duplicated and late calls are settled by a table
// test: a call about an older epoch than the node's is refused, and a call
// the node already carried out changes nothing.

// roleView is what the decisions look at.
type roleView struct {
	role      string // RoleLeader or RoleReplica
	epoch     uint64 // newest epoch of the node's history
	following string // replica: the leader it follows
	minEpoch  uint64 // replica: leaders older than this are refused
	self      string // the node's own advertised address
}

// decidePromote: change is false when the node already leads in epoch.
func decidePromote(v roleView, epoch uint64) (change bool, err error) {
	switch {
	case epoch == 0:
		return false, fmt.Errorf("%w: promote needs the epoch to lead in", replication.ErrBadRequest)
	case v.role == RoleLeader && v.epoch == epoch:
		return false, nil
	case epoch <= v.epoch || epoch < v.minEpoch:
		return false, fmt.Errorf("%w: promote to epoch %d, but this node is already in epoch %d", replication.ErrStaleEpoch, epoch, max(v.epoch, v.minEpoch))
	}
	return true, nil
}

// decideFollow: change is false when the node already follows leader in
// epoch.
func decideFollow(v roleView, leader string, epoch uint64) (change bool, err error) {
	switch {
	case leader == "" || epoch == 0:
		return false, fmt.Errorf("%w: follow needs the leader's address and epoch", replication.ErrBadRequest)
	case leader == v.self:
		return false, fmt.Errorf("%w: %s cannot follow itself", replication.ErrBadRequest, leader)
	case v.role == RoleLeader && v.epoch >= epoch:
		return false, fmt.Errorf("%w: follow %s in epoch %d, but this node leads epoch %d", replication.ErrStaleEpoch, leader, epoch, v.epoch)
	case epoch < v.epoch || epoch < v.minEpoch:
		return false, fmt.Errorf("%w: follow %s in epoch %d, but this node is already in epoch %d", replication.ErrStaleEpoch, leader, epoch, max(v.epoch, v.minEpoch))
	case v.role == RoleReplica && v.following == leader && v.minEpoch == epoch:
		return false, nil
	}
	return true, nil
}

// decideFence: fence is false on a replica, which takes no writes anyway.
func decideFence(v roleView, epoch uint64) (fence bool, err error) {
	switch {
	case epoch == 0:
		return false, fmt.Errorf("%w: fence needs the epoch the caller knows", replication.ErrBadRequest)
	case epoch < v.epoch:
		return false, fmt.Errorf("%w: fence for epoch %d, but this node is in epoch %d", replication.ErrStaleEpoch, epoch, v.epoch)
	}
	return v.role == RoleLeader, nil
}
