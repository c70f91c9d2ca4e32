package replication

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sutra/sutra-operator/internal/engine"
)

// Stream is a replica's end of an open replication stream.
type Stream interface {
	// Recv returns the next frame from the leader.
	Recv() (*Frame, error)
	// Ack reports progress to the leader. Once the leader has ended the
	// stream it returns io.EOF, and Recv returns why (gRPC's contract).
	Ack(Ack) error
	// Close ends the stream.
	Close() error
}

// Dialer opens a stream to the leader and sends start.
type Dialer func(ctx context.Context, start Start) (Stream, error)

// FollowerOptions configure a Follower.
type FollowerOptions struct {
	NodeID     string
	ClusterID  string
	Address    string        // where this replica serves, sent to the leader
	Leader     string        // leader address, for status and redirects
	MinBackoff time.Duration // default 100ms
	MaxBackoff time.Duration // default 5s
	// Timeout is how long a stream may stay silent (no frame, not even a
	// keepalive) before the replica reconnects. Default 10s.
	Timeout time.Duration
	Logger  *slog.Logger
	// MinEpoch refuses leaders in older epochs: the epoch of the leader an
	// admin Follow named.
	MinEpoch uint64
	// Rewind lets the replica reconcile a log that diverged from this
	// leader's: records past the fork point are set aside
	// (engine.Rewind) instead of the stream being refused forever. Set by
	// an admin Follow; a replica started from configuration keeps its data.
	Rewind bool
	// OnRewind, if set, is told what each rewind did.
	OnRewind func(engine.Rewound)
	// Incarnation identifies this replica process to the leader (see
	// Start.Incarnation): draw it once per process. Default: drawn by
	// NewFollower.
	Incarnation uint64
	// SyncInterval spaces the local log's syncs while the leader lets
	// acks be held (an asynchronous leader, Hello.AckDelay > 0): records
	// received meanwhile wait at most this long and share one sync. Readers
	// see each batch on receipt regardless, and acks report only what is
	// synced. Default DefaultSyncInterval; negative: each batch is synced
	// at once. A leader that waits for acks always has each batch synced
	// at once.
	SyncInterval time.Duration
}

// DefaultSyncInterval is FollowerOptions.SyncInterval's default: a replica
// of an asynchronous leader syncs its log at most every 10 ms.
const DefaultSyncInterval = 10 * time.Millisecond

func (o FollowerOptions) withDefaults() FollowerOptions {
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Incarnation == 0 {
		o.Incarnation = NewIncarnation()
	}
	switch {
	case o.SyncInterval < 0:
		o.SyncInterval = 0
	case o.SyncInterval == 0:
		o.SyncInterval = DefaultSyncInterval
	}
	return o
}

// NewIncarnation draws a random, non-zero incarnation id.
func NewIncarnation() uint64 { return rand.Uint64() | 1 }

// Follower keeps a replica's engine in step with its leader.
type Follower struct {
	eng  *engine.Engine
	dial Dialer
	opts FollowerOptions

	connected   atomic.Bool
	reconnects  atomic.Uint64
	leaderSeq   atomic.Uint64
	lastApplyAt atomic.Int64  // leader timestamp of the last applied entry
	lastFrame   atomic.Int64  // local time of the last frame, Unix nanoseconds
	shownSeq    atomic.Uint64 // applied sequence after the receiver's last Show
	shownAt     atomic.Int64  // when that Show returned, Unix nanoseconds
	epoch       atomic.Uint64 // highest leader epoch seen
	diverged    atomic.Bool
	fork        atomic.Uint64
	verified    atomic.Uint64                 // newest checkpoint that matched the leader's
	mismatch    atomic.Pointer[DivergedError] // set when a checkpoint did not match; sticky until a Follow
	setAside    atomic.Uint64
	snapshots   atomic.Uint64
	entries     atomic.Uint64
	bytes       atomic.Uint64
	mu          sync.Mutex
	lastErr     string
}

// NewFollower returns a follower applying to eng through dial.
func NewFollower(eng *engine.Engine, dial Dialer, opts FollowerOptions) *Follower {
	f := &Follower{eng: eng, dial: dial, opts: opts.withDefaults()}
	f.epoch.Store(max(eng.Epoch(), opts.MinEpoch))
	return f
}

// Run follows the leader until ctx ends, reconnecting with exponential
// backoff and jitter. Each connection resumes at the local log's last
// sequence + 1.
func (f *Follower) Run(ctx context.Context) {
	backoff := f.opts.MinBackoff
	for ctx.Err() == nil {
		start := time.Now()
		err := f.session(ctx)
		f.connected.Store(false)
		if ctx.Err() != nil {
			return
		}
		f.setErr(err)
		f.reconnects.Add(1)
		f.opts.Logger.Warn("replication: stream to leader ended", "leader", f.opts.Leader, "err", err, "retry_in", backoff)
		if time.Since(start) > 10*time.Second {
			backoff = f.opts.MinBackoff // the last session was healthy
		}
		jitter := time.Duration(rand.Int64N(int64(backoff)/2 + 1))
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff/2 + jitter):
		}
		backoff = min(backoff*2, f.opts.MaxBackoff)
	}
}

func (f *Follower) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		f.lastErr = ""
	} else {
		f.lastErr = err.Error()
	}
}

// session runs one stream until it fails.
//
// Receiving and writing are pipelined: this goroutine receives frames and
// queues their entries for the local log without waiting, and an applier
// goroutine waits for each batch to be durable, applies it and acks. Frames
// that arrive while the log syncs share its next group commit, so a replica
// catching up after a slow fsync drains its backlog in one sync instead of
// one per frame. Only the applier sends on the stream.
func (f *Follower) session(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if m := f.mismatch.Load(); m != nil {
		if !f.opts.Rewind {
			return m
		}
		// An admin Follow: go back to the last checkpoint that matched and
		// replay the leader's log from there.
		if err := f.rewind(m.Fork, "the last verified checkpoint", "replication: state diverged from the leader's; rewound to the last verified checkpoint"); err != nil {
			return err
		}
		f.mismatch.Store(nil)
		f.diverged.Store(false)
	}
	last, lastEpoch, lastCRC, err := f.eng.LastRecord()
	if err != nil {
		return err
	}
	next := last + 1
	s, err := f.dial(ctx, Start{StartSeq: next, ReplicaID: f.opts.NodeID, ClusterID: f.opts.ClusterID, Address: f.opts.Address,
		Epoch: f.epoch.Load(), History: f.eng.History(), LastEpoch: lastEpoch, LastCRC: lastCRC, Incarnation: f.opts.Incarnation})
	if err != nil {
		return err
	}
	defer func() { _ = s.Close() }()
	ackDelay, err := f.hello(s)
	if err != nil {
		return err
	}
	// A stream that goes silent is torn down so Recv returns.
	f.lastFrame.Store(time.Now().UnixNano())
	go func() {
		t := time.NewTicker(f.opts.Timeout / 4)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if time.Since(time.Unix(0, f.lastFrame.Load())) > f.opts.Timeout {
					f.opts.Logger.Warn("replication: leader silent, reconnecting", "timeout", f.opts.Timeout)
					cancel()
					_ = s.Close()
					return
				}
			}
		}
	}()
	if ackDelay > 0 && f.opts.SyncInterval > 0 {
		// The leader does not wait for acks: the local log may sync
		// seldom (readers see each batch on receipt regardless).
		f.eng.Log().SetSyncInterval(f.opts.SyncInterval)
		defer f.eng.Log().SetSyncInterval(0)
	}
	f.shownSeq.Store(0)
	ap := f.startApplier(s, cancel, ackDelay)
	defer ap.stop()
	var snap *snapshotReceiver
	defer func() {
		if snap != nil {
			snap.abort()
		}
	}()
	var mismatchAt time.Time
	for {
		fr, err := s.Recv()
		if err != nil {
			// Not connected from here on, while the session winds down
			// (the applier finishing its queue can take a sync).
			f.connected.Store(false)
			if m := f.mismatch.Load(); m != nil {
				return m
			}
			if aerr := ap.err(); aerr != nil {
				return aerr
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("leader closed the stream")
			}
			return err
		}
		if m := f.mismatch.Load(); m != nil {
			// Waiting for the leader to end the stream after the
			// mismatch ack; a leader that does not is left after a while.
			if mismatchAt.IsZero() {
				mismatchAt = time.Now()
			} else if time.Since(mismatchAt) > f.opts.Timeout {
				return m
			}
			continue
		}
		f.lastFrame.Store(time.Now().UnixNano())
		f.connected.Store(true)
		f.setErr(nil)
		if fr.LeaderSeq > 0 {
			f.leaderSeq.Store(fr.LeaderSeq)
		}
		if len(fr.Entries) == 0 && fr.Snapshot == nil {
			// A keepalive: acked, so the leader sees an idle stream is
			// alive (see Start.Incarnation); it may carry a checkpoint.
			ap.push(batch{check: fr.Check})
		}
		switch {
		case fr.Snapshot != nil:
			if snap == nil {
				// Installing replaces the store and the log: nothing
				// may be in flight.
				if err := ap.drain(); err != nil {
					return err
				}
				snap = f.receiveSnapshot(fr.Snapshot)
			}
			done, err := snap.add(fr.Snapshot)
			if err != nil {
				return err
			}
			if done {
				snap = nil
				f.snapshots.Add(1)
				next = f.eng.Log().LastSeq() + 1
				ap.push(batch{})
			}
		case len(fr.Entries) > 0:
			first, last := fr.Entries[0], fr.Entries[len(fr.Entries)-1]
			if first.Seq != next {
				return fmt.Errorf("%w: leader sent %d, expected %d", ErrGap, first.Seq, next)
			}
			if e := f.epoch.Load(); last.Epoch > e {
				return fmt.Errorf("%w: entry %d has epoch %d, newer than its leader's %d", ErrBadRequest, last.Seq, last.Epoch, e)
			}
			r, err := f.eng.BeginReplicated(fr.Entries)
			if err != nil {
				return fmt.Errorf("replication: apply batch at %d: %w", first.Seq, err)
			}
			// Readers see the batch now, not once the applier is done
			// waiting for the local log to sync the batches before it.
			r.Show()
			f.shownAt.Store(time.Now().UnixNano())
			f.shownSeq.Store(f.eng.AppliedSeq())
			next = last.Seq + 1
			var size uint64
			for i := range fr.Entries {
				size += uint64(fr.Entries[i].Size())
			}
			if len(ap.q) >= maxInFlight/2 {
				// The batches in flight wait for a spaced sync: have it
				// now, before the queue fills and stops this receiver.
				f.eng.Log().Hurry()
			}
			if !ap.push(batch{r: r, first: first.Seq, n: uint64(len(fr.Entries)), bytes: size, time: last.Time, check: fr.Check}) {
				return ap.err()
			}
		}
	}
}

// hello reads the leader's first frame and checks that this replica's log
// is a prefix of the leader's before anything is streamed into it. It
// returns how long acks may be held on the stream.
func (f *Follower) hello(s Stream) (time.Duration, error) {
	fr, err := s.Recv()
	if err != nil {
		return 0, err
	}
	h := fr.Hello
	if h == nil {
		return 0, fmt.Errorf("%w: the leader's first message is not a hello", ErrBadRequest)
	}
	if cur := f.epoch.Load(); h.Epoch < cur {
		return 0, fmt.Errorf("%w: leader %s is in epoch %d, this replica has seen %d", ErrStaleEpoch, h.LeaderID, h.Epoch, cur)
	}
	if h.Diverged {
		// Only the leader an admin Follow named may rewind this log.
		if !f.opts.Rewind || h.Epoch != f.opts.MinEpoch {
			f.diverged.Store(true)
			f.fork.Store(h.Fork)
			// The refusal that follows names the fork point too.
			if _, err := s.Recv(); err != nil {
				return 0, err
			}
			return 0, &DivergedError{Replica: f.opts.NodeID, Fork: h.Fork, Detail: "the leader refused the stream"}
		}
		if err := f.rewind(h.Fork, "the fork", "replication: log diverged from the new leader's; records past the fork set aside"); err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("replication: rewound to the fork at %d; reconnecting", h.Fork)
	}
	if err := f.eng.AdoptHistory(h.History); err != nil {
		return 0, err
	}
	f.diverged.Store(false)
	f.fork.Store(0)
	f.epoch.Store(h.Epoch)
	return h.AckDelay, nil
}

// rewind discards the local records after seq (engine.Rewind), counts and
// logs what was set aside, and tells OnRewind. what names seq in errors.
func (f *Follower) rewind(seq uint64, what, msg string) error {
	rw, err := f.eng.Rewind(seq)
	if err != nil {
		return fmt.Errorf("replication: rewind to %s at %d: %w", what, seq, err)
	}
	f.setAside.Add(rw.SetAside)
	f.opts.Logger.Warn(msg, "leader", f.opts.Leader, "seq", seq, "set_aside", rw.SetAside, "dir", rw.Dir, "resync", rw.Resync)
	if f.opts.OnRewind != nil {
		f.opts.OnRewind(rw)
	}
	return nil
}

// batch is one frame's entries on their way through the applier; the zero
// batch only asks for an ack.
type batch struct {
	r      engine.Replicated
	first  uint64
	n      uint64
	bytes  uint64
	time   int64             // leader timestamp of the last entry
	check  engine.Checkpoint // the leader's digest checkpoint carried by the frame, if any
	synced chan struct{}
}

// applier waits for queued batches, which the receiver has shown already,
// to become durable and acks the leader, off the receiving goroutine.
type applier struct {
	q      chan batch
	done   chan struct{}
	cancel context.CancelFunc
	mu     sync.Mutex
	failed error
}

// maxInFlight bounds the frames received but not yet durable (at most
// 256 KiB each).
const maxInFlight = 64

// ackEvery bounds how long acks wait while the applier works through
// batches that are already durable (catching up): acks go out whenever it
// is about to wait for the log or runs out of batches, and at least this
// often. A leader that allows it (Hello.AckDelay) has them held until that
// long after the previous ack, so a replica sends at most one per delay
// however many batches it applies.
const ackEvery = 20 * time.Millisecond

func (f *Follower) startApplier(s Stream, cancel context.CancelFunc, delay time.Duration) *applier {
	a := &applier{q: make(chan batch, maxInFlight), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(a.done)
		var lastAck time.Time
		unacked := false // applied more than the last ack reported
		var applied, ackedApplied uint64
		var appliedAt time.Time // when the store reached applied
		var durable uint64
		var durableAt time.Time        // when the log was seen to reach durable
		var held *time.Timer           // a held ack's due time, while one is held
		var checks []engine.Checkpoint // the leader's, not yet compared
		defer func() {
			if held != nil {
				held.Stop()
			}
		}()
		noteApplied := func() {
			if seq := f.eng.AppliedSeq(); seq != applied {
				// The receiver's Show reached seq at shownAt or, if
				// shownSeq is not seq yet, just now.
				at := time.Now()
				if f.shownSeq.Load() == seq {
					at = time.Unix(0, f.shownAt.Load())
				}
				applied, appliedAt = seq, at
			}
			if applied > ackedApplied {
				unacked = true
			}
		}
		noteDurable := func(now time.Time) {
			if seq := f.eng.DurableSeq(); seq != durable {
				durable, durableAt = seq, now
			}
		}
		ack := func() {
			if held != nil {
				held.Stop()
				held = nil
			}
			if a.err() != nil {
				return
			}
			noteApplied()
			now := time.Now()
			noteDurable(now)
			ak := f.ack()
			if !appliedAt.IsZero() {
				ak.Held = now.Sub(appliedAt)
			}
			if ak.Durable == durable && !durableAt.IsZero() {
				ak.DurableHeld = now.Sub(durableAt)
			}
			if err := s.Ack(ak); err != nil {
				if errors.Is(err, io.EOF) {
					// The leader ended the stream; the receiver's
					// Recv returns why, so this is not the error.
					return
				}
				a.fail(err)
				return
			}
			lastAck, unacked, ackedApplied = time.Now(), false, ak.Applied
		}
		// report acks unacked progress now, or holds it until delay after
		// the last ack.
		report := func() {
			if !unacked || held != nil {
				return
			}
			if wait := delay - time.Since(lastAck); wait > 0 {
				held = time.NewTimer(wait)
				return
			}
			ack()
		}
		// heldC is the held ack's timer channel, nil when none is held.
		heldC := func() <-chan time.Time {
			if held == nil {
				return nil
			}
			return held.C
		}
		// waitSynced waits for b's local sync while it acks, at report's
		// pace, what the store shows already (noting the batches the
		// receiver shows meanwhile every ackEvery): a replica whose disk is
		// slow still reports what its readers see, and its durable
		// sequence apart.
		recheck := time.NewTimer(ackEvery)
		defer recheck.Stop()
		waitSynced := func(b batch) {
			for !b.r.Durable() {
				noteApplied()
				report()
				recheck.Reset(ackEvery)
				select {
				case <-b.r.Synced():
				case <-heldC():
					held = nil
					ack()
				case <-recheck.C:
				}
			}
		}
		for {
			var b batch
			select {
			case <-heldC():
				held = nil
				ack()
				continue
			case next, ok := <-a.q:
				if !ok {
					return
				}
				b = next
			}
			if b.synced != nil {
				close(b.synced)
				continue
			}
			if f.mismatch.Load() != nil {
				continue // a diverged state is not built on
			}
			if b.check.Seq != 0 && len(checks) < 64 {
				checks = append(checks, b.check)
			}
			noteApplied()
			waitSynced(b)
			if err := b.r.Wait(); err != nil {
				a.fail(fmt.Errorf("replication: apply batch at %d: %w", b.first, err))
				continue
			}
			noteApplied()
			noteDurable(time.Now())
			if b.n > 0 {
				f.lastApplyAt.Store(b.time)
				f.entries.Add(b.n)
				f.bytes.Add(b.bytes)
			}
			unacked = true
			var m *DivergedError
			if checks, m = f.verify(checks); m != nil {
				f.mismatch.Store(m)
				f.diverged.Store(true)
				f.fork.Store(m.Fork)
				// The ack carries the mismatch to the leader, which ends
				// the stream; nothing more is applied meanwhile.
				ack()
				continue
			}
			switch {
			case time.Since(lastAck) >= max(ackEvery, delay):
				ack()
			case len(a.q) == 0:
				report()
			}
		}
	}()
	return a
}

// push queues b, blocking while maxInFlight batches are pending; false
// once the applier has failed.
func (a *applier) push(b batch) bool {
	if a.err() != nil {
		return false
	}
	a.q <- b
	return true
}

// drain waits until everything pushed so far is applied.
func (a *applier) drain() error {
	b := batch{synced: make(chan struct{})}
	a.q <- b
	<-b.synced
	return a.err()
}

// stop ends the session's stream, lets the applier finish what is queued
// (the log makes it durable regardless; applying keeps the store in step
// with it) and waits for it.
func (a *applier) stop() {
	a.cancel()
	close(a.q)
	<-a.done
}

func (a *applier) fail(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failed == nil {
		a.failed = err
		a.cancel()
	}
}

func (a *applier) err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.failed
}

func (f *Follower) ack() Ack {
	a := Ack{Applied: f.eng.AppliedSeq(), Durable: f.eng.DurableSeq(), Verified: f.verified.Load()}
	if m := f.mismatch.Load(); m != nil {
		a.Mismatch = m.mine
	}
	return a
}

// verify compares the leader's checkpoints that this replica has applied
// with its own digests there, and returns those it cannot compare yet. A
// checkpoint it no longer remembers (it restarted or installed a snapshot
// past it) is dropped unverified.
func (f *Follower) verify(checks []engine.Checkpoint) ([]engine.Checkpoint, *DivergedError) {
	applied := f.eng.AppliedSeq()
	rest := checks[:0]
	for _, c := range checks {
		if c.Seq > applied {
			rest = append(rest, c)
			continue
		}
		mine, ok := f.eng.DigestAt(c.Seq)
		switch {
		case !ok:
		case mine == c.Digest:
			f.verified.Store(max(f.verified.Load(), c.Seq))
		default:
			return rest, &DivergedError{Replica: f.opts.NodeID, Fork: f.verified.Load(), mine: engine.Checkpoint{Seq: c.Seq, Digest: mine},
				Detail: fmt.Sprintf("state digest after sequence %d is %s, the leader's is %s", c.Seq, mine, c.Digest)}
		}
	}
	return rest, nil
}

// snapshotReceiver pipes snapshot chunks into the engine's installer.
type snapshotReceiver struct {
	pw     *io.PipeWriter
	result chan error
	next   uint64
	seq    uint64
	crc    uint32
}

func (f *Follower) receiveSnapshot(first *SnapshotChunk) *snapshotReceiver {
	pr, pw := io.Pipe()
	r := &snapshotReceiver{pw: pw, result: make(chan error, 1), seq: first.Seq}
	f.opts.Logger.Info("replication: receiving snapshot", "seq", first.Seq, "bytes", first.TotalSize)
	go func() {
		info, err := f.eng.InstallSnapshot(pr)
		if err == nil && info.Seq != r.seq {
			err = fmt.Errorf("%w: snapshot covers %d, leader announced %d", ErrBadSnapshot, info.Seq, r.seq)
		}
		_ = pr.CloseWithError(err)
		r.result <- err
	}()
	return r
}

// add feeds one chunk; done is true once the snapshot is installed.
func (r *snapshotReceiver) add(c *SnapshotChunk) (bool, error) {
	if c.Offset != r.next || c.Seq != r.seq {
		err := fmt.Errorf("%w: chunk at offset %d of snapshot %d, expected offset %d of %d", ErrBadSnapshot, c.Offset, c.Seq, r.next, r.seq)
		r.abortWith(err)
		return false, err
	}
	r.crc = crc32.Update(r.crc, castagnoli, c.Data)
	if _, err := r.pw.Write(c.Data); err != nil {
		return false, <-r.result
	}
	r.next += uint64(len(c.Data))
	if !c.Last {
		return false, nil
	}
	if r.crc != c.CRC || r.next != c.TotalSize {
		err := fmt.Errorf("%w: received %d bytes with CRC %08x, leader sent %d with %08x", ErrBadSnapshot, r.next, r.crc, c.TotalSize, c.CRC)
		r.abortWith(err)
		return false, err
	}
	_ = r.pw.Close()
	return true, <-r.result
}

func (r *snapshotReceiver) abortWith(err error) {
	_ = r.pw.CloseWithError(err)
	<-r.result //nolint:errcheck // the installer fails with err; nothing more to report
}

func (r *snapshotReceiver) abort() {
	r.abortWith(errors.New("replication: snapshot transfer interrupted"))
}

// FollowerStatus is a replica's view of its own replication.
type FollowerStatus struct {
	Connected  bool
	Leader     string
	LeaderSeq  uint64 // last sequence the leader reported
	Applied    uint64
	Durable    uint64
	Reconnects uint64
	Snapshots  uint64
	Entries    uint64
	Bytes      uint64
	LastError  string
	Diverged   bool   // the leader refused this replica's log
	Fork       uint64 // where it forked, when Diverged
	SetAside   uint64 // records set aside by rewinds since start
	MinEpoch   uint64 // leaders in older epochs are refused
	Verified   uint64 // newest checkpoint whose digest matched the leader's
}

// Status returns the follower's state.
func (f *Follower) Status() FollowerStatus {
	f.mu.Lock()
	lastErr := f.lastErr
	f.mu.Unlock()
	return FollowerStatus{
		Connected: f.connected.Load(), Leader: f.opts.Leader, LeaderSeq: f.leaderSeq.Load(),
		Applied: f.eng.AppliedSeq(), Durable: f.eng.DurableSeq(), Reconnects: f.reconnects.Load(),
		Snapshots: f.snapshots.Load(), Entries: f.entries.Load(), Bytes: f.bytes.Load(), LastError: lastErr,
		Diverged: f.diverged.Load(), Fork: f.fork.Load(), SetAside: f.setAside.Load(), MinEpoch: f.epoch.Load(),
		Verified: f.verified.Load(),
	}
}

// Heartbeat answers a leader's heartbeat. A leader of another cluster is
// refused with ErrClusterMismatch, one in an older epoch than this
// replica's with ErrStaleEpoch. A heartbeat never changes the replica's
// epoch: anyone can send one, so only a stream whose history the replica
// verified (or an admin call) can.
func (f *Follower) Heartbeat(hb Heartbeat) (HeartbeatReply, error) {
	if hb.ClusterID != "" && hb.ClusterID != f.opts.ClusterID {
		return HeartbeatReply{}, fmt.Errorf("%w: heartbeat from cluster %q, this replica belongs to %q", ErrClusterMismatch, hb.ClusterID, f.opts.ClusterID)
	}
	if cur := f.epoch.Load(); hb.Epoch != 0 && hb.Epoch < cur { // 0: a seed-era leader that sends no epoch
		return HeartbeatReply{}, fmt.Errorf("%w: heartbeat from epoch %d, this replica follows epoch %d", ErrStaleEpoch, hb.Epoch, cur)
	}
	if hb.LeaderSeq > f.leaderSeq.Load() {
		f.leaderSeq.Store(hb.LeaderSeq)
	}
	applied := f.eng.AppliedSeq()
	var lag uint64
	if applied < hb.LeaderSeq {
		// Both times are on the leader's clock: the heartbeat's and the
		// timestamp carried by the last applied entry.
		if at := f.lastApplyAt.Load(); at > 0 && hb.Time > at {
			lag = uint64((hb.Time - at) / int64(time.Millisecond))
		}
	}
	return HeartbeatReply{ReplicaID: f.opts.NodeID, Applied: applied, Durable: f.eng.DurableSeq(),
		Healthy: f.connected.Load(), LagMs: lag, ClusterID: f.opts.ClusterID}, nil
}
