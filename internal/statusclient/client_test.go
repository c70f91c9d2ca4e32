package statusclient

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/sutra/sutra-operator/internal/pb/replicationpb"
)

type fakeLeader struct {
	replicationpb.UnimplementedReplicationServiceServer
	resp *replicationpb.ReplicationStatusResponse
	err  error
}

func (f *fakeLeader) GetReplicationStatus(context.Context, *replicationpb.ReplicationStatusRequest) (*replicationpb.ReplicationStatusResponse, error) {
	return f.resp, f.err
}

func serve(t *testing.T, srv replicationpb.ReplicationServiceServer) *Client {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	s := grpc.NewServer()
	replicationpb.RegisterReplicationServiceServer(s, srv)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return &Client{Timeout: time.Second, DialOptions: []grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	}}
}

func TestReplicationStatus(t *testing.T) {
	hb := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := serve(t, &fakeLeader{resp: &replicationpb.ReplicationStatusResponse{
		NodeId: "s-leader-0", Role: "leader", ClusterId: "ns.s", Epoch: 3, LeaderSequence: 42, MaxLagMs: 12,
		Replicas: []*replicationpb.ReplicaInfo{
			{Id: "s-replica-0", Healthy: true, State: "streaming", SentSequence: 42, LastAppliedSequence: 42, DurableSequence: 41, LagMs: 0,
				FlushLagMs: 3, LastHeartbeat: uint64(hb.UnixMilli()), SyncState: "sync"},
			{Id: "s-replica-1", State: "configured", Lag: 12, LagEntries: 5, LastError: "connection refused", SyncState: "async"},
			{Id: "s-replica-2", State: "diverged", LastAppliedSequence: 45, ForkSequence: 40, SyncState: "async",
				LastError: "replication: diverged from the leader's log fork=40"},
		},
	}})
	got, err := c.ReplicationStatus(context.Background(), "passthrough:///bufnet")
	if err != nil {
		t.Fatal(err)
	}
	if got.NodeID != "s-leader-0" || got.Role != "leader" || got.ClusterID != "ns.s" || got.Epoch != 3 || got.LeaderSequence != 42 || got.MaxLagMs != 12 {
		t.Errorf("header = %+v", got)
	}
	if len(got.Replicas) != 3 {
		t.Fatalf("replicas = %d, want 3", len(got.Replicas))
	}
	r0, r1, r2 := got.Replicas[0], got.Replicas[1], got.Replicas[2]
	if !r0.Healthy || r0.State != "streaming" || r0.LastAppliedSequence != 42 || !r0.LastHeartbeat.Equal(hb) || r0.SyncState != "sync" || r0.ForkSequence != 0 ||
		r0.SentSequence != 42 || r0.DurableSequence != 41 || r0.FlushLagMs != 3 {
		t.Errorf("replica 0 = %+v", r0)
	}
	if r1.Healthy || r1.LagMs != 12 || r1.LagEntries != 5 || !r1.LastHeartbeat.IsZero() || r1.LastError != "connection refused" || r1.SyncState != "async" {
		t.Errorf("replica 1 = %+v (lag falls back to the seed field)", r1)
	}
	if r2.State != "diverged" || r2.ForkSequence != 40 || r2.LastAppliedSequence != 45 || r2.SyncState != "async" {
		t.Errorf("replica 2 = %+v, want diverged with its fork point", r2)
	}
}

func TestReplicationStatusErrors(t *testing.T) {
	c := serve(t, &fakeLeader{err: status.Error(codes.Unavailable, "starting")})
	if _, err := c.ReplicationStatus(context.Background(), "passthrough:///bufnet"); status.Code(err) != codes.Unavailable {
		t.Errorf("err = %v, want Unavailable wrapped", err)
	}

	// Nothing listens: the call fails within the timeout instead of hanging.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	start := time.Now()
	_, err = (&Client{Timeout: 500 * time.Millisecond}).ReplicationStatus(context.Background(), addr)
	if err == nil {
		t.Fatal("expected an error from a closed port")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v, want the call bounded by its timeout", d)
	}
}
