package grpcapi

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/sutra/sutra-operator/internal/pb/replicationpb"
	"github.com/sutra/sutra-operator/internal/replication"
)

// Dial opens a client connection with the node's message limits and
// keepalive settings. Connections are lazy: errors surface on first use.
func Dial(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)),
		grpc.WithInitialWindowSize(4<<20),
		grpc.WithInitialConnWindowSize(16<<20),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: keepaliveTime, Timeout: keepaliveTimeout, PermitWithoutStream: true}),
	)
}

// StreamDialer returns a replication.Dialer that opens StreamWal on conn.
func StreamDialer(conn *grpc.ClientConn) replication.Dialer {
	client := replicationpb.NewReplicationServiceClient(conn)
	return func(ctx context.Context, start replication.Start) (replication.Stream, error) {
		ctx, cancel := context.WithCancel(ctx)
		st, err := client.StreamWal(ctx)
		if err != nil {
			cancel()
			return nil, err
		}
		if err := st.Send(&replicationpb.ReplicaMessage{Kind: &replicationpb.ReplicaMessage_Start{Start: startToPB(start)}}); err != nil {
			cancel()
			return nil, err
		}
		return &clientStream{st: st, cancel: cancel}, nil
	}
}

type clientStream struct {
	st     grpc.BidiStreamingClient[replicationpb.ReplicaMessage, replicationpb.LeaderMessage]
	cancel context.CancelFunc
	once   sync.Once
}

func (c *clientStream) Recv() (*replication.Frame, error) {
	m, err := c.st.Recv()
	if err != nil {
		return nil, err
	}
	return frameFromPB(m), nil
}

func (c *clientStream) Ack(a replication.Ack) error {
	return c.st.Send(&replicationpb.ReplicaMessage{Kind: &replicationpb.ReplicaMessage_Ack{Ack: AckToPB(a)}})
}

func (c *clientStream) Close() error {
	c.once.Do(c.cancel)
	return nil
}

// HeartbeatCaller returns a replication.HeartbeatFunc that keeps one
// connection per replica address.
func HeartbeatCaller() (replication.HeartbeatFunc, func()) {
	var mu sync.Mutex
	conns := map[string]*grpc.ClientConn{}
	call := func(ctx context.Context, addr string, hb replication.Heartbeat) (replication.HeartbeatReply, error) {
		mu.Lock()
		conn, ok := conns[addr]
		if !ok {
			var err error
			if conn, err = Dial(addr); err != nil {
				mu.Unlock()
				return replication.HeartbeatReply{}, err
			}
			conns[addr] = conn
		}
		mu.Unlock()
		r, err := replicationpb.NewReplicationServiceClient(conn).Heartbeat(ctx, &replicationpb.HeartbeatRequest{
			LeaderId: hb.LeaderID, CurrentSequence: hb.LeaderSeq, Timestamp: uint64(hb.Time), ClusterId: hb.ClusterID, Epoch: hb.Epoch})
		if err != nil {
			return replication.HeartbeatReply{}, err
		}
		return replication.HeartbeatReply{ReplicaID: r.GetReplicaId(), Applied: r.GetLastAppliedSequence(),
			Durable: r.GetDurableSequence(), Healthy: r.GetHealthy(), LagMs: r.GetLagMs(), ClusterID: r.GetClusterId()}, nil
	}
	closeAll := func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	}
	return call, closeAll
}
