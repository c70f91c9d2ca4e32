package grpcapi

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/status"

	"github.com/sutra/sutra-operator/internal/pb/replicationpb"
	"github.com/sutra/sutra-operator/internal/replication"
)

// onceResolver answers a name once, when a connection is built, as a
// cached DNS answer does for a connection that stays open: only a new
// connection sees where the name points now.
type onceResolver struct{ addr atomic.Pointer[string] }

func (r *onceResolver) Scheme() string { return "sutra-once" }

func (r *onceResolver) Build(_ resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	if err := cc.UpdateState(resolver.State{Addresses: []resolver.Address{{Addr: *r.addr.Load()}}}); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *onceResolver) ResolveNow(resolver.ResolveNowOptions) {}
func (r *onceResolver) Close()                                {}

// fakeLeader answers StreamWal with a fixed status.
type fakeLeader struct {
	replicationpb.UnimplementedReplicationServiceServer
	code  codes.Code
	calls atomic.Int32
}

func (f *fakeLeader) StreamWal(s grpc.BidiStreamingServer[replicationpb.ReplicaMessage, replicationpb.LeaderMessage]) error {
	f.calls.Add(1)
	if _, err := s.Recv(); err != nil {
		return err
	}
	return status.Error(f.code, "fake leader")
}

func serveFake(t *testing.T, f *fakeLeader) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	replicationpb.RegisterReplicationServiceServer(s, f)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return lis.Addr().String()
}

// When the leader's name comes to point at another address (a new pod IP
// behind the same DNS name), the follower's next stream after an
// UNAVAILABLE goes to the new address: LeaderDialer resolves the name
// again instead of keeping the old connection.
func TestLeaderDialerResolvesAgainAfterUnavailable(t *testing.T) {
	old := &fakeLeader{code: codes.Unavailable} // the old leader, going away
	moved := &fakeLeader{code: codes.FailedPrecondition}
	oldAddr, movedAddr := serveFake(t, old), serveFake(t, moved)
	r := &onceResolver{}
	r.addr.Store(&oldAddr)
	resolver.Register(r)

	dial, closeConn, err := LeaderDialer(r.Scheme()+":///leader", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeConn()
	stream := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := dial(ctx, replication.Start{ReplicaID: "r1", ClusterID: "c"})
		if err != nil {
			return err
		}
		defer func() { _ = s.Close() }()
		_, err = s.Recv()
		return err
	}
	if err := stream(); status.Code(err) != codes.Unavailable || old.calls.Load() != 1 {
		t.Fatalf("first stream: %v (old leader called %d times)", err, old.calls.Load())
	}
	r.addr.Store(&movedAddr) // the name now answers the new address
	if err := stream(); status.Code(err) != codes.FailedPrecondition || moved.calls.Load() != 1 {
		t.Fatalf("stream after the move: %v; the new address was called %d times, the old %d", err, moved.calls.Load(), old.calls.Load())
	}
}
