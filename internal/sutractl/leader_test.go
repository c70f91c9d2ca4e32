package sutractl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sutra/sutra-operator/internal/pb/replicationpb"
	"github.com/sutra/sutra-operator/internal/pb/storagepb"
)

func TestAfterWrite(t *testing.T) {
	refused := func(msg string) error { return status.Error(codes.FailedPrecondition, msg) }
	for _, c := range []struct {
		name     string
		addr     string
		err      error
		want     action
		wantAddr string
	}{
		{"success", "a:1", nil, done, "a:1"},
		{"replica names the leader", "a:1", refused("this node is a read-only replica: r1 refuses writes; leader=b:2"), redirect, "b:2"},
		{"token mid-message", "a:1", refused("not the leader; leader=b:2 (epoch 3)"), redirect, "b:2"},
		{"replica does not know", "a:1", refused("this node is a read-only replica: r1 refuses writes; leader="), rediscover, ""},
		{"names itself", "a:1", refused("r1 refuses writes; leader=a:1"), rediscover, ""},
		{"other precondition", "a:1", refused("wal: log unusable after a failed write"), giveUp, ""},
		{"token in another code", "a:1", status.Error(codes.InvalidArgument, "bad id; leader=b:2"), giveUp, ""},
		{"unreachable", "a:1", status.Error(codes.Unavailable, "connection refused"), rediscover, ""},
		{"deadline", "a:1", status.Error(codes.DeadlineExceeded, "deadline exceeded"), rediscover, ""},
		{"invalid", "a:1", status.Error(codes.InvalidArgument, "content too large"), giveUp, ""},
		{"canceled", "a:1", status.Error(codes.Canceled, "canceled"), giveUp, ""},
		{"not a status", "a:1", errors.New("dial: bad target"), giveUp, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, addr := afterWrite(c.addr, c.err)
			if got != c.want || addr != c.wantAddr {
				t.Errorf("afterWrite = %v %q, want %v %q", got, addr, c.want, c.wantAddr)
			}
		})
	}
}

func TestParseAddrs(t *testing.T) {
	got, err := ParseAddrs(" a:1, b:2,,c:3 ")
	if err != nil || strings.Join(got, "|") != "a:1|b:2|c:3" {
		t.Errorf("ParseAddrs = %q, %v", got, err)
	}
	if _, err := ParseAddrs(" , "); err == nil {
		t.Error("empty list accepted")
	}
}

// fakeNode is a storage node reduced to what the leader search uses: its
// replication status, and writes that it accepts (leader) or refuses naming
// a leader (replica).
type fakeNode struct {
	storagepb.UnimplementedStorageServiceServer
	replicationpb.UnimplementedReplicationServiceServer
	addr   string
	role   string
	epoch  uint64
	leader string // what a replica answers in leader=

	mu     sync.Mutex
	writes []string // concept contents written (leader) or refused (replica)
	gets   int
}

func (f *fakeNode) WriteConcept(_ context.Context, req *storagepb.WriteConceptRequest) (*storagepb.WriteResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes = append(f.writes, string(req.GetConcept().GetContent()))
	if f.role != "leader" {
		return nil, status.Errorf(codes.FailedPrecondition, "this node is a read-only replica: %s refuses writes; leader=%s", f.addr, f.leader)
	}
	return &storagepb.WriteResponse{Sequence: uint64(len(f.writes))}, nil
}

func (f *fakeNode) GetConcept(_ context.Context, req *storagepb.GetConceptRequest) (*storagepb.Concept, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	return &storagepb.Concept{Id: req.GetId(), Content: []byte("from " + f.addr)}, nil
}

func (f *fakeNode) GetReplicationStatus(context.Context, *replicationpb.ReplicationStatusRequest) (*replicationpb.ReplicationStatusResponse, error) {
	return &replicationpb.ReplicationStatusResponse{NodeId: f.addr, Role: f.role, Epoch: f.epoch, LeaderAddress: f.leader}, nil
}

func (f *fakeNode) counts() (writes, gets int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.writes), f.gets
}

// startFakes serves each node on its own 127.0.0.1 port. The listeners are
// opened first so that nodes can name each other; setup fills in roles.
func startFakes(t *testing.T, n int, setup func(nodes []*fakeNode)) []*fakeNode {
	t.Helper()
	nodes := make([]*fakeNode, n)
	lis := make([]net.Listener, n)
	for i := range nodes {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lis[i], nodes[i] = l, &fakeNode{addr: l.Addr().String(), role: "replica", epoch: 1}
	}
	setup(nodes)
	for i, f := range nodes {
		srv := grpc.NewServer()
		storagepb.RegisterStorageServiceServer(srv, f)
		replicationpb.RegisterReplicationServiceServer(srv, f)
		go func() { _ = srv.Serve(lis[i]) }()
		t.Cleanup(srv.Stop)
	}
	return nodes
}

// deadAddr is a 127.0.0.1 address nobody listens on.
func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	_ = l.Close()
	return a
}

func TestPutFollowsLeaderNamedInRefusal(t *testing.T) {
	nodes := startFakes(t, 2, func(n []*fakeNode) {
		n[0].leader = n[1].addr // a replica that names the leader
		n[1].role = "leader"
	})
	replica, leader := nodes[0], nodes[1]
	out := run(t, "put", "--addr", replica.addr, "--id", "k", "--content", "v")
	if !strings.Contains(out, "on "+leader.addr) {
		t.Errorf("put output %q does not name the leader %s", out, leader.addr)
	}
	if w, _ := leader.counts(); w != 1 {
		t.Errorf("leader got %d writes, want 1", w)
	}
	if w, _ := replica.counts(); w != 1 {
		t.Errorf("replica saw %d writes, want the 1 it refused", w)
	}
}

func TestPutFindsLeaderByStatus(t *testing.T) {
	// a: replica; b: the current leader (epoch 3); c: a deposed leader that
	// still thinks it leads (epoch 2).
	nodes := startFakes(t, 3, func(n []*fakeNode) {
		n[0].leader = n[2].addr // a stale hint: the status must win
		n[1].role, n[1].epoch = "leader", 3
		n[2].role, n[2].epoch = "leader", 2
	})
	list := deadAddr(t) + "," + nodes[0].addr + "," + nodes[2].addr + "," + nodes[1].addr
	out := run(t, "put", "--addr", list, "--id", "k", "--content", "v")
	if !strings.Contains(out, "on "+nodes[1].addr) {
		t.Errorf("put output %q does not name the epoch-3 leader %s", out, nodes[1].addr)
	}
	for i, want := range []int{0, 1, 0} {
		if w, _ := nodes[i].counts(); w != want {
			t.Errorf("node %d (%s, epoch %d) got %d writes, want %d", i, nodes[i].role, nodes[i].epoch, w, want)
		}
	}
}

func TestPutGivesUpWithoutLeader(t *testing.T) {
	nodes := startFakes(t, 1, func([]*fakeNode) {}) // a replica that knows no leader
	start := time.Now()
	err := Run(context.Background(), []string{"put", "--addr", nodes[0].addr, "--timeout", "2s", "--id", "k", "--content", "v"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no leader accepted the write") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("gave up after %v, --timeout was 2s", d)
	}
	if w, _ := nodes[0].counts(); w < 2 || w > maxAttempts {
		t.Errorf("%d attempts, want between 2 and %d", w, maxAttempts)
	}
}

func TestReadsGoToFirstAnsweringOrLeader(t *testing.T) {
	nodes := startFakes(t, 2, func(n []*fakeNode) { n[1].role = "leader" })
	list := deadAddr(t) + "," + nodes[0].addr + "," + nodes[1].addr
	if out := run(t, "get", "--addr", list, "--id", "k"); !strings.Contains(out, fmt.Sprintf(`"from %s"`, nodes[0].addr)) {
		t.Errorf("get served by %q, want the first answering node %s", out, nodes[0].addr)
	}
	if out := run(t, "get", "--addr", list, "--read-from", "leader", "--id", "k"); !strings.Contains(out, fmt.Sprintf(`"from %s"`, nodes[1].addr)) {
		t.Errorf("get --read-from leader served by %q, want %s", out, nodes[1].addr)
	}
	if out := run(t, "status", "--addr", list, "--read-from", "leader"); !strings.Contains(out, "node "+nodes[1].addr+" (leader)") {
		t.Errorf("status --read-from leader:\n%s", out)
	}
}
