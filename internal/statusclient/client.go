// Package statusclient reads a storage node's replication table over gRPC
// (sutra.replication.ReplicationService/GetReplicationStatus) and returns it as
// plain Go values, so the operator's controllers depend on neither gRPC nor
// the generated protobuf types.
package statusclient

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sutra/sutra-operator/internal/pb/replicationpb"
)

// Snapshot is one node's view of replication. For a leader, Replicas has one
// entry per replica it knows, sorted by ID.
type Snapshot struct {
	NodeID         string
	Role           string
	ClusterID      string
	Epoch          uint64
	LeaderSequence uint64
	MaxLagMs       uint64
	Replicas       []Replica
}

// Replica is one row of the leader's replication table.
type Replica struct {
	// ID is the replica's node id (its pod name in Kubernetes).
	ID      string
	Address string
	Healthy bool
	// State is streaming, catchup, snapshot, disconnected, configured or
	// diverged (its log forked from the leader's; the leader refuses to
	// stream into it).
	State string
	// SentSequence, LastAppliedSequence and DurableSequence are the last
	// sequence the leader sent the replica, the last it applied (its
	// readers see it) and the last its log made durable (what it keeps if
	// it crashes); SentSequence is 0 from leaders that predate it.
	SentSequence        uint64
	LastAppliedSequence uint64
	DurableSequence     uint64
	LagEntries          uint64
	// LagMs is the replica's replay lag: how long ago, on the leader's
	// clock, the leader wrote the oldest entry it has not applied.
	// FlushLagMs is the same for the oldest entry it has not made durable
	// (0 from leaders that predate it).
	LagMs      uint64
	FlushLagMs uint64
	// LastHeartbeat is zero when the leader never heard from the replica.
	LastHeartbeat time.Time
	LastError     string
	// SyncState is "sync" when the leader replicates synchronously and this
	// replica's acks count towards confirming writes, "async" otherwise;
	// empty from leaders that predate it.
	SyncState string
	// ForkSequence is, for a diverged replica, the highest sequence its log
	// shares with the leader's; 0 otherwise.
	ForkSequence uint64
}

// Client dials the endpoint on every call: the operator polls every few
// seconds per cluster, and a fresh connection follows the leader Service to
// whichever pod backs it now. It is safe for concurrent use.
type Client struct {
	// Timeout bounds one call when the context has no earlier deadline.
	// Zero means DefaultTimeout.
	Timeout time.Duration
	// DialOptions are added to the defaults: the transport credentials,
	// TLS when the call's ctx carries WithTLS, plaintext otherwise.
	DialOptions []grpc.DialOption
}

// DefaultTimeout bounds one status call.
const DefaultTimeout = 3 * time.Second

// ReplicationStatus calls GetReplicationStatus on endpoint (host:port).
func (c *Client) ReplicationStatus(ctx context.Context, endpoint string) (Snapshot, error) {
	ctx, conn, done, err := c.open(ctx, endpoint)
	if err != nil {
		return Snapshot{}, err
	}
	defer done()

	resp, err := replicationpb.NewReplicationServiceClient(conn).GetReplicationStatus(ctx, &replicationpb.ReplicationStatusRequest{})
	if err != nil {
		return Snapshot{}, fmt.Errorf("statusclient: GetReplicationStatus from %s: %w", endpoint, err)
	}
	return FromProto(resp), nil
}

// open bounds ctx by the client's timeout and dials endpoint, with TLS
// when ctx carries WithTLS; done closes both.
func (c *Client) open(ctx context.Context, endpoint string) (context.Context, *grpc.ClientConn, func(), error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	creds := insecure.NewCredentials()
	if cfg := tlsFrom(ctx); cfg != nil {
		creds = credentials.NewTLS(cfg)
	}
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(creds)}, c.DialOptions...)
	conn, err := grpc.NewClient(endpoint, opts...)
	if err != nil {
		cancel()
		return nil, nil, nil, fmt.Errorf("statusclient: dial %s: %w", endpoint, err)
	}
	return ctx, conn, func() { _ = conn.Close(); cancel() }, nil
}

// FromProto converts a GetReplicationStatus response.
func FromProto(r *replicationpb.ReplicationStatusResponse) Snapshot {
	s := Snapshot{
		NodeID:         r.GetNodeId(),
		Role:           r.GetRole(),
		ClusterID:      r.GetClusterId(),
		Epoch:          r.GetEpoch(),
		LeaderSequence: r.GetLeaderSequence(),
		MaxLagMs:       r.GetMaxLagMs(),
		Replicas:       make([]Replica, 0, len(r.GetReplicas())),
	}
	for _, ri := range r.GetReplicas() {
		rep := Replica{
			ID:                  ri.GetId(),
			Address:             ri.GetAddress(),
			Healthy:             ri.GetHealthy(),
			State:               ri.GetState(),
			SentSequence:        ri.GetSentSequence(),
			LastAppliedSequence: ri.GetLastAppliedSequence(),
			DurableSequence:     ri.GetDurableSequence(),
			LagEntries:          ri.GetLagEntries(),
			LagMs:               ri.GetLagMs(),
			FlushLagMs:          ri.GetFlushLagMs(),
			LastError:           ri.GetLastError(),
			SyncState:           ri.GetSyncState(),
			ForkSequence:        ri.GetForkSequence(),
		}
		if rep.LagMs == 0 {
			rep.LagMs = ri.GetLag() // seed-era leaders set only lag
		}
		if ms := ri.GetLastHeartbeat(); ms > 0 {
			rep.LastHeartbeat = time.UnixMilli(int64(ms)).UTC()
		}
		s.Replicas = append(s.Replicas, rep)
	}
	return s
}
