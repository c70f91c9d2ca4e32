package sutractl

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sutra/sutra-operator/internal/pb/storagepb"
)

// TestReadStreamReflectsItsAppliedSequence: a replica's ReadStream answers
// pipelined reads in request order, bad and missing ids with
// GetConcept's codes without ending the stream, and every result whose
// applied sequence covers a write shows that write, while the leader is
// writing.
func TestReadStreamReflectsItsAppliedSequence(t *testing.T) {
	leader := startNode(t, "--role", "leader", "--node-id", "a")
	replica := startNode(t, "--role", "replica", "--leader", leader, "--node-id", "b")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lc := dialNode(t, leader)
	rc := dialNode(t, replica)

	// The leader writes concepts 1..n one after another; seqs[i] is the
	// sequence concept i was acknowledged at.
	const n = 300
	seqs := make([]atomic.Uint64, n+1)
	written := make(chan error, 1)
	go func() {
		wc := storagepb.NewStorageServiceClient(lc)
		for i := uint64(1); i <= n; i++ {
			r, err := wc.WriteConcept(ctx, &storagepb.WriteConceptRequest{Concept: &storagepb.Concept{
				Id: ledgerID(i), Content: []byte(fmt.Sprint(i)), Strength: 1, Confidence: 1}})
			if err != nil {
				written <- err
				return
			}
			seqs[i].Store(r.GetSequence())
		}
		written <- nil
	}()

	stream, err := storagepb.NewStorageServiceClient(rc).ReadStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Requests are sent ahead of their results: rounds of every concept,
	// with a short id and an id never written in each round.
	var sent []uint64 // the concept each request reads: 0 the short id, n+1 one never written
	rounds := 0
	checked, shown := 0, 0
	for done := false; !done; rounds++ {
		select {
		case err := <-written:
			if err != nil {
				t.Fatal(err)
			}
			done = true // one more round once every write is acknowledged
		default:
		}
		for i := uint64(0); i <= n+1; i++ {
			id := ledgerID(i)
			if i == 0 {
				id = []byte("short")
			}
			if err := stream.Send(&storagepb.StreamReadRequest{Id: uint64(len(sent)), ConceptId: id}); err != nil {
				t.Fatal(err)
			}
			sent = append(sent, i)
		}
		for len(sent) > checked {
			res, err := stream.Recv()
			if err != nil {
				t.Fatalf("result %d: %v", checked, err)
			}
			if res.GetId() != uint64(checked) {
				t.Fatalf("result %d carries id %d: out of order", checked, res.GetId())
			}
			want := sent[checked]
			code := codes.Code(res.GetCode())
			switch want {
			case 0:
				if code != codes.InvalidArgument || !strings.Contains(res.GetMessage(), "concept_id") {
					t.Fatalf("short id: %v %q, want INVALID_ARGUMENT naming concept_id", code, res.GetMessage())
				}
			case n + 1:
				if code != codes.NotFound {
					t.Fatalf("unwritten id: %v, want NOT_FOUND", code)
				}
			default:
				seq := seqs[want].Load()
				covered := seq != 0 && res.GetAppliedSequence() >= seq
				if covered && (code != codes.OK || string(res.GetConcept().GetContent()) != fmt.Sprint(want)) {
					t.Fatalf("concept %d, written at %d: %v %q at applied sequence %d", want, seq, code,
						res.GetConcept().GetContent(), res.GetAppliedSequence())
				}
				if code == codes.OK {
					shown++
				}
			}
			checked++
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d reads in %d rounds, %d showed their concept", checked, rounds, shown)
	if shown == 0 {
		t.Fatal("no read showed a written concept")
	}
}

// endedStreams is a node whose ReadStream ends at once
// with a status, as a node refusing the caller or going away does.
type endedStreams struct {
	storagepb.UnimplementedStorageServiceServer
	ended chan struct{}
}

var errGoingAway = status.Error(codes.Unavailable, "node n1 is shutting down")

func (e *endedStreams) ReadStream(storagepb.StorageService_ReadStreamServer) error {
	e.ended <- struct{}{}
	return errGoingAway
}

// A read on a stream the node has ended fails with the node's status, not
// with the io.EOF gRPC's Send returns once the stream is over.
func TestReadStreamReportsWhyTheNodeEndedIt(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	e := &endedStreams{ended: make(chan struct{}, 1)}
	storagepb.RegisterStorageServiceServer(srv, e)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	conn := dialNode(t, lis.Addr().String())
	// The stream is used only once the node has ended it, so that Send
	// meets the end (the status reaches the client within the pause).
	sr, err := newStreamReader(context.Background(), storagepb.NewStorageServiceClient(conn))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sr.Close() }()
	<-e.ended
	time.Sleep(100 * time.Millisecond)
	_, err = sr.Read(ledgerID(1))
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "shutting down") {
		t.Errorf("read on an ended stream: %v, want %v", err, errGoingAway)
	}
}

// dialNode connects to addr for the rest of the test.
func dialNode(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}
