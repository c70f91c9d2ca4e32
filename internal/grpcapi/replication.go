package grpcapi

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sutra/sutra-operator/internal/auth"

	"github.com/sutra/sutra-operator/internal/engine"
	"github.com/sutra/sutra-operator/internal/pb/replicationpb"
	"github.com/sutra/sutra-operator/internal/replication"
	"github.com/sutra/sutra-operator/internal/wal"
)

// NodeInfo identifies the node in replies.
type NodeInfo struct {
	ID            string
	Role          string // "leader" or "replica"
	ClusterID     string
	Epoch         uint64
	LeaderAddress string // on replicas: where writes must go
}

// ReplicationServer implements sutra.replication.ReplicationService. A
// leader serves streams; a replica serves heartbeats; Roles says which the
// node is at each call.
type ReplicationServer struct {
	replicationpb.UnimplementedReplicationServiceServer
	Roles  Roles
	Engine *engine.Engine
}

var _ replicationpb.ReplicationServiceServer = (*ReplicationServer)(nil)

func (s *ReplicationServer) notLeader() error {
	info := s.Roles.Info()
	return toStatus(fmt.Errorf("%w: %s is a replica; leader=%s", replication.ErrNotLeader, info.ID, info.LeaderAddress))
}

// StreamWal is the replica protocol (see proto/replication.proto).
func (s *ReplicationServer) StreamWal(stream grpc.BidiStreamingServer[replicationpb.ReplicaMessage, replicationpb.LeaderMessage]) error {
	leader := s.Roles.Leader()
	if leader == nil {
		return s.notLeader()
	}
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	start := first.GetStart()
	if start == nil {
		return toStatus(fmt.Errorf("%w: the first message of StreamWal must be start", replication.ErrBadRequest))
	}
	if err := mayStreamAs(stream.Context(), start.GetReplicaId()); err != nil {
		return err
	}
	acks := make(chan replication.Ack, 64)
	go func() {
		defer close(acks)
		for {
			m, err := stream.Recv()
			if err != nil {
				return
			}
			if a := m.GetAck(); a != nil {
				ack := AckFromPB(a)
				if ack.Mismatch.Seq != 0 { // never dropped: the replica stops after it
					select {
					case acks <- ack:
					case <-stream.Context().Done():
					}
					continue
				}
				select {
				case acks <- ack:
				default: // a newer ack will follow
				}
			}
		}
	}()
	var enc frameEncoder
	err = leader.Serve(stream.Context(), startFromPB(start), func(f *replication.Frame) error {
		return stream.Send(enc.toPB(f))
	}, acks)
	return toStatus(err)
}

// StreamWalEntries serves the seed's one-entry-per-message stream. It has no
// snapshot path: a start below the retained log is OUT_OF_RANGE.
func (s *ReplicationServer) StreamWalEntries(req *replicationpb.WalStreamRequest, stream grpc.ServerStreamingServer[replicationpb.WalEntry]) error {
	leader := s.Roles.Leader()
	if leader == nil {
		return s.notLeader()
	}
	if err := mayStreamAs(stream.Context(), req.GetReplicaId()); err != nil {
		return err
	}
	start := startFromPB(req)
	if start.ClusterID == "" {
		start.ClusterID = s.Roles.Info().ClusterID // the seed's request has no cluster id
	}
	send := func(f *replication.Frame) error {
		for i := range f.Entries {
			if err := stream.Send(entryToPB(&f.Entries[i])); err != nil {
				return err
			}
		}
		return nil
	}
	if start.ReplicaID == "" {
		return toStatus(leader.Tail(stream.Context(), start, send))
	}
	if first := s.Engine.Log().FirstSeq(); start.StartSeq < first {
		return toStatus(fmt.Errorf("%w: sequence %d, first retained is %d (StreamWal sends a snapshot instead)",
			wal.ErrCompacted, start.StartSeq, first))
	}
	return toStatus(leader.Serve(stream.Context(), start, send, nil))
}

// Heartbeat is served by replicas.
func (s *ReplicationServer) Heartbeat(ctx context.Context, req *replicationpb.HeartbeatRequest) (*replicationpb.HeartbeatResponse, error) {
	if id, ok := auth.FromContext(ctx); ok {
		if err := id.MayLead(req.GetLeaderId()); err != nil {
			return nil, status.Error(codes.PermissionDenied, err.Error())
		}
	}
	f, info := s.Roles.Follower(), s.Roles.Info()
	if f == nil {
		return nil, toStatus(fmt.Errorf("%w: %s is the leader and takes no heartbeats", replication.ErrNotLeader, info.ID))
	}
	r, err := f.Heartbeat(replication.Heartbeat{LeaderID: req.GetLeaderId(), LeaderSeq: req.GetCurrentSequence(),
		Time: int64(req.GetTimestamp()), ClusterID: req.GetClusterId(), Epoch: req.GetEpoch()})
	if err != nil {
		return nil, toStatus(err)
	}
	return &replicationpb.HeartbeatResponse{ReplicaId: r.ReplicaID, LastAppliedSequence: r.Applied, Healthy: r.Healthy,
		LagMs: r.LagMs, ClusterId: r.ClusterID, DurableSequence: r.Durable, LeaderAddress: info.LeaderAddress}, nil
}

// GetReplicationStatus returns the leader's table, or a replica's own row.
func (s *ReplicationServer) GetReplicationStatus(context.Context, *replicationpb.ReplicationStatusRequest) (*replicationpb.ReplicationStatusResponse, error) {
	info := s.Roles.Info()
	resp := &replicationpb.ReplicationStatusResponse{NodeId: info.ID, Role: info.Role, ClusterId: info.ClusterID,
		Epoch: info.Epoch, FirstRetainedSequence: s.Engine.Log().FirstSeq(), AppliedSequence: s.Engine.AppliedSeq(),
		LeaderAddress: info.LeaderAddress, Timestamp: uint64(time.Now().UnixMilli())}
	if l := s.Roles.Leader(); l != nil {
		st := l.Status()
		resp.LeaderSequence, resp.MaxLagMs = st.LeaderSeq, st.MaxLagMs
		for i := range st.Replicas {
			resp.Replicas = append(resp.Replicas, replicaToPB(&st.Replicas[i]))
		}
		return resp, nil
	}
	fl := s.Roles.Follower()
	if fl == nil { // changing roles
		return nil, toStatus(fmt.Errorf("%w: %s is changing roles", errChangingRoles, info.ID))
	}
	f := fl.Status()
	resp.LeaderSequence = f.LeaderSeq
	state := replication.StateStreaming
	switch {
	case f.Diverged:
		state = replication.StateDiverged
	case !f.Connected:
		state = replication.StateDisconnected
	}
	self := replication.ReplicaStatus{ID: info.ID, State: state, Fork: f.Fork, Verified: f.Verified, Applied: f.Applied, Durable: f.Durable,
		Healthy: f.Connected, BytesStreamed: f.Bytes, EntriesStreamed: f.Entries, Reconnects: f.Reconnects, LastError: f.LastError}
	if f.LeaderSeq > f.Applied {
		self.LagEntries = f.LeaderSeq - f.Applied
	}
	resp.Replicas = []*replicationpb.ReplicaInfo{replicaToPB(&self)}
	return resp, nil
}
