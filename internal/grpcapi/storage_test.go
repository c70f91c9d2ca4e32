package grpcapi

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sutra/sutra-operator/internal/engine"
	"github.com/sutra/sutra-operator/internal/pb/storagepb"
	"github.com/sutra/sutra-operator/internal/replication"
	"github.com/sutra/sutra-operator/internal/store"
)

// heldWrites is a leader whose writes wait until release is closed.
type heldWrites struct {
	release        chan struct{}
	inFlight, peak atomic.Int64
	seq            atomic.Uint64
}

func (h *heldWrites) Info() NodeInfo                  { return NodeInfo{ID: "held", Role: "leader"} }
func (h *heldWrites) Leader() *replication.Leader     { return nil }
func (h *heldWrites) Follower() *replication.Follower { return nil }
func (h *heldWrites) Begin(ctx context.Context, ops []store.Op) (func() (engine.Result, error), error) {
	n := h.inFlight.Add(1)
	for p := h.peak.Load(); n > p && !h.peak.CompareAndSwap(p, n); p = h.peak.Load() {
	}
	return func() (engine.Result, error) {
		defer h.inFlight.Add(-1)
		select {
		case <-h.release:
		case <-ctx.Done():
			return engine.Result{}, ctx.Err()
		}
		last := h.seq.Add(uint64(len(ops)))
		return engine.Result{First: last - uint64(len(ops)) + 1, Last: last}, nil
	}, nil
}

// TestWriteStreamBoundsWritesInFlight: a stream's requests are queued up
// to maxStreamInFlight, the server reads no more until results are sent,
// and every request gets exactly one result with its id.
func TestWriteStreamBoundsWritesInFlight(t *testing.T) {
	held := &heldWrites{release: make(chan struct{})}
	stream := heldStream(t, held)
	const sent = maxStreamInFlight + 100
	sendWrites(t, stream, sent)
	for deadline := time.Now().Add(10 * time.Second); held.inFlight.Load() < maxStreamInFlight; {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes in flight, want %d", held.inFlight.Load(), maxStreamInFlight)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if n := held.inFlight.Load(); n != maxStreamInFlight {
		t.Fatalf("%d writes in flight with %d sent; the bound is %d", n, sent, maxStreamInFlight)
	}
	close(held.release)
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	got := map[uint64]bool{}
	for {
		r, err := stream.Recv()
		if err != nil {
			break
		}
		if r.GetCode() != 0 || got[r.GetId()] || r.GetLastSequence() == 0 {
			t.Fatalf("result %v (seen before: %v)", r, got[r.GetId()])
		}
		got[r.GetId()] = true
	}
	if len(got) != sent || held.peak.Load() != maxStreamInFlight {
		t.Fatalf("%d results for %d requests; peak in flight %d", len(got), sent, held.peak.Load())
	}
}

// heldStream opens a WriteStream to a server whose node is held, from a
// client with a fixed 64 KiB receive window.
func heldStream(t *testing.T, held *heldWrites) storagepb.StorageService_WriteStreamClient {
	t.Helper()
	srv := grpc.NewServer()
	storagepb.RegisterStorageServiceServer(srv, &StorageServer{Roles: held})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	stream, err := storagepb.NewStorageServiceClient(conn).WriteStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

// sendWrites sends n one-concept requests with ids 1 to n.
func sendWrites(t *testing.T, stream storagepb.StorageService_WriteStreamClient, n uint64) {
	t.Helper()
	for i := uint64(1); i <= n; i++ {
		id := make([]byte, 16)
		id[15], id[14] = byte(i), byte(i>>8)
		err := stream.Send(&storagepb.StreamWriteRequest{Id: i, Ops: []*storagepb.WriteOp{{Op: &storagepb.WriteOp_WriteConcept{
			WriteConcept: &storagepb.Concept{Id: id, Strength: 1, Confidence: 1}}}}})
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
}
