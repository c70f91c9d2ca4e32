package replication

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sutra/sutra-operator/internal/engine"
	"github.com/sutra/sutra-operator/internal/store"
)

func replicaRow(l *Leader, id string) ReplicaStatus {
	for _, r := range l.Status().Replicas {
		if r.ID == id {
			return r
		}
	}
	return ReplicaStatus{}
}

func writeN(t *testing.T, e *engine.Engine, from, to uint64) {
	t.Helper()
	for i := from; i <= to; i++ {
		if _, err := e.Write([]store.Op{putOp(i)}); err != nil {
			t.Fatal(err)
		}
	}
}

// A second replica process under an id the leader already streams to is
// refused on both sides, and the first keeps streaming.
func TestLeaderRefusesSecondReplicaUnderOneID(t *testing.T) {
	le := openLeaderEngine(t, 1, engine.Options{})
	leader := NewLeader(le, LeaderOptions{NodeID: "leader", ClusterID: "c1", Epoch: 1, Logger: quiet(), KeepaliveInterval: 20 * time.Millisecond})
	writeN(t, le, 1, 50)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e1 := openEngine(t, engine.Options{})
	f1 := NewFollower(e1, memDialer(ctx, leader), FollowerOptions{NodeID: "r1", ClusterID: "c1", Address: "10.0.0.1:7000", Logger: quiet()})
	go f1.Run(ctx)
	waitFor(t, "r1 streaming", func() bool { return e1.AppliedSeq() == 50 && replicaRow(leader, "r1").State == StateStreaming })

	time.Sleep(300 * time.Millisecond) // idle: only keepalives (and their acks) keep the stream alive
	e2 := openEngine(t, engine.Options{})
	f2 := NewFollower(e2, memDialer(ctx, leader), FollowerOptions{NodeID: "r1", ClusterID: "c1", Address: "10.0.0.2:7000", Logger: quiet()})
	go f2.Run(ctx)
	want := "replica id r1 is already streaming from 10.0.0.1:7000; give each node its own SUTRA_NODE_ID"
	waitFor(t, "the second r1 refused", func() bool { return strings.Contains(f2.Status().LastError, want) })
	if row := replicaRow(leader, "r1"); row.LastError != want || row.Address != "10.0.0.1:7000" {
		t.Fatalf("leader's row: %+v, want last error %q and the first replica's address", row, want)
	}
	writeN(t, le, 51, 100)
	waitFor(t, "r1 at 100", func() bool { return e1.AppliedSeq() == 100 })
	time.Sleep(200 * time.Millisecond)
	if e2.AppliedSeq() != 0 || f2.Status().Connected || !f1.Status().Connected {
		t.Fatalf("the refused replica applied %d (connected %v); the first connected %v", e2.AppliedSeq(), f2.Status().Connected, f1.Status().Connected)
	}
	if row := replicaRow(leader, "r1"); !row.Healthy || row.State != StateStreaming || row.Applied != 100 {
		t.Fatalf("leader's row after the refusal: %+v", row)
	}
	t.Logf("refused replica: %s", f2.Status().LastError)
}

// zombieDialer is memDialer for a replica process that dies without the
// leader noticing (kill -9, a lost network): ending the session leaves the
// leader's side of the stream open. served gets each Serve's result.
func zombieDialer(ctx context.Context, l *Leader, served chan<- error) Dialer {
	return func(sctx context.Context, start Start) (Stream, error) {
		m := &memStream{frames: make(chan *Frame, 1024), acks: make(chan Ack, 16), errc: make(chan error, 1), cancel: func() {}}
		go func() {
			served <- l.Serve(ctx, start, func(f *Frame) error { m.frames <- keep(f); return nil }, m.acks)
		}()
		return &zombieStream{memStream: m, ctx: sctx}, nil
	}
}

type zombieStream struct {
	*memStream
	ctx context.Context
}

func (z *zombieStream) Recv() (*Frame, error) {
	select {
	case f := <-z.frames:
		return f, nil
	case <-z.ctx.Done():
		return nil, io.EOF
	}
}

// A replica restarted after kill -9 (a new incarnation, the same address)
// takes over at once from its old stream that the leader still holds; so
// does one at another address once the old stream is silent.
func TestRestartedReplicaReplacesItsDeadStream(t *testing.T) {
	le := openLeaderEngine(t, 1, engine.Options{})
	leader := NewLeader(le, LeaderOptions{NodeID: "leader", ClusterID: "c1", Epoch: 1, Logger: quiet(),
		KeepaliveInterval: 20 * time.Millisecond, UnhealthyAfter: 500 * time.Millisecond})
	writeN(t, le, 1, 50)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 4)

	run := func(addr string) (*Follower, *engine.Engine, context.CancelFunc) {
		e := openEngine(t, engine.Options{})
		fctx, kill := context.WithCancel(ctx)
		f := NewFollower(e, zombieDialer(ctx, leader, served), FollowerOptions{NodeID: "r1", ClusterID: "c1", Address: addr, Logger: quiet()})
		go f.Run(fctx)
		return f, e, kill
	}
	_, e1, kill1 := run("10.0.0.1:7000")
	waitFor(t, "r1 streaming", func() bool { return e1.AppliedSeq() == 50 })
	kill1() // the leader's side of its stream stays open

	start := time.Now()
	f2, e2, kill2 := run("10.0.0.1:7000")
	waitFor(t, "the restarted r1 streaming", func() bool { return e2.AppliedSeq() == 50 && f2.Status().Connected })
	took := time.Since(start)
	if took > 400*time.Millisecond {
		t.Fatalf("the restarted replica took %v: it waited for the old stream to go silent", took)
	}
	select {
	case err := <-served:
		if !errors.Is(err, ErrStreamReplaced) {
			t.Fatalf("the old stream ended with %v, want ErrStreamReplaced", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the old stream did not end")
	}
	t.Logf("restarted replica streaming %v after it started", took.Round(time.Millisecond))

	kill2()
	time.Sleep(700 * time.Millisecond) // past UnhealthyAfter: its stream is dead
	_, e3, _ := run("10.0.0.9:7000")
	waitFor(t, "r1 at a new address streaming", func() bool { return e3.AppliedSeq() == 50 })
	if row := replicaRow(leader, "r1"); row.LastError != "" || row.Address != "10.0.0.9:7000" {
		t.Fatalf("leader's row: %+v", row)
	}
}
