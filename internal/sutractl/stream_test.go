package sutractl

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sutra/sutra-operator/internal/discovery"
	"github.com/sutra/sutra-operator/internal/pb/storagepb"
)

// TestWriteStreamAcknowledgesEveryWrite: many writers share one
// WriteStream; every write it acknowledged is on the leader and the
// replica, each with its own sequence, and both end with one digest. Bad
// requests on the stream fail alone, with the unary calls' codes, and the
// stream goes on.
func TestWriteStreamAcknowledgesEveryWrite(t *testing.T) {
	leader := startNode(t, "--role", "leader", "--node-id", "a")
	replica := startNode(t, "--role", "replica", "--leader", leader, "--node-id", "b")
	conn := dialNode(t, leader)
	ctx := context.Background()
	sw, err := newStreamWriter(ctx, storagepb.NewStorageServiceClient(conn))
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 32, 50
	type acked struct {
		id  uint64
		seq uint64
	}
	var mu sync.Mutex
	var acks []acked
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				id := uint64(w*each + i + 1)
				r, err := sw.Write([]*storagepb.WriteOp{{Op: &storagepb.WriteOp_WriteConcept{WriteConcept: &storagepb.Concept{
					Id: ledgerID(id), Content: []byte(fmt.Sprint(id)), Strength: 1, Confidence: 1}}}})
				if err != nil {
					t.Errorf("write %d: %v", id, err)
					return
				}
				mu.Lock()
				acks = append(acks, acked{id, r.GetLastSequence()})
				mu.Unlock()
			}
		}()
	}
	// Bad requests in between: each fails alone.
	for _, bad := range []struct {
		ops  []*storagepb.WriteOp
		code codes.Code
		msg  string
	}{
		{nil, codes.InvalidArgument, "empty"},
		{[]*storagepb.WriteOp{{Op: &storagepb.WriteOp_WriteConcept{WriteConcept: &storagepb.Concept{Id: []byte("short")}}}}, codes.InvalidArgument, "want 16"},
		{[]*storagepb.WriteOp{{}}, codes.InvalidArgument, "ops[0]"},
		{[]*storagepb.WriteOp{{Op: &storagepb.WriteOp_DeleteConcept{DeleteConcept: ledgerID(1 << 40)}}}, codes.NotFound, ""},
	} {
		_, err := sw.Write(bad.ops)
		if status.Code(err) != bad.code || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("bad request %v: got %v, want %v containing %q", bad.ops, err, bad.code, bad.msg)
		}
	}
	wg.Wait()
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	if len(acks) != writers*each {
		t.Fatalf("%d of %d writes acknowledged", len(acks), writers*each)
	}
	seqs := map[uint64]bool{}
	var top uint64
	for _, a := range acks {
		if seqs[a.seq] {
			t.Fatalf("sequence %d acknowledged twice", a.seq)
		}
		seqs[a.seq], top = true, max(top, a.seq)
	}
	ledger := make([]ack, len(acks))
	for i, a := range acks {
		ledger[i] = ack{id: a.id, seq: a.seq}
	}
	for _, node := range []string{leader, replica} {
		lost, _, err := checkLedger(ctx, node, ledger, top, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d of %d acknowledged stream writes lost", node, lost, len(ledger))
		if lost != 0 {
			t.Errorf("%s lacks %d acknowledged writes", node, lost)
		}
	}
	if _, same := nodeDigests(ctx, []string{leader, replica}); !same {
		t.Error("leader and replica digests differ")
	}
}

// TestWriteStreamOnAReplica: every write on a replica's stream fails with
// FAILED_PRECONDITION naming the leader, and nothing is written.
func TestWriteStreamOnAReplica(t *testing.T) {
	leader := startNode(t, "--role", "leader", "--node-id", "a")
	replica := startNode(t, "--role", "replica", "--leader", leader, "--node-id", "b")
	conn := dialNode(t, replica)
	sw, err := newStreamWriter(context.Background(), storagepb.NewStorageServiceClient(conn))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sw.Close() }()
	for i := 0; i < 3; i++ {
		_, err := sw.Write([]*storagepb.WriteOp{{Op: &storagepb.WriteOp_WriteConcept{WriteConcept: &storagepb.Concept{
			Id: ledgerID(uint64(i + 1)), Strength: 1, Confidence: 1}}}})
		if hint, ok := discovery.LeaderHint(err); status.Code(err) != codes.FailedPrecondition || !ok || hint != leader {
			t.Fatalf("write on a replica: %v (leader hint %q, want %q)", err, hint, leader)
		}
	}
	st, err := storagepb.NewStorageServiceClient(conn).GetStats(context.Background(), &storagepb.GetStatsRequest{})
	if err != nil || st.GetAppliedSequence() != 0 {
		t.Fatalf("replica stats %v, %v: something was written", st, err)
	}
}

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

// endedStreams is a node whose WriteStream and ReadStream end at once
// with a status, as a node refusing the caller or going away does.
type endedStreams struct {
	storagepb.UnimplementedStorageServiceServer
	ended chan struct{}
}

var errGoingAway = status.Error(codes.Unavailable, "node n1 is shutting down")

func (e *endedStreams) WriteStream(storagepb.StorageService_WriteStreamServer) error {
	e.ended <- struct{}{}
	return errGoingAway
}

func (e *endedStreams) ReadStream(storagepb.StorageService_ReadStreamServer) error {
	e.ended <- struct{}{}
	return errGoingAway
}

// A write or read on a stream the node has ended fails with the node's
// status, not with the io.EOF gRPC's Send returns once the stream is over.
func TestStreamsReportWhyTheNodeEndedThem(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	e := &endedStreams{ended: make(chan struct{}, 2)}
	storagepb.RegisterStorageServiceServer(srv, e)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	conn := dialNode(t, lis.Addr().String())
	ctx := context.Background()
	c := storagepb.NewStorageServiceClient(conn)
	// Each stream is used only once the node has ended it, so that Send
	// meets the end (the status reaches the client within the pause).
	sw, err := newStreamWriter(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sw.Close() }()
	sr, err := newStreamReader(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sr.Close() }()
	<-e.ended
	<-e.ended
	time.Sleep(100 * time.Millisecond)
	_, werr := sw.Write([]*storagepb.WriteOp{{Op: &storagepb.WriteOp_WriteConcept{WriteConcept: &storagepb.Concept{
		Id: ledgerID(1), Content: []byte("x"), Strength: 1, Confidence: 1}}}})
	_, rerr := sr.Read(ledgerID(1))
	for name, err := range map[string]error{"write": werr, "read": rerr} {
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "shutting down") {
			t.Errorf("%s on an ended stream: %v, want %v", name, err, errGoingAway)
		}
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
