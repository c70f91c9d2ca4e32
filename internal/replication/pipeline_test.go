package replication

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sutra/sutra-operator/internal/engine"
	"github.com/sutra/sutra-operator/internal/history"
	"github.com/sutra/sutra-operator/internal/wal"
)

// scriptStream plays a fixed list of frames to a follower, then stays open.
type scriptStream struct {
	frames   []*Frame
	received atomic.Int64
	acks     chan Ack
	closed   chan struct{}
}

func (s *scriptStream) Recv() (*Frame, error) {
	if n := int(s.received.Load()); n < len(s.frames) {
		s.received.Add(1)
		return s.frames[n], nil
	}
	<-s.closed
	return nil, context.Canceled
}

func (s *scriptStream) Ack(a Ack) error {
	select {
	case s.acks <- a:
	default:
	}
	return nil
}

func (s *scriptStream) Close() error {
	select {
	case <-s.closed:
	default:
		close(s.closed)
	}
	return nil
}

// helloFrame is the first frame of a leader in epoch that shares nothing
// with the replica yet.
func helloFrame(epoch uint64) *Frame {
	return &Frame{Hello: &Hello{LeaderID: "leader", Epoch: epoch, History: history.History{{Epoch: epoch, Start: 1, ID: 7}}}}
}

// A replica keeps receiving while its log syncs: frames that arrive during
// one fsync share the next instead of costing one fsync each.
func TestFollowerSharesSyncsAcrossFrames(t *testing.T) {
	const frames = 200
	s := &scriptStream{acks: make(chan Ack, frames), closed: make(chan struct{}), frames: []*Frame{helloFrame(1)}}
	for i := uint64(1); i <= frames; i++ {
		op := putOp(i)
		s.frames = append(s.frames, &Frame{Entries: []wal.Record{{Seq: i, Epoch: 1, Time: int64(i), Data: op.AppendBinary(nil)}}})
	}
	var syncs atomic.Int64
	// Every group commit takes 2 ms, as a slow disk's fsync would.
	e, _, err := engine.Open(t.TempDir(), engine.Options{Logger: quiet(), CheckpointBytes: -1, WAL: wal.Options{
		NoSync: true,
		OnSync: func(int, int, time.Duration) {
			syncs.Add(1)
			time.Sleep(2 * time.Millisecond)
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e.Close() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := NewFollower(e, func(context.Context, Start) (Stream, error) { return s, nil }, FollowerOptions{NodeID: "r", ClusterID: "c1", Logger: quiet()})
	go f.Run(ctx)
	waitFor(t, "every frame applied", func() bool { return e.AppliedSeq() == frames })
	if n := syncs.Load(); n > frames/10 {
		t.Fatalf("%d frames took %d group commits; frames received during a sync should share the next", frames, n)
	}
	// The applier counts a batch when it reaches it, which may be just
	// after an earlier batch's apply covered it.
	waitFor(t, "status counts every entry", func() bool {
		st := f.Status()
		return st.Entries == frames && st.Durable == frames && st.Applied == frames
	})
	waitFor(t, "final ack", func() bool {
		for {
			select {
			case a := <-s.acks:
				if a.Applied == frames && a.Durable == frames {
					return true
				}
			default:
				return false
			}
		}
	})
}

// A batch is shown to readers as soon as it arrives, not once the local
// log has synced the batches before it: with the replica's first sync
// held, every later frame is applied, and only releasing the sync makes
// them durable.
func TestFollowerShowsBatchesBehindAHeldSync(t *testing.T) {
	const frames = 20
	s := &scriptStream{acks: make(chan Ack, 4*frames), closed: make(chan struct{}), frames: []*Frame{helloFrame(1)}}
	for i := uint64(1); i <= frames; i++ {
		op := putOp(i)
		s.frames = append(s.frames, &Frame{Entries: []wal.Record{{Seq: i, Epoch: 1, Time: int64(i), Data: op.AppendBinary(nil)}}})
	}
	var hold atomic.Bool
	hold.Store(true)
	entered, release := make(chan struct{}), make(chan struct{})
	e, _, err := engine.Open(t.TempDir(), engine.Options{Logger: quiet(), CheckpointBytes: -1, WAL: wal.Options{
		NoSync: true,
		OnSync: func(int, int, time.Duration) {
			if hold.CompareAndSwap(true, false) {
				close(entered)
				<-release
			}
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e.Close() }()
	unblock := sync.OnceFunc(func() { close(release) })
	defer unblock() // before Close, should the test fail with the sync held
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := NewFollower(e, func(context.Context, Start) (Stream, error) { return s, nil }, FollowerOptions{NodeID: "r", ClusterID: "c1", Logger: quiet()})
	go f.Run(ctx)
	<-entered
	waitFor(t, "every frame shown while the first sync is held", func() bool { return e.AppliedSeq() == frames })
	if d := e.DurableSeq(); d != 0 {
		t.Fatalf("durable %d while the first sync is held", d)
	}
	unblock()
	waitFor(t, "every frame durable", func() bool { return e.DurableSeq() == frames })
}

// A replica of a leader that lets it hold acks spaces its log's syncs by
// its SyncInterval (DefaultSyncInterval unless set; negative: not at all)
// while it follows, and stops once the session ends; a replica of a
// leader that waits for acks syncs each batch at once.
func TestFollowerSpacesSyncsOnlyWhenAcksMayBeHeld(t *testing.T) {
	for _, tc := range []struct {
		delay, opt, want time.Duration
	}{
		{0, 0, 0},
		{0, 30 * time.Millisecond, 0},
		{4 * time.Millisecond, 0, DefaultSyncInterval},
		{4 * time.Millisecond, 30 * time.Millisecond, 30 * time.Millisecond},
		{4 * time.Millisecond, -1, 0},
	} {
		hello := helloFrame(1)
		hello.Hello.AckDelay = tc.delay
		s := &scriptStream{acks: make(chan Ack, 16), closed: make(chan struct{}), frames: []*Frame{hello}}
		e := openEngine(t, engine.Options{})
		ctx, cancel := context.WithCancel(context.Background())
		f := NewFollower(e, func(context.Context, Start) (Stream, error) { return s, nil },
			FollowerOptions{NodeID: "r", ClusterID: "c1", Logger: quiet(), SyncInterval: tc.opt})
		done := make(chan struct{})
		go func() { defer close(done); f.Run(ctx) }()
		waitFor(t, "the hello read", func() bool { return s.received.Load() == 1 })
		waitFor(t, "the sync interval set", func() bool { return e.Log().SyncInterval() == tc.want })
		time.Sleep(20 * time.Millisecond)
		if got := e.Log().SyncInterval(); got != tc.want {
			t.Fatalf("ack delay %v, option %v: sync interval %v while following, want %v", tc.delay, tc.opt, got, tc.want)
		}
		cancel()
		_ = s.Close()
		<-done
		if got := e.Log().SyncInterval(); got != 0 {
			t.Fatalf("ack delay %v, option %v: sync interval %v after following, want 0", tc.delay, tc.opt, got)
		}
	}
}

// However long the sync interval, batches do not pile up behind it: once
// half the batches a replica may have in flight wait for the spaced sync,
// the receiver has it now, so the queue never fills and stops receiving.
// Every frame is shown at once, and the first half of them made durable
// within seconds with an interval of an hour.
func TestFollowerHurriesASpacedSyncBeforeItsQueueFills(t *testing.T) {
	const frames = maxInFlight + 8
	hello := helloFrame(1)
	hello.Hello.AckDelay = time.Millisecond
	s := &scriptStream{acks: make(chan Ack, 4*frames), closed: make(chan struct{}), frames: []*Frame{hello}}
	for i := uint64(1); i <= frames; i++ {
		op := putOp(i)
		s.frames = append(s.frames, &Frame{Entries: []wal.Record{{Seq: i, Epoch: 1, Time: int64(i), Data: op.AppendBinary(nil)}}})
	}
	// Each sync is slow, so that the receiver runs ahead of the applier.
	e, _, err := engine.Open(t.TempDir(), engine.Options{Logger: quiet(), CheckpointBytes: -1, WAL: wal.Options{
		NoSync: true,
		OnSync: func(int, int, time.Duration) { time.Sleep(5 * time.Millisecond) },
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e.Close() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := NewFollower(e, func(context.Context, Start) (Stream, error) { return s, nil },
		FollowerOptions{NodeID: "r", ClusterID: "c1", Logger: quiet(), SyncInterval: time.Hour})
	go f.Run(ctx)
	waitFor(t, "every frame shown", func() bool { return e.AppliedSeq() == frames })
	waitFor(t, "half the queue made durable", func() bool { return e.DurableSeq() >= maxInFlight/2 })
}

// endedStream is a stream the leader ended once it had sent its frames:
// every Ack returns io.EOF, while Recv still returns the frames received
// before the end, then (once an ack has met the end) the leader's reason.
type endedStream struct {
	scriptStream
	reason error
	eof    chan struct{}
	once   sync.Once
}

func (s *endedStream) Recv() (*Frame, error) {
	if n := int(s.received.Load()); n < len(s.frames) {
		return s.scriptStream.Recv()
	}
	<-s.eof
	return nil, s.reason
}

func (s *endedStream) Ack(Ack) error {
	s.once.Do(func() { close(s.eof) })
	return io.EOF
}

// When the leader ends a stream, an ack fails with io.EOF before Recv has
// returned the frames received before the end and then the leader's
// reason: the follower applies those frames and reports the reason, not
// the EOF.
func TestFollowerReportsWhyTheLeaderEndedTheStream(t *testing.T) {
	const entries = 50
	s := &endedStream{
		scriptStream: scriptStream{closed: make(chan struct{}), frames: []*Frame{helloFrame(1)}},
		reason:       errors.New("leader leader is shutting down"),
		eof:          make(chan struct{}),
	}
	for i := uint64(1); i <= entries; i++ {
		op := putOp(i)
		s.frames = append(s.frames, &Frame{Entries: []wal.Record{{Seq: i, Epoch: 1, Time: int64(i), Data: op.AppendBinary(nil)}}})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := openEngine(t, engine.Options{})
	f := NewFollower(e, func(context.Context, Start) (Stream, error) { return s, nil },
		FollowerOptions{NodeID: "r", ClusterID: "c1", Logger: quiet(), MinBackoff: time.Hour})
	go f.Run(ctx)
	waitFor(t, "the session to end", func() bool { return f.Status().LastError != "" })
	if got := f.Status().LastError; !strings.Contains(got, s.reason.Error()) {
		t.Fatalf("follower reports %q, want the leader's reason %q", got, s.reason)
	}
	if got := e.AppliedSeq(); got != entries {
		t.Fatalf("applied %d of the %d records received before the stream ended", got, entries)
	}
}
