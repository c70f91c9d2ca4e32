package replication

import (
	"context"
	"crypto/tls"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sutra/sutra-operator/client"
	"github.com/sutra/sutra-operator/internal/auth"
	"github.com/sutra/sutra-operator/internal/auth/authtest"
)

func newClient(t *testing.T, streams int, nodes ...*node) *client.Client {
	t.Helper()
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.addr
	}
	c, err := client.New(client.Config{Addrs: addrs, Streams: streams})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// clientWrites counts how a ledger's writes through the Go client ended.
type clientWrites struct {
	acked, unknown, refused atomic.Int64
	above                   atomic.Uint64 // 0, or a sequence: firstAck watches for writes past it
	firstAck                atomic.Int64  // when the first write past above was acknowledged, Unix nanoseconds
}

// putVia writes concept i through c and records it in the ledger when
// acknowledged.
func (w *writer) putVia(c *client.Client, i uint64, n *clientWrites) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := c.Write(ctx, client.PutConcept(w.concept(i)))
	switch {
	case err == nil:
		n.acked.Add(1)
		if a := n.above.Load(); a != 0 && r.First > a {
			n.firstAck.CompareAndSwap(0, time.Now().UnixNano())
		}
	case errors.Is(err, client.ErrUnknownOutcome):
		n.unknown.Add(1)
	default:
		n.refused.Add(1)
	}
	return w.record(i, r.Last, err)
}

// The client finds the leader from a replica's address alone, many
// goroutines share its streams, and every write it acknowledged is on both
// nodes, which end with one digest. A write the leader refuses fails alone
// with the unary calls' code and is not retried; each acknowledged write
// has its own sequence.
func TestClientWritesThroughTheLeaderItFinds(t *testing.T) {
	leader := startLeader(t, "n0")
	replica := startReplica(t, "n1", leader.addr)
	c := newClient(t, 2, replica)
	got, err := c.Leader(context.Background())
	if err != nil || got != leader.addr {
		t.Fatalf("Leader = %q, %v; want %s", got, err, leader.addr)
	}
	w := newWriter(41)
	var n clientWrites
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i, more := w.claim(2000)
				if !more {
					return
				}
				if !w.putVia(c, i, &n) {
					t.Errorf("write %d not acknowledged", i)
				}
			}
		}()
	}
	// Bad writes in between: each fails alone, with the unary calls' code.
	for _, bad := range []struct {
		ops  []client.Op
		code codes.Code
		msg  string
	}{
		{nil, codes.InvalidArgument, "empty"},
		{[]client.Op{client.PutConcept(&client.Concept{Id: []byte("short"), Strength: 1, Confidence: 1})}, codes.InvalidArgument, "want 16"},
		{[]client.Op{{}}, codes.InvalidArgument, "op 0 is empty"},
		{[]client.Op{client.DeleteConcept(conceptID(41, 1<<40))}, codes.NotFound, ""},
	} {
		_, err := c.Write(context.Background(), bad.ops...)
		if status.Code(err) != bad.code || !strings.Contains(err.Error(), bad.msg) || errors.Is(err, client.ErrUnknownOutcome) {
			t.Errorf("bad write %v: got %v, want %v containing %q", bad.ops, err, bad.code, bad.msg)
		}
	}
	wg.Wait()
	seqs := map[uint64]bool{}
	for _, seq := range w.seqs {
		if seqs[seq] {
			t.Fatalf("sequence %d acknowledged twice", seq)
		}
		seqs[seq] = true
	}
	t.Logf("%d writes acknowledged through the client, %d refused, %d with an unknown outcome", n.acked.Load(), n.refused.Load(), n.unknown.Load())
	converged(t, leader, replica)
	lost := w.lostOn(t, leader, replica)
	t.Logf("acknowledged writes lost: %d", lost)
	if lost != 0 || n.acked.Load() != 2000 {
		t.Fatalf("%d of 2000 writes acknowledged, %d of them lost", n.acked.Load(), lost)
	}
	if cc, err := c.Get(context.Background(), conceptID(41, 2000)); err != nil || string(cc.GetContent()) == "" {
		t.Fatalf("Get of the last write: %v, %v", cc, err)
	}
}

// Killed leader, synchronous replication: writers on the client go on
// through the failover. Writes in flight at the kill fail with
// ErrUnknownOutcome; the client finds the promoted replica on its own; no
// acknowledged write is lost on any node, and the digests agree.
func TestClientFollowsFailover(t *testing.T) {
	extra := []string{"--sync-replicas", "1", "--sync-timeout", "2s"}
	n0 := startLeader(t, "n0", extra...)
	n1, n2 := startReplica(t, "n1", n0.addr, extra...), startReplica(t, "n2", n0.addr, extra...)
	c := newClient(t, 2, n0, n1, n2)
	w := newWriter(42)
	var n clientWrites
	stop := make(chan struct{})
	done := untilStopped(8, stop, 10*time.Millisecond, func() bool {
		i, _ := w.claim(0)
		return w.putVia(c, i, &n)
	})
	time.Sleep(500 * time.Millisecond)
	before := n.acked.Load()
	killed := time.Now()
	n0.kill()
	epoch := n1.nodeStatus().GetEpoch() + 1
	next, durable, _ := promoteMostAdvanced(t, epoch, n1, n2)
	n.above.Store(durable) // the new leader's writes come after it
	eventually(t, 30*time.Second, "the client to write to "+next.name, func() error {
		if n.firstAck.Load() == 0 {
			return errors.New("no write acknowledged by the new leader")
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond)
	close(stop)
	<-done
	t.Logf("acknowledged %d writes before the kill, %d in all; %d with an unknown outcome, %d refused; the new leader's first acknowledgement %v after the kill",
		before, n.acked.Load(), n.unknown.Load(), n.refused.Load(), time.Unix(0, n.firstAck.Load()).Sub(killed).Round(time.Millisecond))
	if l, err := c.Leader(context.Background()); err != nil || l != next.addr {
		t.Fatalf("client writes to %q (%v), want the promoted %s", l, err, next.addr)
	}
	// The old leader comes back as a replica of the new one.
	n0.restartAs(append([]string{"--role", "replica", "--leader", next.addr}, extra...)...)
	n0.mustFollow(next, epoch)
	var others []*node
	for _, x := range []*node{n0, n1, n2} {
		if x != next {
			others = append(others, x)
		}
	}
	converged(t, next, others...)
	lost := w.lostOn(t, n0, n1, n2)
	t.Logf("acknowledged writes lost: %d", lost)
	if lost != 0 {
		t.Fatalf("%d acknowledged writes lost across the failover", lost)
	}
}

// A planned switchover: the leader the client writes to becomes a replica.
// Its refusal names the new leader, and the client writes there without
// an error reaching the caller; every acknowledged write is on every node.
func TestClientFollowsSwitchover(t *testing.T) {
	n0 := startLeader(t, "n0")
	n1, n2 := startReplica(t, "n1", n0.addr), startReplica(t, "n2", n0.addr)
	c := newClient(t, 1, n0)
	w := newWriter(43)
	var n clientWrites
	put := func(count int) {
		for range count {
			i, _ := w.claim(0)
			if !w.putVia(c, i, &n) {
				t.Fatalf("write %d not acknowledged", i)
			}
		}
	}
	put(100)
	converged(t, n0, n1, n2)
	epoch := n1.nodeStatus().GetEpoch() + 1
	if _, err := n1.promote(epoch); err != nil {
		t.Fatal(err)
	}
	n0.mustFollow(n1, epoch)
	n2.mustFollow(n1, epoch)
	put(100) // the first goes to n0's stream, which refuses it naming n1
	if l, err := c.Leader(context.Background()); err != nil || l != n1.addr {
		t.Fatalf("client writes to %q (%v), want %s", l, err, n1.addr)
	}
	converged(t, n1, n0, n2)
	lost := w.lostOn(t, n0, n1, n2)
	t.Logf("%d writes acknowledged, %d refused, %d with an unknown outcome; acknowledged writes lost: %d",
		n.acked.Load(), n.refused.Load(), n.unknown.Load(), lost)
	if lost != 0 || n.acked.Load() != 200 {
		t.Fatalf("%d of 200 writes acknowledged, %d lost", n.acked.Load(), lost)
	}
}

// Over mutual TLS, the client writes as a writer; a reader's write is
// refused PERMISSION_DENIED at once, as a refusal and not an unknown
// outcome, and nothing of it is written. The same with bearer tokens.
func TestClientOverTLS(t *testing.T) {
	c := newSecureCluster(t)
	leader, replica := c.leaderWithReplica("n1")
	addrs := []string{replica.addr, leader.addr}
	as := func(kind auth.Kind) *client.Client {
		cl, err := client.New(client.Config{Addrs: addrs, DialOptions: []grpc.DialOption{tlsAs(c.ca.ClientTLS(t, kind, "app"))}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cl.Close() })
		return cl
	}
	w := newWriter(44)
	var n clientWrites
	writer := as(auth.Writer)
	for i := uint64(1); i <= 50; i++ {
		if !w.putVia(writer, i, &n) {
			t.Fatalf("write %d as a writer not acknowledged", i)
		}
	}
	start := time.Now()
	_, err := as(auth.Reader).Write(context.Background(), client.PutConcept(w.concept(51)))
	if status.Code(err) != codes.PermissionDenied || errors.Is(err, client.ErrUnknownOutcome) || time.Since(start) > 5*time.Second {
		t.Fatalf("write as a reader: %v after %v, want PERMISSION_DENIED at once", err, time.Since(start))
	}
	converged(t, leader, replica)
	lost := w.lostOn(t, leader, replica)
	t.Logf("50 writes acknowledged over TLS; acknowledged writes lost: %d; the reader's write refused in %v", lost, time.Since(start).Round(time.Millisecond))
	if lost != 0 {
		t.Fatalf("%d acknowledged writes lost", lost)
	}
	if _, err := writer.Get(context.Background(), conceptID(44, 51)); status.Code(err) != codes.NotFound {
		t.Fatalf("the refused write: %v, want NOT_FOUND", err)
	}
	// Bearer tokens from the node's token file, with client.WithToken.
	tokens := filepath.Join(c.dir, "tokens")
	authtest.WriteFile(t, tokens, []byte("reader dash dash-token-0123456789\nwriter app app-token-0123456789\n"))
	tl := c.start("token-leader", "--role", "leader", "--auth-tokens-file", tokens)
	byToken := func(token string) *client.Client {
		cl, err := client.New(client.Config{Addrs: []string{tl.addr},
			DialOptions: []grpc.DialOption{tlsAs(&tls.Config{RootCAs: c.ca.Pool(), MinVersion: tls.VersionTLS12}), client.WithToken(token)}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cl.Close() })
		return cl
	}
	if _, err := byToken("app-token-0123456789").Write(context.Background(), client.PutConcept(w.concept(52))); err != nil {
		t.Fatalf("write with a writer's token: %v", err)
	}
	_, err = byToken("dash-token-0123456789").Write(context.Background(), client.PutConcept(w.concept(53)))
	if status.Code(err) != codes.PermissionDenied || errors.Is(err, client.ErrUnknownOutcome) {
		t.Fatalf("write with a reader's token: %v, want PERMISSION_DENIED", err)
	}
}
