package sutractl

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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
	conn, err := dial(context.Background(), leader)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
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
	conn, err := dial(context.Background(), replica)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	sw, err := newStreamWriter(context.Background(), storagepb.NewStorageServiceClient(conn))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sw.Close() }()
	for i := 0; i < 3; i++ {
		_, err := sw.Write([]*storagepb.WriteOp{{Op: &storagepb.WriteOp_WriteConcept{WriteConcept: &storagepb.Concept{
			Id: ledgerID(uint64(i + 1)), Strength: 1, Confidence: 1}}}})
		if hint, ok := leaderHint(err); status.Code(err) != codes.FailedPrecondition || !ok || hint != leader {
			t.Fatalf("write on a replica: %v (leader hint %q, want %q)", err, hint, leader)
		}
	}
	st, err := storagepb.NewStorageServiceClient(conn).GetStats(context.Background(), &storagepb.GetStatsRequest{})
	if err != nil || st.GetAppliedSequence() != 0 {
		t.Fatalf("replica stats %v, %v: something was written", st, err)
	}
}
