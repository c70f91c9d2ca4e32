package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sutra/sutra-operator/internal/engine"
	"github.com/sutra/sutra-operator/internal/grpcapi"
	"github.com/sutra/sutra-operator/internal/replication"
	"github.com/sutra/sutra-operator/internal/store"
	"github.com/sutra/sutra-operator/internal/wal"
)

// Run starts a node and blocks until ctx is cancelled or a part fails.
// ready, if not nil, is called with the bound gRPC address once serving.
func Run(ctx context.Context, cfg Config, log *slog.Logger, ready func(addr string)) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log = log.With("node", cfg.NodeID)
	if cfg.GCPercent > 0 {
		debug.SetGCPercent(cfg.GCPercent)
	}
	if cfg.MemoryLimit > 0 {
		// The store lives on the Go heap; a soft limit makes the collector
		// work harder near it instead of letting the heap double.
		debug.SetMemoryLimit(cfg.MemoryLimit)
	}
	m := newMetrics()
	var r *roles
	eopts := engine.Options{
		WAL: wal.Options{SegmentSize: cfg.SegmentBytes, NoSync: cfg.NoSync, Logger: log, AcceptLoss: cfg.AcceptDataLoss,
			OnSync: func(n, _ int, d time.Duration) { m.fsync.Observe(d.Seconds()); m.groupSize.Observe(float64(n)) }},
		Limits:          store.Limits{MaxContentBytes: cfg.MaxContentBytes, MaxEmbeddingDims: store.DefaultLimits().MaxEmbeddingDims},
		CheckpointBytes: cfg.CheckpointBytes,
		VerifyEvery:     cfg.VerifyInterval,
		Logger:          log,
		OnQueued: func(last uint64, at time.Time) {
			if l := r.currentLeader(); l != nil {
				l.Committed(last, at)
			}
		},
		Retain: func() uint64 {
			if l := r.currentLeader(); l != nil {
				return l.RetainFrom()
			}
			return 0
		},
	}
	if cfg.NoSync {
		log.Warn("fsync is disabled: acknowledged writes can be lost on power failure")
	}
	eng, rec, err := engine.Open(cfg.DataDir, eopts)
	var locked *engine.LockedError
	if errors.As(err, &locked) {
		return fmt.Errorf("storage-server: %w", err)
	}
	if errors.Is(err, wal.ErrLost) {
		return fmt.Errorf("storage-server: open %s: %w (start with --accept-data-loss to accept the loss)", cfg.DataDir, err)
	}
	if err != nil {
		return fmt.Errorf("storage-server: open %s: %w", cfg.DataDir, err)
	}
	defer func() { _ = eng.Close() }()
	for _, r := range rec.Repaired {
		log.Warn("recovered from a torn log tail", "detail", r)
	}
	if rec.Lost > 0 {
		log.Warn("started with durable records lost, as --accept-data-loss allows", "lost", rec.Lost, "last_seq", rec.LastSeq)
	}

	bgCtx, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	r = newRoles(bgCtx, cfg, eng, log, m.observeReplay)
	switch cfg.Role {
	case RoleLeader:
		if why := newEpochReason(rec, eng); why != "" {
			if err := eng.BeginEpoch(eng.Epoch() + 1); err != nil {
				return fmt.Errorf("storage-server: begin epoch: %w", err)
			}
			log.Info("leader begins a new epoch", "epoch", eng.Epoch(), "first_sequence", eng.Log().LastSeq()+1, "why", why)
		}
		r.cur.Store(r.startLeader())
	case RoleReplica:
		st, err := r.startFollower(cfg.Leader, 0, false)
		if err != nil {
			return err
		}
		r.cur.Store(st)
	}
	defer func() { r.cur.Load().stop() }()
	repl := &grpcapi.ReplicationServer{Roles: r, Engine: eng}
	m.register(eng, r)

	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("storage-server: listen on %s: %w", cfg.Listen, err)
	}
	srv := grpcapi.NewServer(repl, &grpcapi.StorageServer{Roles: r, Engine: eng}, &grpcapi.AdminServer{Admin: r}, log, m.observeRPC)
	srv.SetServing(true)
	serveErr := make(chan error, 2)
	go func() { serveErr <- srv.Serve(lis) }()

	var metricsSrv *http.Server
	if cfg.MetricsAddr != "" {
		mlis, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			srv.Stop()
			return fmt.Errorf("storage-server: metrics listen on %s: %w", cfg.MetricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
		if cfg.Pprof {
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		}
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := metricsSrv.Serve(mlis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				serveErr <- err
			}
		}()
		log.Info("metrics listening", "addr", mlis.Addr().String())
	}
	log.Info("storage node serving", "addr", lis.Addr().String(), "cluster", cfg.ClusterID, "leader", cfg.Leader,
		"applied", eng.AppliedSeq(), "epoch", eng.Epoch(), "pid", os.Getpid())
	if ready != nil {
		ready(lis.Addr().String())
	}

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-serveErr:
		log.Error("server failed", "err", err)
	}
	if l := r.currentLeader(); l != nil {
		l.Shutdown() // replication streams never end on their own; end them (UNAVAILABLE) so calls can drain
	}
	srv.Shutdown(cfg.ShutdownGrace)
	if metricsSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = metricsSrv.Shutdown(sctx)
		cancel()
	}
	r.cur.Load().stop()
	if cerr := eng.Close(); cerr != nil && err == nil {
		err = cerr
	}
	log.Info("stopped", "applied", eng.AppliedSeq())
	return err
}

// newEpochReason says why a node starting as leader must begin a new epoch,
// "" when its log proves it holds everything it made durable in its
// current one. A log repaired at open, or without a history (new, or
// written before histories), proves nothing.
func newEpochReason(rec engine.Recovery, eng *engine.Engine) string {
	switch {
	case eng.Epoch() == 0:
		return "the log has no epoch yet"
	case rec.NoHistory:
		return "the data directory had no epoch history"
	case rec.Lost > 0:
		return fmt.Sprintf("%d durable records were accepted as lost", rec.Lost)
	case len(rec.Repaired) > 0:
		return "the log was repaired at open: " + rec.Repaired[0]
	}
	return ""
}

// watchReplicas re-reads the replica list file every few seconds.
// peers is SUTRA_REPLICAS followed by more, without this node's own
// address: every node of a cluster may be given the list of all of them,
// and whichever leads streams to the others.
func (c Config) peers(more []string) []string {
	var out []string
	for _, a := range append(append([]string(nil), c.Replicas...), more...) {
		if a != c.Advertise {
			out = append(out, a)
		}
	}
	return out
}

func watchReplicas(ctx context.Context, cfg Config, l *replication.Leader, log *slog.Logger) {
	var last string
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		b, err := os.ReadFile(cfg.ReplicasFile)
		switch {
		case err != nil && !os.IsNotExist(err):
			log.Warn("cannot read replica list", "file", cfg.ReplicasFile, "err", err)
		case string(b) != last:
			last = string(b)
			list := cfg.peers(splitList(last))
			l.SetReplicas(list)
			log.Info("replica list updated", "replicas", list)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
