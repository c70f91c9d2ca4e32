package statusclient

import (
	"context"
	"fmt"
	"time"

	"github.com/sutra/sutra-operator/internal/pb/adminpb"
)

// Node is a storage node's answer to an admin call
// (sutra.admin.AdminService): its role and position.
type Node struct {
	NodeID    string
	ClusterID string
	Role      string
	Fenced    bool
	// FenceReason says why a fenced leader refuses writes: an admin
	// fence, or "self-fenced: ..." after losing contact.
	FenceReason string
	Epoch       uint64
	Durable     uint64
	Applied     uint64
	// Leader is the address a replica follows; Connected whether it
	// streams from it now.
	Leader    string
	Connected bool
	Diverged  bool
	// SetAside is how many divergent records the node set aside since it
	// started.
	SetAside  uint64
	LastError string
}

// NodeStatus calls AdminService.Status on endpoint.
func (c *Client) NodeStatus(ctx context.Context, endpoint string) (Node, error) {
	return c.admin(ctx, endpoint, "Status", func(ctx context.Context, a adminpb.AdminServiceClient) (*adminpb.NodeStatus, error) {
		return a.Status(ctx, &adminpb.StatusRequest{})
	})
}

// Promote makes the node at endpoint the leader in epoch.
func (c *Client) Promote(ctx context.Context, endpoint string, epoch uint64) (Node, error) {
	return c.admin(ctx, endpoint, "Promote", func(ctx context.Context, a adminpb.AdminServiceClient) (*adminpb.NodeStatus, error) {
		return a.Promote(ctx, &adminpb.PromoteRequest{Epoch: epoch})
	})
}

// Follow makes the node at endpoint a replica of leader, which leads in
// epoch.
func (c *Client) Follow(ctx context.Context, endpoint, leader string, epoch uint64) (Node, error) {
	return c.admin(ctx, endpoint, "Follow", func(ctx context.Context, a adminpb.AdminServiceClient) (*adminpb.NodeStatus, error) {
		return a.Follow(ctx, &adminpb.FollowRequest{LeaderAddress: leader, Epoch: epoch})
	})
}

// Fence stops the node at endpoint, known in epoch, accepting writes.
func (c *Client) Fence(ctx context.Context, endpoint string, epoch uint64) (Node, error) {
	return c.admin(ctx, endpoint, "Fence", func(ctx context.Context, a adminpb.AdminServiceClient) (*adminpb.NodeStatus, error) {
		return a.Fence(ctx, &adminpb.FenceRequest{Epoch: epoch})
	})
}

func (c *Client) admin(ctx context.Context, endpoint, call string, f func(context.Context, adminpb.AdminServiceClient) (*adminpb.NodeStatus, error)) (Node, error) {
	ctx, conn, done, err := c.open(ctx, endpoint)
	if err != nil {
		return Node{}, err
	}
	defer done()
	st, err := f(ctx, adminpb.NewAdminServiceClient(conn))
	if err != nil {
		return Node{}, fmt.Errorf("statusclient: %s on %s: %w", call, endpoint, err)
	}
	return NodeFromProto(st), nil
}

// NodeFromProto converts an admin answer.
func NodeFromProto(s *adminpb.NodeStatus) Node {
	return Node{
		NodeID: s.GetNodeId(), ClusterID: s.GetClusterId(), Role: s.GetRole(), Fenced: s.GetFenced(), FenceReason: s.GetFenceReason(),
		Epoch: s.GetEpoch(), Durable: s.GetDurableSequence(), Applied: s.GetAppliedSequence(),
		Leader: s.GetLeaderAddress(), Connected: s.GetConnected(), Diverged: s.GetDiverged(),
		SetAside: s.GetSetAside(), LastError: s.GetLastError(),
	}
}

// DefaultAdminTimeout is the timeout the operator gives admin calls: short,
// since it calls every instance on every reconcile.
const DefaultAdminTimeout = 1500 * time.Millisecond
