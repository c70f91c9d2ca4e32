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
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sutra/sutra-operator/internal/engine"
	"github.com/sutra/sutra-operator/internal/grpcapi"
	"github.com/sutra/sutra-operator/internal/replication"
	"github.com/sutra/sutra-operator/internal/store"
	"github.com/sutra/sutra-operator/internal/wal"
)

// Epoch is the leader term this build writes. Phase 1 has a single,
// fixed leader; promotion will raise it.
const Epoch = 1

// Run starts a node and blocks until ctx is cancelled or a part fails.
// ready, if not nil, is called with the bound gRPC address once serving.
func Run(ctx context.Context, cfg Config, log *slog.Logger, ready func(addr string)) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log = log.With("node", cfg.NodeID, "role", cfg.Role)
	if cfg.MemoryLimit > 0 {
		// The store lives on the Go heap; a soft limit makes the collector
		// work harder near it instead of letting the heap double.
		debug.SetMemoryLimit(cfg.MemoryLimit)
	}
	m := newMetrics()
	var leader *replication.Leader
	eopts := engine.Options{
		WAL: wal.Options{SegmentSize: cfg.SegmentBytes, NoSync: cfg.NoSync, Logger: log, AcceptLoss: cfg.AcceptDataLoss,
			OnSync: func(n, _ int, d time.Duration) { m.fsync.Observe(d.Seconds()); m.groupSize.Observe(float64(n)) }},
		Limits:          store.Limits{MaxContentBytes: cfg.MaxContentBytes, MaxEmbeddingDims: store.DefaultLimits().MaxEmbeddingDims},
		CheckpointBytes: cfg.CheckpointBytes,
		Epoch:           Epoch,
		Logger:          log,
	}
	if cfg.Role == RoleLeader {
		eopts.OnQueued = func(last uint64, at time.Time) { leader.Committed(last, at) }
		eopts.Retain = func() uint64 { return leader.RetainFrom() }
	}
	if cfg.NoSync {
		log.Warn("fsync is disabled: acknowledged writes can be lost on power failure")
	}
	eng, rec, err := engine.Open(cfg.DataDir, eopts)
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

	info := grpcapi.NodeInfo{ID: cfg.NodeID, Role: cfg.Role, ClusterID: cfg.ClusterID, Epoch: Epoch, LeaderAddress: cfg.Leader}
	repl := &grpcapi.ReplicationServer{Info: info, Engine: eng}
	var bg sync.WaitGroup
	bgCtx, stopBG := context.WithCancel(context.Background())
	defer func() { stopBG(); bg.Wait() }()

	switch cfg.Role {
	case RoleLeader:
		leader = replication.NewLeader(eng, replication.LeaderOptions{NodeID: cfg.NodeID, ClusterID: cfg.ClusterID, Epoch: Epoch,
			HeartbeatInterval: cfg.HeartbeatInterval, LagThreshold: cfg.LagThreshold, RetentionBytes: cfg.RetentionBytes, Logger: log,
			OnReplayed: m.observeReplay})
		leader.SetReplicas(cfg.Replicas)
		repl.Leader = leader
		call, closeConns := grpcapi.HeartbeatCaller()
		defer closeConns()
		bg.Add(1)
		go func() { defer bg.Done(); leader.RunHeartbeats(bgCtx, call) }()
		if cfg.ReplicasFile != "" {
			bg.Add(1)
			go func() { defer bg.Done(); watchReplicas(bgCtx, cfg, leader, log) }()
		}
	case RoleReplica:
		conn, err := grpcapi.Dial(cfg.Leader)
		if err != nil {
			return fmt.Errorf("storage-server: leader %s: %w", cfg.Leader, err)
		}
		defer func() { _ = conn.Close() }()
		f := replication.NewFollower(eng, grpcapi.StreamDialer(conn), replication.FollowerOptions{NodeID: cfg.NodeID,
			ClusterID: cfg.ClusterID, Address: cfg.Advertise, Leader: cfg.Leader, Logger: log})
		repl.Follower = f
		bg.Add(1)
		go func() { defer bg.Done(); f.Run(bgCtx) }()
	}
	m.register(eng, repl)

	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("storage-server: listen on %s: %w", cfg.Listen, err)
	}
	srv := grpcapi.NewServer(repl, &grpcapi.StorageServer{Info: info, Engine: eng}, log, m.observeRPC)
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
		"applied", eng.AppliedSeq(), "pid", os.Getpid())
	if ready != nil {
		ready(lis.Addr().String())
	}

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-serveErr:
		log.Error("server failed", "err", err)
	}
	srv.Shutdown(cfg.ShutdownGrace)
	if metricsSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = metricsSrv.Shutdown(sctx)
		cancel()
	}
	stopBG()
	bg.Wait()
	if cerr := eng.Close(); cerr != nil && err == nil {
		err = cerr
	}
	log.Info("stopped", "applied", eng.AppliedSeq())
	return err
}

// watchReplicas re-reads the replica list file every few seconds.
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
			list := append(append([]string(nil), cfg.Replicas...), splitList(last)...)
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
