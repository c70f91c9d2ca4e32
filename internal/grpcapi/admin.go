package grpcapi

import (
	"context"

	"github.com/sutra/sutra-operator/internal/auth"
	"github.com/sutra/sutra-operator/internal/history"
	"github.com/sutra/sutra-operator/internal/pb/adminpb"
)

// Admin changes a node's role at runtime (internal/node implements it).
// Errors wrap replication.ErrStaleEpoch for calls about an older epoch
// than the node's and replication.ErrBadRequest for malformed ones.
type Admin interface {
	Promote(ctx context.Context, epoch uint64) error
	Follow(ctx context.Context, leader string, epoch uint64) error
	Fence(epoch uint64) error
	Status() NodeStatus
	// Contact records a call from an administrator, which holds off
	// self-fencing (SUTRA_SELF_FENCE_AFTER_MS).
	Contact()
}

// NodeStatus is a node's role and position (see adminpb.NodeStatus).
type NodeStatus struct {
	NodeID, ClusterID, Role string
	Fenced                  bool
	FenceReason             string
	Epoch, Durable, Applied uint64
	History                 history.History
	LeaderAddress           string
	Connected, Diverged     bool
	Fork, SetAside          uint64
	SyncReplicas            uint32
	LastError               string
}

// AdminServer implements sutra.admin.AdminService.
type AdminServer struct {
	adminpb.UnimplementedAdminServiceServer
	Admin Admin
}

var _ adminpb.AdminServiceServer = (*AdminServer)(nil)

// Promote makes the node leader in the request's epoch.
func (s *AdminServer) Promote(ctx context.Context, req *adminpb.PromoteRequest) (*adminpb.NodeStatus, error) {
	if err := s.Admin.Promote(ctx, req.GetEpoch()); err != nil {
		return nil, toStatus(err)
	}
	return s.status(), nil
}

// Follow makes the node a replica of the request's leader.
func (s *AdminServer) Follow(ctx context.Context, req *adminpb.FollowRequest) (*adminpb.NodeStatus, error) {
	if err := s.Admin.Follow(ctx, req.GetLeaderAddress(), req.GetEpoch()); err != nil {
		return nil, toStatus(err)
	}
	return s.status(), nil
}

// Fence stops the node accepting writes.
func (s *AdminServer) Fence(_ context.Context, req *adminpb.FenceRequest) (*adminpb.NodeStatus, error) {
	if err := s.Admin.Fence(req.GetEpoch()); err != nil {
		return nil, toStatus(err)
	}
	return s.status(), nil
}

// Status reports the node's role and position. Asked by an administrator
// (or by anyone, on a node without authentication) it counts as operator
// contact; a reader or a node polling it does not keep a partitioned
// leader from fencing itself.
func (s *AdminServer) Status(ctx context.Context, _ *adminpb.StatusRequest) (*adminpb.NodeStatus, error) {
	if id, ok := auth.FromContext(ctx); !ok || id.Kind == auth.Admin {
		s.Admin.Contact()
	}
	return s.status(), nil
}

func (s *AdminServer) status() *adminpb.NodeStatus {
	st := s.Admin.Status()
	return &adminpb.NodeStatus{NodeId: st.NodeID, ClusterId: st.ClusterID, Role: st.Role, Fenced: st.Fenced,
		FenceReason: st.FenceReason, Epoch: st.Epoch, DurableSequence: st.Durable, AppliedSequence: st.Applied,
		History: HistoryToPB(st.History), HistoryChecksum: st.History.Checksum(), LeaderAddress: st.LeaderAddress,
		Connected: st.Connected, Diverged: st.Diverged, ForkSequence: st.Fork, SetAside: st.SetAside,
		SyncReplicas: st.SyncReplicas, LastError: st.LastError}
}
