package grpcapi

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"

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

// ReplicationServer implements sutra.replication.ReplicationService. On a
// leader, Leader is set; on a replica, Follower is.
type ReplicationServer struct {
	replicationpb.UnimplementedReplicationServiceServer
	Info     NodeInfo
	Engine   *engine.Engine
	Leader   *replication.Leader
	Follower *replication.Follower
}

var _ replicationpb.ReplicationServiceServer = (*ReplicationServer)(nil)

func (s *ReplicationServer) notLeader() error {
	return toStatus(fmt.Errorf("%w: %s is a replica; leader=%s", replication.ErrNotLeader, s.Info.ID, s.Info.LeaderAddress))
}

// StreamWal is the replica protocol (see proto/replication.proto).
func (s *ReplicationServer) StreamWal(stream grpc.BidiStreamingServer[replicationpb.ReplicaMessage, replicationpb.LeaderMessage]) error {
	if s.Leader == nil {
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
	acks := make(chan replication.Ack, 64)
	go func() {
		defer close(acks)
		for {
			m, err := stream.Recv()
			if err != nil {
				return
			}
			if a := m.GetAck(); a != nil {
				select {
				case acks <- replication.Ack{Applied: a.GetAppliedSequence(), Durable: a.GetDurableSequence()}:
				default: // a newer ack will follow
				}
			}
		}
	}()
	err = s.Leader.Serve(stream.Context(), startFromPB(start), func(f *replication.Frame) error {
		return stream.Send(frameToPB(f))
	}, acks)
	return toStatus(err)
}

// StreamWalEntries serves the seed's one-entry-per-message stream. It has no
// snapshot path: a start below the retained log is OUT_OF_RANGE.
func (s *ReplicationServer) StreamWalEntries(req *replicationpb.WalStreamRequest, stream grpc.ServerStreamingServer[replicationpb.WalEntry]) error {
	if s.Leader == nil {
		return s.notLeader()
	}
	start := startFromPB(req)
	if start.ClusterID == "" {
		start.ClusterID = s.Info.ClusterID // the seed's request has no cluster id
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
		return toStatus(s.Leader.Tail(stream.Context(), start, send))
	}
	if first := s.Engine.Log().FirstSeq(); start.StartSeq < first {
		return toStatus(fmt.Errorf("%w: sequence %d, first retained is %d (StreamWal sends a snapshot instead)",
			wal.ErrCompacted, start.StartSeq, first))
	}
	return toStatus(s.Leader.Serve(stream.Context(), start, send, nil))
}

// Heartbeat is served by replicas.
func (s *ReplicationServer) Heartbeat(_ context.Context, req *replicationpb.HeartbeatRequest) (*replicationpb.HeartbeatResponse, error) {
	if s.Follower == nil {
		return nil, toStatus(fmt.Errorf("%w: %s is the leader and takes no heartbeats", replication.ErrNotLeader, s.Info.ID))
	}
	r, err := s.Follower.Heartbeat(replication.Heartbeat{LeaderID: req.GetLeaderId(), LeaderSeq: req.GetCurrentSequence(),
		Time: int64(req.GetTimestamp()), ClusterID: req.GetClusterId(), Epoch: req.GetEpoch()})
	if err != nil {
		return nil, toStatus(err)
	}
	return &replicationpb.HeartbeatResponse{ReplicaId: r.ReplicaID, LastAppliedSequence: r.Applied, Healthy: r.Healthy,
		LagMs: r.LagMs, ClusterId: r.ClusterID, DurableSequence: r.Durable, LeaderAddress: s.Info.LeaderAddress}, nil
}

// GetReplicationStatus returns the leader's table, or a replica's own row.
func (s *ReplicationServer) GetReplicationStatus(context.Context, *replicationpb.ReplicationStatusRequest) (*replicationpb.ReplicationStatusResponse, error) {
	resp := &replicationpb.ReplicationStatusResponse{NodeId: s.Info.ID, Role: s.Info.Role, ClusterId: s.Info.ClusterID,
		Epoch: s.Info.Epoch, FirstRetainedSequence: s.Engine.Log().FirstSeq(), AppliedSequence: s.Engine.AppliedSeq(),
		LeaderAddress: s.Info.LeaderAddress, Timestamp: uint64(time.Now().UnixMilli())}
	if s.Leader != nil {
		st := s.Leader.Status()
		resp.LeaderSequence, resp.MaxLagMs = st.LeaderSeq, st.MaxLagMs
		for i := range st.Replicas {
			resp.Replicas = append(resp.Replicas, replicaToPB(&st.Replicas[i]))
		}
		return resp, nil
	}
	f := s.Follower.Status()
	resp.LeaderSequence = f.LeaderSeq
	state := replication.StateStreaming
	if !f.Connected {
		state = replication.StateDisconnected
	}
	self := replication.ReplicaStatus{ID: s.Info.ID, State: state, Applied: f.Applied, Durable: f.Durable,
		Healthy: f.Connected, BytesStreamed: f.Bytes, EntriesStreamed: f.Entries, Reconnects: f.Reconnects, LastError: f.LastError}
	if f.LeaderSeq > f.Applied {
		self.LagEntries = f.LeaderSeq - f.Applied
	}
	resp.Replicas = []*replicationpb.ReplicaInfo{replicaToPB(&self)}
	return resp, nil
}
