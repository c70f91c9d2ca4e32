package node

import (
	"path"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc/codes"

	"github.com/sutra/sutra-operator/internal/engine"
)

// metrics holds a node's Prometheus registry. Histograms are fed by hooks;
// everything describing replication state is read at scrape time by
// statusCollector, so the figures always agree with GetReplicationStatus.
type metrics struct {
	reg       *prometheus.Registry
	fsync     prometheus.Histogram
	groupSize prometheus.Histogram
	rpc       *prometheus.HistogramVec
	replay    *prometheus.HistogramVec
	flush     *prometheus.HistogramVec
	refused   *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sutra_wal_fsync_duration_seconds", Help: "Duration of WAL fsyncs, one per group commit.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16)}),
		groupSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sutra_wal_group_commit_records", Help: "Records made durable by one group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14)}),
		rpc: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sutra_grpc_request_duration_seconds", Help: "Duration of unary gRPC calls by method and status code.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}, []string{"method", "code"}),
		replay: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sutra_replication_replay_lag_seconds", Help: "On the leader: time from writing an entry to a replica's ack that it applied it, per ack that advances the replica.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"replica"}),
		flush: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sutra_replication_flush_lag_seconds", Help: "On the leader: time from writing an entry to a replica's ack that its log made it durable, per ack that advances the replica.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"replica"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sutra_auth_refused_total", Help: "Calls refused for their credentials (code Unauthenticated) or identity (PermissionDenied), by method."},
			[]string{"method", "code"}),
	}
	m.reg.MustRegister(m.fsync, m.groupSize, m.rpc, m.replay, m.flush, m.refused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observeRPC(method string, code codes.Code, seconds float64) {
	m.rpc.WithLabelValues(path.Base(method), code.String()).Observe(seconds)
}

func (m *metrics) observeRefused(method string, code codes.Code) {
	m.refused.WithLabelValues(path.Base(method), code.String()).Inc()
}

// registerCertificate exports when the served certificate expires.
func (m *metrics) registerCertificate(notAfter func() time.Time) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sutra_tls_certificate_expiry_timestamp_seconds", Help: "When the certificate this node serves expires, in Unix seconds (reloaded files included)."},
		func() float64 { return float64(notAfter().Unix()) }))
}

func (m *metrics) observeReplay(replica string, lag time.Duration) {
	m.replay.WithLabelValues(replica).Observe(lag.Seconds())
}

func (m *metrics) observeFlush(replica string, lag time.Duration) {
	m.flush.WithLabelValues(replica).Observe(lag.Seconds())
}

func (m *metrics) register(eng *engine.Engine, r *roles) {
	m.reg.MustRegister(&statusCollector{eng: eng, roles: r})
}

var (
	descLeaderSeq   = prometheus.NewDesc("sutra_leader_sequence", "Last durable WAL sequence on the leader (as last reported, on replicas).", nil, nil)
	descApplied     = prometheus.NewDesc("sutra_applied_sequence", "Last WAL sequence applied by this node.", nil, nil)
	descFirst       = prometheus.NewDesc("sutra_wal_first_sequence", "First WAL sequence retained by this node.", nil, nil)
	descWalBytes    = prometheus.NewDesc("sutra_wal_bytes", "Bytes held in retained WAL segments.", nil, nil)
	descConcepts    = prometheus.NewDesc("sutra_concepts", "Concepts stored.", nil, nil)
	descAssocs      = prometheus.NewDesc("sutra_associations", "Associations stored.", nil, nil)
	descIsLeader    = prometheus.NewDesc("sutra_node_is_leader", "1 on the leader, 0 on replicas.", nil, nil)
	descLagEntries  = prometheus.NewDesc("sutra_replication_lag_entries", "Leader sequence minus the replica's applied sequence.", []string{"replica"}, nil)
	descLagSeconds  = prometheus.NewDesc("sutra_replication_lag_seconds", "Age on the leader's clock of the oldest entry the replica has not applied.", []string{"replica"}, nil)
	descFlushLag    = prometheus.NewDesc("sutra_replication_durable_lag_seconds", "Age on the leader's clock of the oldest entry the replica has not made durable: its flush lag now.", []string{"replica"}, nil)
	descReplicaSeq  = prometheus.NewDesc("sutra_replica_sequence", "On the leader, per replica: the last sequence sent to it, applied by it and made durable by it.", []string{"replica", "position"}, nil)
	descHealthy     = prometheus.NewDesc("sutra_replica_healthy", "1 when the replica is streaming, recently heard from and under the lag threshold.", []string{"replica"}, nil)
	descStreaming   = prometheus.NewDesc("sutra_replica_streaming", "1 while the replica has an open stream.", []string{"replica", "state"}, nil)
	descBytes       = prometheus.NewDesc("sutra_replication_streamed_bytes_total", "Bytes of WAL and snapshot sent (leader) or received (replica).", []string{"replica"}, nil)
	descEntries     = prometheus.NewDesc("sutra_replication_streamed_entries_total", "WAL entries sent (leader) or applied from the stream (replica).", []string{"replica"}, nil)
	descReconnects  = prometheus.NewDesc("sutra_replication_reconnects_total", "Times the replica's stream was re-established.", []string{"replica"}, nil)
	descSnapshots   = prometheus.NewDesc("sutra_replication_snapshots_total", "Snapshots sent to (leader) or installed by (replica) the replica.", []string{"replica"}, nil)
	descMaxLagMs    = prometheus.NewDesc("sutra_replication_max_lag_seconds", "Largest replica lag in seconds.", nil, nil)
	descConnectedTo = prometheus.NewDesc("sutra_replica_connected", "On a replica: 1 while streaming from the leader.", nil, nil)
	descDiverged    = prometheus.NewDesc("sutra_replica_diverged", "1 while the replica's log has forked from the leader's: the leader refuses to stream into it (leader: per replica; replica: itself).", []string{"replica"}, nil)
	descSync        = prometheus.NewDesc("sutra_replica_synchronous", "On the leader: 1 when the replica's acks count for synchronous replication.", []string{"replica"}, nil)
	descEpoch       = prometheus.NewDesc("sutra_epoch", "The node's epoch: the newest of its log's history.", nil, nil)
	descFenced      = prometheus.NewDesc("sutra_node_fenced", "On a leader: 1 while it refuses writes (fenced or self-fenced).", nil, nil)
	descSetAside    = prometheus.NewDesc("sutra_diverged_records_set_aside_total", "Records moved out of this node's log into a diverged-* directory by a Follow.", nil, nil)
)

type statusCollector struct {
	eng   *engine.Engine
	roles *roles
}

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	cnt := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	log := c.eng.Log()
	st := c.eng.Store().Stats()
	g(descApplied, float64(c.eng.AppliedSeq()))
	g(descFirst, float64(log.FirstSeq()))
	g(descWalBytes, float64(log.Size()))
	g(descConcepts, float64(st.ConceptCount))
	g(descAssocs, float64(st.AssociationCount))
	g(descEpoch, float64(c.eng.Epoch()))
	cnt(descSetAside, c.roles.aside.Load())
	rs := c.roles.cur.Load()
	if l := rs.leader; l != nil {
		g(descIsLeader, 1)
		g(descFenced, b2f(c.roles.fenced(l) != ""))
		s := l.Status()
		g(descLeaderSeq, float64(s.LeaderSeq))
		g(descMaxLagMs, float64(s.MaxLagMs)/1000)
		for _, r := range s.Replicas {
			g(descLagEntries, float64(r.LagEntries), r.ID)
			g(descLagSeconds, float64(r.LagMs)/1000, r.ID)
			g(descFlushLag, float64(r.FlushLagMs)/1000, r.ID)
			g(descReplicaSeq, float64(r.Sent), r.ID, "sent")
			g(descReplicaSeq, float64(r.Applied), r.ID, "applied")
			g(descReplicaSeq, float64(r.Durable), r.ID, "durable")
			g(descHealthy, b2f(r.Healthy), r.ID)
			streaming := r.State == "streaming" || r.State == "catchup" || r.State == "snapshot"
			g(descStreaming, b2f(streaming), r.ID, string(r.State))
			cnt(descBytes, r.BytesStreamed, r.ID)
			cnt(descEntries, r.EntriesStreamed, r.ID)
			cnt(descReconnects, r.Reconnects, r.ID)
			cnt(descSnapshots, r.SnapshotsSent, r.ID)
			g(descDiverged, b2f(r.State == "diverged"), r.ID)
			g(descSync, b2f(r.SyncState == "sync"), r.ID)
		}
		return
	}
	g(descIsLeader, 0)
	if f := rs.follower; f != nil {
		s := f.Status()
		id := c.roles.cfg.NodeID
		g(descDiverged, b2f(s.Diverged), id)
		g(descLeaderSeq, float64(s.LeaderSeq))
		g(descConnectedTo, b2f(s.Connected))
		cnt(descBytes, s.Bytes, id)
		cnt(descEntries, s.Entries, id)
		cnt(descReconnects, s.Reconnects, id)
		cnt(descSnapshots, s.Snapshots, id)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
