package replication

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sutra/sutra-operator/internal/engine"
	"github.com/sutra/sutra-operator/internal/wal"
)

// LeaderOptions configure a Leader. Zero fields take the defaults shown.
type LeaderOptions struct {
	NodeID            string
	ClusterID         string
	Epoch             uint64
	MaxBatchBytes     int           // per frame; default 256 KiB
	SnapshotChunk     int           // default 1 MiB
	KeepaliveInterval time.Duration // idle stream keepalive; default 1s
	HeartbeatInterval time.Duration // heartbeats to known replicas; default 1s
	UnhealthyAfter    time.Duration // silence that makes a replica unhealthy; default 5s
	LagThreshold      time.Duration // lag above which a replica is unhealthy; default 10s
	RetentionBytes    int64         // cap on log kept for replicas; default 1 GiB
	Logger            *slog.Logger
	Clock             func() time.Time
	// OnReplayed, if set, is called when a replica's ack on its stream
	// advances its applied sequence past the previous ack's, with how long
	// before the ack (on the leader's clock) the newest entry it applied
	// was written: its replay lag, as PostgreSQL reports for a standby.
	// The first ack of a stream only sets the baseline.
	OnReplayed func(replica string, lag time.Duration)
	// OnFlushed is OnReplayed for the replica's durable sequence: how long
	// before the ack the newest entry its log made durable was written,
	// its flush lag.
	OnFlushed func(replica string, lag time.Duration)
	// SyncReplicas is how many replicas must have made a write durable
	// before WaitReplicated returns for it (0: asynchronous).
	SyncReplicas int
	// SyncTimeout bounds WaitReplicated; default 5s.
	SyncTimeout time.Duration
	// AckDelay is how long a replica may hold an ack with progress to
	// report (Hello.AckDelay): it bounds how stale the table's positions
	// are, and saves the leader reading an ack per write per replica.
	// Default DefaultAckDelay, and 0 when SyncReplicas > 0 (the leader
	// waits for the acks); negative: replicas ack at once.
	AckDelay time.Duration
	// SyncPreferred lets writes proceed when fewer than SyncReplicas
	// replicas are streaming: it waits for the streaming ones only (none:
	// no wait), and a timeout is logged instead of failing the write.
	SyncPreferred bool
}

func (o LeaderOptions) withDefaults() LeaderOptions {
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 256 << 10
	}
	if o.SnapshotChunk <= 0 {
		o.SnapshotChunk = 1 << 20
	}
	if o.KeepaliveInterval <= 0 {
		o.KeepaliveInterval = time.Second
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = time.Second
	}
	if o.UnhealthyAfter <= 0 {
		o.UnhealthyAfter = 5 * time.Second
	}
	if o.LagThreshold <= 0 {
		o.LagThreshold = 10 * time.Second
	}
	if o.RetentionBytes <= 0 {
		o.RetentionBytes = 1 << 30
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.SyncTimeout <= 0 {
		o.SyncTimeout = 5 * time.Second
	}
	switch {
	case o.AckDelay < 0 || o.SyncReplicas > 0:
		o.AckDelay = 0
	case o.AckDelay == 0:
		o.AckDelay = DefaultAckDelay
	}
	return o
}

// DefaultAckDelay is LeaderOptions.AckDelay's default for asynchronous
// replication: replicas report progress at most every 5 ms.
const DefaultAckDelay = 5 * time.Millisecond

// Sender delivers one frame to a replica; it may block (flow control). It
// must not keep the frame, nor any slice the frame holds, once it returns:
// the leader reuses them for the next frame of the stream (a transport
// that queues frames copies them; gRPC's Send has encoded the message by
// then).
type Sender func(*Frame) error

// HeartbeatFunc calls a replica's Heartbeat endpoint at addr.
type HeartbeatFunc func(ctx context.Context, addr string, hb Heartbeat) (HeartbeatReply, error)

// Leader serves replica streams from an engine's log and keeps the
// replication table. Create it with NewLeader; it is safe for concurrent use.
type Leader struct {
	eng  *engine.Engine
	opts LeaderOptions
	lag  *lagSampler

	mu       sync.Mutex
	replicas map[string]*replica // by replica id (or address, until it answers)
	listed   []string            // configured replica addresses
	acked    chan struct{}       // closed and replaced when a replica's durable sequence advances

	contact atomic.Int64  // last time a replica was heard from, Unix nanoseconds
	stopped chan struct{} // closed by Stop or Shutdown
	stopErr error         // why streams end; set before stopped is closed
	stopMu  sync.Once
}

type replica struct {
	ReplicaStatus
	streams   int       // open streams (a reconnect can overlap the old one)
	lastHeard time.Time // last ack, frame received or heartbeat reply
	listed    bool
	live      map[*liveStream]struct{} // streams admitted and not yet ended
}

// liveStream is one admitted stream of a replica.
type liveStream struct {
	incarnation uint64
	address     string
	heard       time.Time // stream start or last ack on it
	end         context.CancelCauseFunc
}

// NewLeader returns a leader for eng. Call Committed from the engine's
// OnQueued hook so lag in time can be measured.
func NewLeader(eng *engine.Engine, opts LeaderOptions) *Leader {
	opts = opts.withDefaults()
	l := &Leader{eng: eng, opts: opts, lag: newLagSampler(1 << 16), replicas: map[string]*replica{},
		acked: make(chan struct{}), stopped: make(chan struct{})}
	l.lag.record(eng.Log().LastSeq(), opts.Clock())
	l.contact.Store(opts.Clock().UnixNano())
	return l
}

// Committed records that sequences up to last were written (stamped) at
// at. Call it from the engine's OnQueued hook: before the records are
// durable, so that a replica's ack can never arrive before the sample.
func (l *Leader) Committed(last uint64, at time.Time) { l.lag.record(last, at) }

// SetReplicas replaces the configured replica list (addresses to heartbeat).
// Replicas no longer listed and not connected are dropped from the table.
func (l *Leader) SetReplicas(addrs []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.listed = append([]string(nil), addrs...)
	want := map[string]bool{}
	for _, a := range addrs {
		want[a] = true
	}
	for id, r := range l.replicas {
		r.listed = want[r.Address]
		if !r.listed && r.streams == 0 {
			delete(l.replicas, id)
		}
	}
	for _, a := range addrs {
		if l.byAddress(a) == nil {
			l.replicas[a] = &replica{ReplicaStatus: ReplicaStatus{ID: a, Address: a, State: StateConfigured}, listed: true}
		}
	}
}

func (l *Leader) byAddress(addr string) *replica {
	for _, r := range l.replicas {
		if r.Address == addr {
			return r
		}
	}
	return nil
}

// entry returns the table row for a replica id, merging a row created from
// its configured address.
func (l *Leader) entry(id, addr string) *replica {
	if r, ok := l.replicas[id]; ok {
		if addr != "" && r.Address != addr {
			if old := l.byAddress(addr); old != nil && old != r && old.streams == 0 {
				delete(l.replicas, old.ID)
				r.listed = r.listed || old.listed
			}
			r.Address = addr
		}
		return r
	}
	if addr != "" {
		if r := l.byAddress(addr); r != nil && r.ID == r.Address {
			delete(l.replicas, r.ID)
			r.ID = id
			l.replicas[id] = r
			return r
		}
	}
	r := &replica{ReplicaStatus: ReplicaStatus{ID: id, Address: addr, State: StateDisconnected}}
	l.replicas[id] = r
	return r
}

// Serve runs one replica stream until ctx ends, the replica goes away, or
// send fails. acks carries the replica's progress reports; Serve stops
// reading it when it returns.
func (l *Leader) Serve(ctx context.Context, start Start, send Sender, acks <-chan Ack) error {
	if err := l.check(start); err != nil {
		return err
	}
	select {
	case <-l.stopped:
		return l.stopErr
	default:
	}
	ctx, cancelCause := context.WithCancelCause(ctx)
	cancel := func() { cancelCause(context.Canceled) }
	defer cancel()
	ls, err := l.admit(start, cancelCause)
	if err != nil {
		return err
	}
	defer l.release(start.ReplicaID, ls)
	go func() {
		select {
		case <-l.stopped:
			cancelCause(l.stopErr)
		case <-ctx.Done():
		}
	}()
	m, err := matchLog(l.eng.History(), l.eng.Log().LastSeq(), start, l.eng.Record)
	if err != nil {
		return err
	}
	hello := &Hello{LeaderID: l.opts.NodeID, Epoch: l.opts.Epoch, History: l.eng.History(), Diverged: m.diverged, Fork: m.fork,
		AckDelay: l.opts.AckDelay}
	if m.diverged {
		derr := &DivergedError{Replica: start.ReplicaID, Fork: m.fork, Detail: m.detail}
		l.diverged(start, derr)
		_ = send(&Frame{Hello: hello}) // the replica learns the fork point; the refusal follows
		return derr
	}
	if err := send(&Frame{Hello: hello}); err != nil {
		return err
	}
	l.connect(start)
	defer l.disconnect(start.ReplicaID)
	go l.consumeAcks(ctx, start.ReplicaID, ls, acks, cancelCause)

	next := start.StartSeq
	if next == 0 {
		next = 1
	}
	if next < l.eng.Log().FirstSeq() {
		seq, err := l.sendSnapshot(ctx, start.ReplicaID, send)
		if cause := context.Cause(ctx); err != nil && (errors.Is(cause, ErrLeaderStopped) || errors.Is(cause, ErrStreamReplaced)) {
			return cause
		}
		if err != nil {
			l.fail(start.ReplicaID, err)
			return err
		}
		next = seq + 1
	}
	err = l.stream(ctx, start, next, send)
	if cause := context.Cause(ctx); errors.Is(cause, ErrDiverged) || errors.Is(cause, ErrLeaderStopped) || errors.Is(cause, ErrStreamReplaced) {
		return cause // the replica reported a state mismatch, this leader stops, or a newer stream took over
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		l.fail(start.ReplicaID, err)
	}
	return err
}

// admit registers a new stream of s.ReplicaID, ending the replica's
// streams it supersedes, or refuses it when another replica process
// streams under the same id. A stream supersedes an old one from the same
// incarnation or advertise address (a reconnect, or a restart after
// kill -9 that the leader has not noticed yet), and one that is no longer
// alive: not started or acked within UnhealthyAfter. Streams without an
// incarnation (seed-era replicas) are never refused.
func (l *Leader) admit(s Start, end context.CancelCauseFunc) (*liveStream, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.opts.Clock()
	ls := &liveStream{incarnation: s.Incarnation, address: s.Address, heard: now, end: end}
	r := l.replicas[s.ReplicaID]
	if r == nil {
		r = l.entry(s.ReplicaID, s.Address)
	}
	var replaced []*liveStream
	for o := range r.live {
		same := (o.incarnation != 0 && o.incarnation == s.Incarnation) || sameAddress(o.address, s.Address)
		alive := now.Sub(o.heard) < l.opts.UnhealthyAfter
		if !same && alive && o.incarnation != 0 && s.Incarnation != 0 {
			err := &DuplicateIDError{Replica: s.ReplicaID, Holder: o.address}
			r.LastError = err.Error()
			l.opts.Logger.Warn("replication: refusing a second replica under one id", "replica", s.ReplicaID,
				"streaming_from", o.address, "refused_from", s.Address)
			return nil, err
		}
		replaced = append(replaced, o)
	}
	for _, o := range replaced {
		delete(r.live, o)
		o.end(fmt.Errorf("%w: replica %s connected again from %s", ErrStreamReplaced, s.ReplicaID, s.Address))
	}
	if r.live == nil {
		r.live = map[*liveStream]struct{}{}
	}
	r.live[ls] = struct{}{}
	return ls, nil
}

// release forgets an ended stream.
func (l *Leader) release(id string, ls *liveStream) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r, ok := l.replicas[id]; ok {
		delete(r.live, ls)
	}
}

// sameAddress reports whether two advertise addresses name one node: equal
// and specific (not empty, not a wildcard such as 0.0.0.0:7000 that every
// node listening on all interfaces would send).
func sameAddress(a, b string) bool {
	if a == "" || a != b {
		return false
	}
	host, _, err := net.SplitHostPort(a)
	if err != nil {
		return true
	}
	ip := net.ParseIP(host)
	return host != "" && (ip == nil || !ip.IsUnspecified())
}

// Tail streams records from start.StartSeq to a reader that is not a
// replica (a tool following the log): it is not entered in the replication
// table, does not hold back truncation, and gets no snapshot.
func (l *Leader) Tail(ctx context.Context, start Start, send Sender) error {
	start.ReplicaID = ""
	if err := l.checkCommon(start); err != nil {
		return err
	}
	next := max(start.StartSeq, 1)
	return l.stream(ctx, start, next, send)
}

func (l *Leader) check(s Start) error {
	if s.ReplicaID == "" {
		return fmt.Errorf("%w: replica id is required", ErrBadRequest)
	}
	return l.checkCommon(s)
}

func (l *Leader) checkCommon(s Start) error {
	if s.ClusterID != l.opts.ClusterID {
		return fmt.Errorf("%w: replica %s belongs to cluster %q, this leader to %q", ErrClusterMismatch, s.ReplicaID, s.ClusterID, l.opts.ClusterID)
	}
	if s.Epoch > l.opts.Epoch {
		return fmt.Errorf("%w: replica %s has epoch %d, leader %d", ErrStaleEpoch, s.ReplicaID, s.Epoch, l.opts.Epoch)
	}
	return nil
}

// Stop ends every stream this leader serves and makes Serve refuse new
// ones, as a leader does that is about to follow another. Streams end with
// an error wrapping ErrLeaderStopped: "leader <id> is stepping down".
func (l *Leader) Stop() { l.stop("is stepping down") }

// Shutdown is Stop for a node that is shutting down: streams end with
// "leader <id> is shutting down", so replicas know why at once.
func (l *Leader) Shutdown() { l.stop("is shutting down") }

func (l *Leader) stop(why string) {
	l.stopMu.Do(func() {
		l.stopErr = &stoppedError{leader: l.opts.NodeID, why: why}
		close(l.stopped)
	})
}

// LastContact is when a replica was last heard from (ack, stream start or
// heartbeat reply), or when the leader was created.
func (l *Leader) LastContact() time.Time { return time.Unix(0, l.contact.Load()) }

func (l *Leader) heard(now time.Time) { l.contact.Store(now.UnixNano()) }

// diverged records a replica refused because its log forked from ours.
func (l *Leader) diverged(s Start, err *DivergedError) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.entry(s.ReplicaID, s.Address)
	r.State, r.Fork, r.LastError = StateDiverged, err.Fork, err.Error()
	r.lastHeard = l.opts.Clock()
	l.opts.Logger.Warn("replication: refusing diverged replica", "replica", s.ReplicaID, "fork", err.Fork, "detail", err.Detail)
}

func (l *Leader) connect(s Start) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.entry(s.ReplicaID, s.Address)
	if r.State != StateConfigured || r.streams > 0 {
		r.Reconnects++
	}
	r.streams++
	r.State = StateCatchup
	r.LastError, r.Fork = "", 0
	r.Verified = 0 // each stream proves its state afresh
	// The handshake verified the replica's log up to StartSeq-1: that is
	// what it holds, whatever an earlier stream or heartbeat reported
	// (a log rewound after diverging is shorter than before).
	if s.StartSeq > 0 {
		r.Sent, r.Applied, r.Durable = s.StartSeq-1, s.StartSeq-1, s.StartSeq-1
	} else {
		r.Sent, r.Applied, r.Durable = 0, 0, 0
	}
	r.lastHeard = l.opts.Clock()
	r.LastHeartbeat = r.lastHeard
	l.heard(r.lastHeard)
	l.signalAcked()
}

// mismatch marks a replica whose state digest differs from the leader's at
// a checkpoint; l.mu must be held.
func (l *Leader) mismatch(r *replica, theirs engine.Checkpoint) error {
	ours, _ := l.eng.DigestAt(theirs.Seq)
	err := &DivergedError{Replica: r.ID, Fork: r.Verified, Detail: fmt.Sprintf(
		"state digest after sequence %d is %s, the leader's is %s (last verified %d)", theirs.Seq, theirs.Digest, ours, r.Verified)}
	r.State, r.Fork, r.LastError = StateDiverged, r.Verified, err.Error()
	l.opts.Logger.Error("replication: replica state differs from the leader's", "replica", r.ID, "seq", theirs.Seq,
		"replica_digest", theirs.Digest.String(), "leader_digest", ours.String())
	return err
}

// signalAcked wakes WaitReplicated callers; l.mu must be held.
func (l *Leader) signalAcked() {
	close(l.acked)
	l.acked = make(chan struct{})
}

func (l *Leader) disconnect(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r, ok := l.replicas[id]; ok {
		r.streams--
		if r.streams <= 0 {
			r.streams = 0
			if r.State != StateDiverged {
				r.State = StateDisconnected
			}
		}
	}
}

func (l *Leader) fail(id string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r, ok := l.replicas[id]; ok {
		r.LastError = err.Error()
	}
}

func (l *Leader) update(id string, f func(r *replica)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r, ok := l.replicas[id]; ok {
		f(r)
	}
}

// consumeAcks records a replica's acks; one reporting a state mismatch
// ends the stream through end.
func (l *Leader) consumeAcks(ctx context.Context, id string, ls *liveStream, acks <-chan Ack, end context.CancelCauseFunc) {
	var applied, durable uint64 // sequences of the previous ack on this stream
	first := true
	for {
		select {
		case <-ctx.Done():
			return
		case a, ok := <-acks:
			if !ok {
				return
			}
			now := l.opts.Clock()
			if !first {
				// Timed when the replica applied or synced it, not when
				// its ack was sent.
				l.observeLag(l.opts.OnReplayed, id, a.Applied, applied, a.Held, now)
				l.observeLag(l.opts.OnFlushed, id, a.Durable, durable, a.DurableHeld, now)
			}
			first, applied, durable = false, max(applied, a.Applied), max(durable, a.Durable)
			l.heard(now)
			l.update(id, func(r *replica) {
				if a.Applied > r.Applied {
					r.Applied = a.Applied
				}
				if a.Durable > r.Durable {
					r.Durable = a.Durable
					l.signalAcked()
				}
				r.Verified = max(r.Verified, a.Verified)
				r.lastHeard, r.LastHeartbeat = now, now
				ls.heard = now
				if a.Mismatch.Seq != 0 {
					end(l.mismatch(r, a.Mismatch))
				}
			})
		}
	}
}

// observeLag tells observe, when seq advances past prev, how long before
// now, less held, the leader wrote seq.
func (l *Leader) observeLag(observe func(string, time.Duration), id string, seq, prev uint64, held time.Duration, now time.Time) {
	if observe == nil || seq <= prev {
		return
	}
	if at, ok := l.lag.writtenAt(seq); ok {
		observe(id, max(0, time.Duration(now.UnixNano()-at)-held))
	}
}

// stream sends records from next on, following the tail.
func (l *Leader) stream(ctx context.Context, s Start, next uint64, send Sender) error {
	rd, err := l.eng.Log().ReadFrom(next)
	if err != nil {
		return err
	}
	defer func() { _ = rd.Close() }()
	limit := l.opts.MaxBatchBytes
	if s.MaxBatchBytes > 0 && s.MaxBatchBytes < limit {
		limit = s.MaxBatchBytes
	}
	var sentCheck uint64
	// check attaches the leader's newest digest checkpoint to a frame when
	// this stream has not carried it yet.
	check := func(f *Frame) *Frame {
		if c, ok := l.eng.LatestCheckpoint(); ok && c.Seq != sentCheck {
			f.Check, sentCheck = c, c.Seq
		}
		return f
	}
	// One frame, entry slice and data arena for the whole stream (see
	// Sender): a frame at the tail holds a few records, and allocating
	// them afresh for every frame of every replica was a quarter of all
	// the leader allocated at 10,000 writes/s.
	var frame Frame
	var batch []wal.Record
	var arena []byte
	for {
		batch, arena = batch[:0], arena[:0]
		size := 0
		for size < limit {
			rec, ok, err := rd.NextShared()
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			if len(arena)+len(rec.Data) > cap(arena) {
				// Double, up to a frame's limit: the records already in
				// the frame keep the old arena.
				arena = make([]byte, 0, max(min(2*cap(arena), limit), len(rec.Data), 4<<10))
			}
			start := len(arena)
			arena = append(arena, rec.Data...)
			rec.Data = arena[start:len(arena):len(arena)]
			batch = append(batch, rec)
			size += rec.Size()
		}
		leaderSeq := l.eng.Log().LastSeq()
		if len(batch) > 0 {
			frame = Frame{Entries: batch, LeaderSeq: leaderSeq}
			if err := send(check(&frame)); err != nil {
				return err
			}
			caughtUp := rd.Position() > leaderSeq
			sent := batch[len(batch)-1].Seq
			l.update(s.ReplicaID, func(r *replica) {
				r.Sent = sent
				r.BytesStreamed += uint64(size)
				r.EntriesStreamed += uint64(len(batch))
				if caughtUp && r.State != StateDiverged {
					r.State = StateStreaming
				}
			})
			continue
		}
		l.update(s.ReplicaID, func(r *replica) {
			if r.State != StateDiverged {
				r.State = StateStreaming
			}
		})
		more, err := rd.WaitFor(ctx, l.opts.KeepaliveInterval)
		if err != nil {
			return err
		}
		if !more {
			if err := send(check(&Frame{LeaderSeq: leaderSeq, Time: l.opts.Clock().UnixNano()})); err != nil {
				return err
			}
		}
	}
}

// sendSnapshot sends the newest snapshot in chunks and returns its sequence.
func (l *Leader) sendSnapshot(ctx context.Context, id string, send Sender) (uint64, error) {
	snap, err := l.eng.OpenSnapshot()
	if err != nil {
		return 0, err
	}
	defer func() { _ = snap.Close() }()
	l.update(id, func(r *replica) { r.State = StateSnapshot; r.SnapshotsSent++ })
	l.opts.Logger.Info("replication: sending snapshot", "replica", id, "seq", snap.Seq, "bytes", snap.Size)
	buf := make([]byte, l.opts.SnapshotChunk)
	var off uint64
	crc := uint32(0)
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		n, rerr := io.ReadFull(snap, buf)
		if rerr != nil && rerr != io.ErrUnexpectedEOF && rerr != io.EOF {
			return 0, fmt.Errorf("replication: read snapshot: %w", rerr)
		}
		last := off+uint64(n) >= uint64(snap.Size)
		crc = crc32.Update(crc, castagnoli, buf[:n])
		ch := &SnapshotChunk{Seq: snap.Seq, Epoch: l.opts.Epoch, Offset: off, Data: append([]byte(nil), buf[:n]...),
			Last: last, TotalSize: uint64(snap.Size)}
		if last {
			ch.CRC = crc
		}
		if err := send(&Frame{Snapshot: ch, LeaderSeq: l.eng.Log().LastSeq()}); err != nil {
			return 0, err
		}
		off += uint64(n)
		l.update(id, func(r *replica) {
			r.BytesStreamed += uint64(n)
			if last {
				r.Sent = snap.Seq
			}
		})
		if last {
			return snap.Seq, nil
		}
		if n == 0 {
			return 0, fmt.Errorf("%w: snapshot shorter than its size", ErrBadSnapshot)
		}
	}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Status returns the replication table, sorted by replica id.
func (l *Leader) Status() Status {
	now := l.opts.Clock()
	leaderSeq := l.eng.Log().LastSeq()
	st := Status{LeaderSeq: leaderSeq, FirstRetained: l.eng.Log().FirstSeq()}
	l.mu.Lock()
	for _, r := range l.replicas {
		rs := r.ReplicaStatus
		if leaderSeq > rs.Applied {
			rs.LagEntries = leaderSeq - rs.Applied
		}
		rs.LagMs = l.lag.lagMs(rs.Applied, leaderSeq, now)
		rs.FlushLagMs = l.lag.lagMs(rs.Durable, leaderSeq, now)
		heard := !r.lastHeard.IsZero() && now.Sub(r.lastHeard) < l.opts.UnhealthyAfter
		rs.Healthy = r.streams > 0 && heard &&
			(rs.State == StateStreaming || rs.State == StateCatchup) &&
			time.Duration(rs.LagMs)*time.Millisecond < l.opts.LagThreshold
		rs.SyncState = SyncStateAsync
		if l.opts.SyncReplicas > 0 && r.streams > 0 && rs.State != StateDiverged {
			rs.SyncState = SyncStateSync
		}
		st.Replicas = append(st.Replicas, rs)
		st.MaxLagMs = max(st.MaxLagMs, rs.LagMs)
	}
	l.mu.Unlock()
	sort.Slice(st.Replicas, func(i, j int) bool { return st.Replicas[i].ID < st.Replicas[j].ID })
	return st
}

// RetainFrom is the engine's retention floor: the lowest sequence a known
// replica still needs, raised so the retained log stays within
// RetentionBytes. 0 means no replica constrains truncation.
func (l *Leader) RetainFrom() uint64 {
	l.mu.Lock()
	floor := uint64(0)
	for _, r := range l.replicas {
		// A replica applies ahead of its own log: after a crash it
		// needs what follows its durable position.
		if need := min(r.Applied, r.Durable) + 1; floor == 0 || need < floor {
			floor = need
		}
	}
	l.mu.Unlock()
	if floor == 0 {
		return 0
	}
	log := l.eng.Log()
	first, last := log.FirstSeq(), log.LastSeq()
	if last < first || floor > last {
		return floor
	}
	avg := log.Size() / int64(last-first+1)
	if avg <= 0 {
		return floor
	}
	if keep := uint64(l.opts.RetentionBytes / avg); last-floor > keep {
		floor = last - keep
	}
	return floor
}

// RunHeartbeats calls every known replica's Heartbeat endpoint each
// HeartbeatInterval until ctx ends, recording replies in the table.
func (l *Leader) RunHeartbeats(ctx context.Context, call HeartbeatFunc) {
	t := time.NewTicker(l.opts.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l.mu.Lock()
		addrs := map[string]bool{}
		for _, a := range l.listed {
			addrs[a] = true
		}
		for _, r := range l.replicas {
			if r.Address != "" {
				addrs[r.Address] = true
			}
		}
		l.mu.Unlock()
		hb := Heartbeat{LeaderID: l.opts.NodeID, LeaderSeq: l.eng.Log().LastSeq(), Time: l.opts.Clock().UnixNano(),
			ClusterID: l.opts.ClusterID, Epoch: l.opts.Epoch}
		var wg sync.WaitGroup
		for a := range addrs {
			wg.Add(1)
			go func(addr string) {
				defer wg.Done()
				hctx, cancel := context.WithTimeout(ctx, l.opts.HeartbeatInterval)
				defer cancel()
				reply, err := call(hctx, addr, hb)
				l.heartbeatResult(addr, reply, err)
			}(a)
		}
		wg.Wait()
	}
}

// heartbeatErrPrefix starts a LastError recorded from a failed heartbeat.
const heartbeatErrPrefix = "heartbeat: "

func (l *Leader) heartbeatResult(addr string, reply HeartbeatReply, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		if r := l.byAddress(addr); r != nil {
			r.LastError = heartbeatErrPrefix + err.Error()
		}
		return
	}
	if reply.ClusterID != "" && reply.ClusterID != l.opts.ClusterID {
		if r := l.byAddress(addr); r != nil {
			r.LastError = fmt.Sprintf(heartbeatErrPrefix+"replica belongs to cluster %q", reply.ClusterID)
		}
		return
	}
	id := reply.ReplicaID
	if id == "" {
		id = addr
	}
	r := l.entry(id, addr)
	now := l.opts.Clock()
	r.lastHeard, r.LastHeartbeat = now, now
	l.heard(now)
	if strings.HasPrefix(r.LastError, heartbeatErrPrefix) && r.streams > 0 &&
		(r.State == StateStreaming || r.State == StateCatchup || r.State == StateSnapshot) {
		// Heard again and its stream is up: an earlier heartbeat failure
		// is history. Stream errors are cleared by the next stream.
		r.LastError = ""
	}
	if r.streams == 0 || r.State == StateDiverged {
		// Positions count only from a replica whose log this leader
		// verified on a stream: a diverged or unknown log's sequences are
		// not this leader's, and synchronous replication must not count
		// them.
		return
	}
	if reply.Applied > r.Applied {
		r.Applied = reply.Applied
	}
	if reply.Durable > r.Durable {
		r.Durable = reply.Durable
		l.signalAcked()
	}
}

// WaitReplicated blocks until SyncReplicas replicas have reported seq
// durable (PostgreSQL's ANY k), and returns at once when replication is
// asynchronous. SyncTimeout after began (when the write was submitted:
// writes of a pipelined stream are waited for one after another, and each
// gets the same bound) it fails with ErrSyncTimeout naming the replicas
// that have not confirmed; with SyncPreferred it waits only for as many
// replicas as are streaming and logs a timeout instead of failing.
func (l *Leader) WaitReplicated(ctx context.Context, seq uint64, began time.Time) error {
	k := l.opts.SyncReplicas
	if k <= 0 {
		return nil
	}
	var timer <-chan time.Time
	for {
		l.mu.Lock()
		confirmed, streaming := 0, 0
		for _, r := range l.replicas {
			if r.State == StateDiverged {
				continue
			}
			if r.Durable >= seq {
				confirmed++
			}
			if r.streams > 0 {
				streaming++
			}
		}
		need := k
		if l.opts.SyncPreferred {
			need = min(k, streaming)
		}
		ch := l.acked
		l.mu.Unlock()
		if confirmed >= need {
			return nil
		}
		if timer == nil {
			t := time.NewTimer(max(0, l.opts.SyncTimeout-time.Since(began)))
			defer t.Stop()
			timer = t.C
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-l.stopped:
			return fmt.Errorf("%w: sequence %d: the leader stepped down", ErrSyncTimeout, seq)
		case <-timer:
			err := l.syncTimeout(seq, confirmed)
			if l.opts.SyncPreferred {
				l.opts.Logger.Warn("replication: synchronous replicas late; write acknowledged without them", "err", err)
				return nil
			}
			return err
		}
	}
}

func (l *Leader) syncTimeout(seq uint64, confirmed int) error {
	l.mu.Lock()
	var missing []string
	for _, r := range l.replicas {
		if r.Durable < seq {
			missing = append(missing, fmt.Sprintf("%s (%s, durable %d)", r.ID, r.State, r.Durable))
		}
	}
	l.mu.Unlock()
	sort.Strings(missing)
	if len(missing) == 0 {
		missing = []string{"no replica is known"}
	}
	return fmt.Errorf("%w: sequence %d is durable on the leader and on %d of the %d replicas required after %v; not confirmed by: %s",
		ErrSyncTimeout, seq, confirmed, l.opts.SyncReplicas, l.opts.SyncTimeout, strings.Join(missing, ", "))
}
