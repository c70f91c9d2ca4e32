package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/sutra/sutra-operator/internal/auth"

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

	sec, peerCreds, err := openSecurity(cfg, log)
	if err != nil {
		return err
	}
	if sec != nil {
		sec.Refused = m.observeRefused
		m.registerCertificate(sec.TLS.NotAfter)
	}
	bgCtx, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	if cfg.GCPercent > 0 {
		go paceGC(bgCtx, cfg.GCPercent, 100*time.Millisecond)
	}
	r = newRoles(bgCtx, cfg, eng, log, lagObservers{replay: m.observeReplay, flush: m.observeFlush}, peerCreds)
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
	srv := grpcapi.NewServer(repl, &grpcapi.StorageServer{Roles: r, Engine: eng}, &grpcapi.AdminServer{Admin: r}, sec, log, m.observeRPC)
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
		handleHealth(mux, srv)
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

// openSecurity loads the node's TLS material and token file: the server's
// authentication, and the credentials it dials peers with. Both are nil
// with --insecure, which is logged.
func openSecurity(cfg Config, log *slog.Logger) (*grpcapi.Security, credentials.TransportCredentials, error) {
	if cfg.Insecure {
		log.Warn("serving plaintext gRPC with no authentication (--insecure): anyone who reaches the port may read, write, stream the log and change roles",
			"addr", cfg.Listen)
		return nil, nil, nil
	}
	src, err := auth.Open(auth.Files{Cert: cfg.TLSCert, Key: cfg.TLSKey, CA: cfg.TLSCA, ClientCA: cfg.TLSClientCA}, log)
	if err != nil {
		return nil, nil, fmt.Errorf("storage-server: TLS: %w", err)
	}
	id, err := src.Identity()
	if err != nil {
		return nil, nil, fmt.Errorf("storage-server: SUTRA_TLS_CERT %s: %w", cfg.TLSCert, err)
	}
	if want := auth.URI(auth.Node, cfg.NodeID); id.String() != want {
		return nil, nil, fmt.Errorf("storage-server: SUTRA_TLS_CERT %s identifies %s, not this node (%s, from SUTRA_NODE_ID)", cfg.TLSCert, id, want)
	}
	sec := &grpcapi.Security{TLS: src, Log: log}
	if cfg.TokensFile != "" {
		if sec.Tokens, err = auth.OpenTokens(cfg.TokensFile, log); err != nil {
			return nil, nil, fmt.Errorf("storage-server: SUTRA_AUTH_TOKENS_FILE %s: %w", cfg.TokensFile, err)
		}
	}
	log.Info("serving TLS; callers authenticate by certificate or token", "identity", id.String(), "tokens", cfg.TokensFile != "")
	return sec, grpcapi.PeerCredentials(src), nil
}

// handleHealth serves /healthz (the process answers) and /readyz (its gRPC
// health is SERVING) for probes that cannot speak TLS, such as kubelet's.
func handleHealth(mux *http.ServeMux, srv *grpcapi.Server) {
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		st, err := srv.Health.Check(r.Context(), &healthpb.HealthCheckRequest{})
		if err != nil || st.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			http.Error(w, "not serving", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
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
