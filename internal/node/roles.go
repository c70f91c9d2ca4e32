package node

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/sutra/sutra-operator/internal/engine"
	"github.com/sutra/sutra-operator/internal/grpcapi"
	"github.com/sutra/sutra-operator/internal/replication"
	"github.com/sutra/sutra-operator/internal/store"
)

// roles runs the node's current role, leader or replica, and changes it
// when the admin service says so. It implements grpcapi.Roles and
// grpcapi.Admin.
//
// Writes hold a read lock on writes from the role and fence check until
// the engine has queued them; a role change or a fence takes the write
// lock, so that no write passes the check after it, then waits until the
// engine has settled every queued write (engine.Settle): no write of the
// old role is half done when the new one starts (a follower appending
// replicated records beside a leader's own write would break the log's
// order). The lock is not held while a write waits to become durable, so
// a client slow to take its results holds up no role change.
type roles struct {
	cfg     Config
	eng     *engine.Engine
	log     *slog.Logger
	lags    lagObservers
	bg      context.Context
	changes sync.Mutex   // one role change at a time
	writes  sync.RWMutex // held for reading by writes being checked and queued
	cur     atomic.Pointer[roleState]
	fence   atomic.Pointer[string]           // why writes are fenced; nil when they are not
	admin   atomic.Int64                     // last admin call, Unix nanoseconds
	aside   atomic.Uint64                    // records set aside by rewinds since start
	incarn  uint64                           // this process's replica incarnation (replication.Start.Incarnation)
	creds   credentials.TransportCredentials // how this node dials peers; nil: plaintext
}

// roleState is one role's running parts; replaced whole on a change.
type roleState struct {
	role      string
	leader    *replication.Leader
	follower  *replication.Follower
	following string // replica: the leader's address
	minEpoch  uint64 // replica: leaders in older epochs are refused
	stop      func() // ends the role's goroutines and waits for them
}

var _ grpcapi.Roles = (*roles)(nil)
var _ grpcapi.Admin = (*roles)(nil)

// lagObservers are told each replica's replay and flush lag, per ack that
// advances it (replication.LeaderOptions.OnReplayed and OnFlushed).
type lagObservers struct {
	replay, flush func(replica string, lag time.Duration)
}

func newRoles(bg context.Context, cfg Config, eng *engine.Engine, log *slog.Logger, lags lagObservers,
	creds credentials.TransportCredentials) *roles {
	r := &roles{cfg: cfg, eng: eng, log: log, lags: lags, bg: bg, incarn: replication.NewIncarnation(), creds: creds}
	r.admin.Store(time.Now().UnixNano())
	return r
}

// currentLeader is the leader of the running role, nil on a replica.
func (r *roles) currentLeader() *replication.Leader {
	if st := r.cur.Load(); st != nil {
		return st.leader
	}
	return nil
}

func (r *roles) startLeader() *roleState {
	// A follower spaces its log's syncs only while it follows; a leader
	// never does (its writers wait for every sync).
	r.eng.Log().SetSyncInterval(0)
	ctx, cancel := context.WithCancel(r.bg)
	l := replication.NewLeader(r.eng, replication.LeaderOptions{NodeID: r.cfg.NodeID, ClusterID: r.cfg.ClusterID,
		Epoch: r.eng.Epoch(), HeartbeatInterval: r.cfg.HeartbeatInterval, LagThreshold: r.cfg.LagThreshold,
		RetentionBytes: r.cfg.RetentionBytes, Logger: r.log, OnReplayed: r.lags.replay, OnFlushed: r.lags.flush, SyncReplicas: r.cfg.SyncReplicas,
		SyncTimeout: r.cfg.SyncTimeout, SyncPreferred: r.cfg.SyncMode == SyncPreferred})
	l.SetReplicas(r.cfg.peers(nil))
	call, closeConns := grpcapi.HeartbeatCaller(r.creds)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); l.RunHeartbeats(ctx, call) }()
	if r.cfg.ReplicasFile != "" {
		wg.Add(1)
		go func() { defer wg.Done(); watchReplicas(ctx, r.cfg, l, r.log) }()
	}
	return &roleState{role: RoleLeader, leader: l, stop: func() {
		l.Stop()
		cancel()
		wg.Wait()
		closeConns()
	}}
}

// startFollower follows the leader at addr. rewind lets the follower set
// aside a divergent suffix against a leader in minEpoch (an admin Follow).
func (r *roles) startFollower(addr string, minEpoch uint64, rewind bool) (*roleState, error) {
	dial, closeConn, err := grpcapi.LeaderDialer(addr, r.creds)
	if err != nil {
		return nil, fmt.Errorf("storage-server: leader %s: %w", addr, err)
	}
	f := replication.NewFollower(r.eng, dial, replication.FollowerOptions{NodeID: r.cfg.NodeID,
		ClusterID: r.cfg.ClusterID, Address: r.cfg.Advertise, Leader: addr, Logger: r.log, MinEpoch: minEpoch,
		Rewind: rewind, OnRewind: func(rw engine.Rewound) { r.aside.Add(rw.SetAside) }, Incarnation: r.incarn,
		Timeout: silentTimeout(r.cfg.HeartbeatInterval), SyncInterval: followerSyncInterval(r.cfg.ReplicaSyncInterval)})
	ctx, cancel := context.WithCancel(r.bg)
	done := make(chan struct{})
	go func() { defer close(done); f.Run(ctx) }()
	return &roleState{role: RoleReplica, follower: f, following: addr, minEpoch: minEpoch, stop: func() {
		cancel()
		<-done
		closeConn()
	}}, nil
}

func (r *roles) view() roleView {
	st := r.cur.Load()
	return roleView{role: st.role, epoch: r.eng.Epoch(), following: st.following, minEpoch: st.minEpoch, self: r.cfg.Advertise}
}

// change stops the running role and starts the one next returns, with
// writes held off and the fence lifted once the new role runs.
func (r *roles) change(next func() (*roleState, error)) error {
	r.writes.Lock()
	defer r.writes.Unlock()
	r.settle("role change")
	old := r.cur.Load()
	old.stop()
	st, err := next()
	if err != nil {
		// Keep serving in the old role rather than in none.
		r.log.Error("role change failed; resuming the previous role", "err", err)
		if old.role == RoleLeader {
			st = r.startLeader()
		} else if st, _ = r.startFollower(old.following, old.minEpoch, old.minEpoch > 0); st == nil {
			st = old
		}
		r.cur.Store(st)
		return err
	}
	r.fence.Store(nil)
	r.cur.Store(st)
	return nil
}

// Promote makes the node leader in epoch (see proto/admin.proto).
func (r *roles) Promote(_ context.Context, epoch uint64) error {
	r.touch()
	r.changes.Lock()
	defer r.changes.Unlock()
	change, err := decidePromote(r.view(), epoch)
	if err != nil || !change {
		return err
	}
	start := time.Now()
	err = r.change(func() (*roleState, error) {
		if err := r.eng.BeginEpoch(epoch); err != nil {
			return nil, err
		}
		return r.startLeader(), nil
	})
	if err == nil {
		r.log.Info("promoted to leader", "epoch", epoch, "durable", r.eng.Log().LastSeq(), "applied", r.eng.AppliedSeq(),
			"duration", time.Since(start))
	}
	return err
}

// Follow makes the node a replica of leader in epoch.
func (r *roles) Follow(_ context.Context, leader string, epoch uint64) error {
	r.touch()
	r.changes.Lock()
	defer r.changes.Unlock()
	change, err := decideFollow(r.view(), leader, epoch)
	if err != nil || !change {
		return err
	}
	if err := checkAddr(leader); err != nil {
		return fmt.Errorf("%w: leader address %q: %v", replication.ErrBadRequest, leader, err)
	}
	reason := fmt.Sprintf("following %s in epoch %d", leader, epoch)
	r.fence.Store(&reason)
	err = r.change(func() (*roleState, error) { return r.startFollower(leader, epoch, true) })
	if err == nil {
		r.log.Info("following a new leader", "leader", leader, "epoch", epoch)
	}
	return err
}

// Fence stops writes until the next Promote or Follow. It returns once
// no write that passed the fence check before it is still in the engine:
// every write the node acknowledges is then durable at or below the
// durable sequence read after Fence, which is what a switchover waits
// for the new leader to reach.
func (r *roles) Fence(epoch uint64) error {
	r.touch()
	r.changes.Lock()
	defer r.changes.Unlock()
	fence, err := decideFence(r.view(), epoch)
	if err != nil || !fence {
		return err
	}
	if r.fence.Load() == nil {
		reason := fmt.Sprintf("fenced by an admin call for epoch %d", epoch)
		r.fence.Store(&reason)
		r.log.Warn("writes fenced", "epoch", epoch)
	}
	// Writes hold r.writes for reading from the fence check until they
	// are queued: taking it waits for those already past the check, and
	// settling the engine for them to be durable.
	r.writes.Lock()
	r.settle("fence")
	r.writes.Unlock()
	return nil
}

// settle waits for the writes in the engine (r.writes held). Writes that
// fail to become durable are refused to their clients, never acknowledged,
// so a failure is only logged: the role change or fence goes on.
func (r *roles) settle(why string) {
	if err := r.eng.Settle(); err != nil {
		r.log.Error(why+": writes in flight did not become durable", "err", err)
	}
}

func (r *roles) touch() { r.admin.Store(time.Now().UnixNano()) }

// Contact records a call from an administrator (the operator): it holds
// off self-fencing like a replica's ack does.
func (r *roles) Contact() { r.touch() }

// fenced returns why writes are refused on a leader now, "" if they are
// not: an admin fence, or self-fencing after hearing from no replica and
// no admin caller for SelfFenceAfter.
func (r *roles) fenced(l *replication.Leader) string {
	if reason := r.fence.Load(); reason != nil {
		return *reason
	}
	if after := r.cfg.SelfFenceAfter; after > 0 {
		last := max(l.LastContact().UnixNano(), r.admin.Load())
		if silent := time.Since(time.Unix(0, last)); silent > after {
			return fmt.Sprintf("self-fenced: no replica or operator heard from for %v (SUTRA_SELF_FENCE_AFTER_MS=%d)",
				silent.Round(time.Millisecond), after.Milliseconds())
		}
	}
	return ""
}

// Info identifies the node and its current role.
func (r *roles) Info() grpcapi.NodeInfo {
	st := r.cur.Load()
	addr := st.following
	if st.role == RoleLeader {
		addr = r.cfg.Advertise
	}
	return grpcapi.NodeInfo{ID: r.cfg.NodeID, Role: st.role, ClusterID: r.cfg.ClusterID, Epoch: r.eng.Epoch(), LeaderAddress: addr}
}

// Leader is the replication leader, nil on a replica.
func (r *roles) Leader() *replication.Leader { return r.cur.Load().leader }

// Follower is the replication follower, nil on a leader.
func (r *roles) Follower() *replication.Follower { return r.cur.Load().follower }

// Begin checks that the node takes writes and queues ops in the engine;
// the wait it returns blocks until they are durable and applied, then for
// the synchronous replicas.
func (r *roles) Begin(ctx context.Context, ops []store.Op) (func() (engine.Result, error), error) {
	began := time.Now()
	r.writes.RLock()
	defer r.writes.RUnlock()
	st := r.cur.Load()
	if st.role != RoleLeader {
		return nil, fmt.Errorf("%w: %s refuses writes; leader=%s", grpcapi.ErrReadOnly, r.cfg.NodeID, st.following)
	}
	if why := r.fenced(st.leader); why != "" {
		return nil, fmt.Errorf("%w: %s: %s", replication.ErrFenced, r.cfg.NodeID, why)
	}
	p, err := r.eng.Begin(ops)
	if err != nil {
		return nil, err
	}
	return func() (engine.Result, error) {
		res, err := p.Wait()
		if err != nil {
			return res, err
		}
		return res, st.leader.WaitReplicated(ctx, res.Last, began)
	}, nil
}

// Status reports the node's role and position.
func (r *roles) Status() grpcapi.NodeStatus {
	st := r.cur.Load()
	info := r.Info()
	s := grpcapi.NodeStatus{NodeID: info.ID, ClusterID: info.ClusterID, Role: info.Role, Epoch: info.Epoch,
		Durable: r.eng.DurableSeq(), Applied: r.eng.AppliedSeq(), History: r.eng.History(),
		LeaderAddress: info.LeaderAddress, SetAside: r.aside.Load(), SyncReplicas: uint32(r.cfg.SyncReplicas)}
	if st.leader != nil {
		s.FenceReason = r.fenced(st.leader)
		s.Fenced = s.FenceReason != ""
	}
	if st.follower != nil {
		f := st.follower.Status()
		s.Connected, s.Diverged, s.Fork, s.LastError = f.Connected, f.Diverged, f.Fork, f.LastError
	}
	return s
}

// silentTimeout is how long a replica waits for a frame from its leader
// before it reconnects: 12 heartbeat intervals (every node of a cluster
// gets the same interval), between 3 s and 10 s. A replica that stops
// streaming is what tells the operator a leader is cut off.
func silentTimeout(heartbeat time.Duration) time.Duration {
	return min(max(12*heartbeat, 3*time.Second), 10*time.Second)
}

// followerSyncInterval maps the node's setting (0: each batch at once) to
// FollowerOptions.SyncInterval (0: the default, negative: at once).
func followerSyncInterval(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
