package grpcapi

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/sutra/sutra-operator/internal/grpcdial"
	"github.com/sutra/sutra-operator/internal/pb/replicationpb"
	"github.com/sutra/sutra-operator/internal/replication"
)

// StreamDialer returns a replication.Dialer that opens StreamWal on conn.
func StreamDialer(conn *grpc.ClientConn) replication.Dialer {
	return streamDialer(conn, nil)
}

// streamDialer opens StreamWal on conn; failed, if set, is told of every
// error starting or receiving on a stream.
func streamDialer(conn *grpc.ClientConn, failed func(error)) replication.Dialer {
	client := replicationpb.NewReplicationServiceClient(conn)
	return func(ctx context.Context, start replication.Start) (replication.Stream, error) {
		ctx, cancel := context.WithCancel(ctx)
		st, err := client.StreamWal(ctx)
		if err == nil {
			err = st.Send(&replicationpb.ReplicaMessage{Kind: &replicationpb.ReplicaMessage_Start{Start: startToPB(start)}})
		}
		if err != nil {
			cancel()
			if failed != nil {
				failed(err)
			}
			return nil, err
		}
		return &clientStream{st: st, cancel: cancel, failed: failed}, nil
	}
}

// LeaderDialer returns a replication.Dialer for the leader at addr and a
// function that closes its connection. When a stream fails UNAVAILABLE
// (the leader went away, or could not be reached), the next dial opens a
// fresh connection: the leader's name is resolved again (it may have moved)
// and connected at once, so reconnecting is paced by the follower's own
// backoff, not by the old connection's.
func LeaderDialer(addr string, creds credentials.TransportCredentials) (replication.Dialer, func(), error) {
	d := &leaderDialer{addr: addr, creds: creds}
	if err := d.redial(); err != nil {
		return nil, nil, err
	}
	return d.dial, d.close, nil
}

type leaderDialer struct {
	addr  string
	creds credentials.TransportCredentials
	mu    sync.Mutex
	conn  *grpc.ClientConn
	open  replication.Dialer
	stale bool // the last stream failed UNAVAILABLE: use a new connection
}

// redial replaces the connection; d.mu is held or d is not shared yet.
func (d *leaderDialer) redial() error {
	conn, err := grpcdial.Dial(d.addr, d.creds)
	if err != nil {
		return err
	}
	if d.conn != nil {
		_ = d.conn.Close()
	}
	d.conn, d.stale = conn, false
	d.open = streamDialer(conn, func(err error) {
		if status.Code(err) == codes.Unavailable {
			d.mu.Lock()
			if d.conn == conn {
				d.stale = true
			}
			d.mu.Unlock()
		}
	})
	return nil
}

func (d *leaderDialer) dial(ctx context.Context, start replication.Start) (replication.Stream, error) {
	d.mu.Lock()
	if d.stale {
		if err := d.redial(); err != nil {
			d.mu.Unlock()
			return nil, err
		}
	}
	open := d.open
	d.mu.Unlock()
	return open(ctx, start)
}

func (d *leaderDialer) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn != nil {
		_ = d.conn.Close()
	}
}

type clientStream struct {
	st     grpc.BidiStreamingClient[replicationpb.ReplicaMessage, replicationpb.LeaderMessage]
	cancel context.CancelFunc
	once   sync.Once
	failed func(error)
}

func (c *clientStream) Recv() (*replication.Frame, error) {
	m, err := c.st.Recv()
	if err != nil {
		if c.failed != nil {
			c.failed(err)
		}
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
// connection per replica address, dialed with creds (nil: plaintext).
func HeartbeatCaller(creds credentials.TransportCredentials) (replication.HeartbeatFunc, func()) {
	var mu sync.Mutex
	conns := map[string]*grpc.ClientConn{}
	call := func(ctx context.Context, addr string, hb replication.Heartbeat) (replication.HeartbeatReply, error) {
		mu.Lock()
		conn, ok := conns[addr]
		if !ok {
			var err error
			if conn, err = grpcdial.Dial(addr, creds); err != nil {
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
