package node

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sutra/sutra-operator/internal/replication"
)

// Config is a storage node's configuration. Every field can be set by an
// environment variable and by a flag; a flag given on the command line wins.
type Config struct {
	Role              string        // SUTRA_NODE_ROLE, --role: leader | replica
	Listen            string        // SUTRA_STORAGE_SERVER, --listen
	Leader            string        // SUTRA_LEADER, --leader: leader address (replicas)
	Replicas          []string      // SUTRA_REPLICAS, --replicas: replica addresses the leader heartbeats
	ReplicasFile      string        // SUTRA_REPLICAS_FILE, --replicas-file: same, re-read while running
	Advertise         string        // SUTRA_ADVERTISE_ADDRESS, --advertise: this node's address for peers
	DataDir           string        // SUTRA_DATA_DIR, --data-dir
	NodeID            string        // SUTRA_NODE_ID, --node-id
	ClusterID         string        // SUTRA_CLUSTER_ID, --cluster-id
	MetricsAddr       string        // SUTRA_METRICS_ADDR, --metrics-addr ("" disables)
	RetentionBytes    int64         // SUTRA_WAL_RETENTION_BYTES, --wal-retention-bytes
	SegmentBytes      int64         // SUTRA_WAL_SEGMENT_BYTES, --wal-segment-bytes
	CheckpointBytes   int64         // SUTRA_CHECKPOINT_BYTES, --checkpoint-bytes
	HeartbeatInterval time.Duration // SUTRA_HEARTBEAT_INTERVAL_MS, --heartbeat-interval
	LagThreshold      time.Duration // SUTRA_LAG_THRESHOLD_MS, --lag-threshold
	MaxContentBytes   int           // SUTRA_MAX_CONTENT_BYTES, --max-content-bytes
	NoSync            bool          // SUTRA_UNSAFE_NO_FSYNC, --unsafe-no-fsync: tests only
	Pprof             bool          // SUTRA_PPROF, --pprof: serve /debug/pprof on the metrics address
	MemoryLimit       int64         // SUTRA_MEMORY_LIMIT, --memory-limit: Go soft memory limit in bytes (0: none)
	GCPercent         int           // SUTRA_GC_PERCENT, --gc-percent: the Go collector's heap growth target (0: the runtime's, GOGC)
	ShutdownGrace     time.Duration // --shutdown-grace
	SyncReplicas      int           // SUTRA_SYNC_REPLICAS, --sync-replicas: replicas that must confirm a write (0: asynchronous)
	SyncMode          string        // SUTRA_SYNC_MODE, --sync-mode: required | preferred
	SyncTimeout       time.Duration // SUTRA_SYNC_TIMEOUT_MS, --sync-timeout
	SelfFenceAfter    time.Duration // SUTRA_SELF_FENCE_AFTER_MS, --self-fence-after (0: off)
	// ReplicaSyncInterval: SUTRA_REPLICA_SYNC_INTERVAL_MS,
	// --replica-sync-interval; how far apart a replica of an asynchronous
	// leader syncs its log (0: each batch at once).
	ReplicaSyncInterval time.Duration
	VerifyInterval      uint64 // SUTRA_VERIFY_INTERVAL, --verify-interval: sequences between digest checkpoints (0: off)
	AcceptDataLoss      bool   // SUTRA_ACCEPT_DATA_LOSS, --accept-data-loss
	TLSCert             string // SUTRA_TLS_CERT, --tls-cert: PEM certificate chain, served and shown to peers
	TLSKey              string // SUTRA_TLS_KEY, --tls-key
	TLSCA               string // SUTRA_TLS_CA, --tls-ca: verifies the peers this node dials
	TLSClientCA         string // SUTRA_TLS_CLIENT_CA, --tls-client-ca: verifies client certificates (default: TLSCA)
	TokensFile          string // SUTRA_AUTH_TOKENS_FILE, --auth-tokens-file: bearer tokens (internal/auth)
	Insecure            bool   // SUTRA_INSECURE, --insecure: plaintext, no authentication
}

// DefaultGCPercent is SUTRA_GC_PERCENT's default: the heap may grow by a
// quarter of the live data between collections, not double (Go's 100),
// and by at least 16 MiB (gcHeadroomFloor).
// Measured with 300,000 concepts at 10,000 writes/s: leader PSS 91 MB
// instead of 142 MB for 7% more leader CPU (docs/performance.md).
const DefaultGCPercent = 25

// maxReplicaSyncInterval bounds ReplicaSyncInterval: what a replica killed
// between two syncs loses, and streams again from its leader.
const maxReplicaSyncInterval = time.Second

// Synchronous replication modes.
const (
	// SyncRequired fails a write with UNAVAILABLE when fewer than
	// SyncReplicas replicas confirm it within SyncTimeout.
	SyncRequired = "required"
	// SyncPreferred waits only for the replicas that are streaming, and
	// acknowledges a write whose confirmation timed out (logged).
	SyncPreferred = "preferred"
)

// Roles.
const (
	RoleLeader  = "leader"
	RoleReplica = "replica"
)

// ParseConfig reads the configuration from the environment (getenv) and
// then args. The result is validated.
func ParseConfig(args []string, getenv func(string) string) (Config, error) {
	host, _ := os.Hostname()
	c := Config{}
	fs := flag.NewFlagSet("storage-server", flag.ContinueOnError)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var errs []error
	envInt := func(name string, def int64) int64 {
		v := getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q is not an integer", name, v))
		}
		return n
	}
	envMs := func(name string, def time.Duration) time.Duration {
		return time.Duration(envInt(name, int64(def/time.Millisecond))) * time.Millisecond
	}
	var replicas string
	fs.StringVar(&c.Role, "role", env("SUTRA_NODE_ROLE", ""), "node role: leader or replica (SUTRA_NODE_ROLE)")
	fs.StringVar(&c.Listen, "listen", env("SUTRA_STORAGE_SERVER", "0.0.0.0:50051"), "gRPC listen address (SUTRA_STORAGE_SERVER)")
	fs.StringVar(&c.Leader, "leader", env("SUTRA_LEADER", ""), "leader address, required for replicas (SUTRA_LEADER)")
	fs.StringVar(&replicas, "replicas", env("SUTRA_REPLICAS", ""), "comma-separated replica addresses the leader heartbeats (SUTRA_REPLICAS)")
	fs.StringVar(&c.ReplicasFile, "replicas-file", env("SUTRA_REPLICAS_FILE", ""), "file holding the replica list, re-read every few seconds (SUTRA_REPLICAS_FILE)")
	fs.StringVar(&c.Advertise, "advertise", env("SUTRA_ADVERTISE_ADDRESS", ""), "address peers use to reach this node (SUTRA_ADVERTISE_ADDRESS; default: listen address)")
	fs.StringVar(&c.DataDir, "data-dir", env("SUTRA_DATA_DIR", "./sutra-data"), "data directory (SUTRA_DATA_DIR)")
	fs.StringVar(&c.NodeID, "node-id", env("SUTRA_NODE_ID", host), "node id (SUTRA_NODE_ID; default: host name)")
	fs.StringVar(&c.ClusterID, "cluster-id", env("SUTRA_CLUSTER_ID", "sutra"), "cluster id; replicas refuse leaders of other clusters (SUTRA_CLUSTER_ID)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", env("SUTRA_METRICS_ADDR", "0.0.0.0:9090"), "Prometheus metrics address, empty to disable (SUTRA_METRICS_ADDR)")
	fs.Int64Var(&c.RetentionBytes, "wal-retention-bytes", envInt("SUTRA_WAL_RETENTION_BYTES", 1<<30), "cap on log kept for lagging replicas (SUTRA_WAL_RETENTION_BYTES)")
	fs.Int64Var(&c.SegmentBytes, "wal-segment-bytes", envInt("SUTRA_WAL_SEGMENT_BYTES", 64<<20), "WAL segment size (SUTRA_WAL_SEGMENT_BYTES)")
	fs.Int64Var(&c.CheckpointBytes, "checkpoint-bytes", envInt("SUTRA_CHECKPOINT_BYTES", 256<<20), "log growth that triggers a checkpoint (SUTRA_CHECKPOINT_BYTES)")
	fs.DurationVar(&c.HeartbeatInterval, "heartbeat-interval", envMs("SUTRA_HEARTBEAT_INTERVAL_MS", time.Second), "leader heartbeat interval (SUTRA_HEARTBEAT_INTERVAL_MS)")
	fs.DurationVar(&c.LagThreshold, "lag-threshold", envMs("SUTRA_LAG_THRESHOLD_MS", 10*time.Second), "lag above which a replica is unhealthy (SUTRA_LAG_THRESHOLD_MS)")
	fs.IntVar(&c.MaxContentBytes, "max-content-bytes", int(envInt("SUTRA_MAX_CONTENT_BYTES", 1<<20)), "largest concept content accepted (SUTRA_MAX_CONTENT_BYTES)")
	fs.BoolVar(&c.NoSync, "unsafe-no-fsync", getenv("SUTRA_UNSAFE_NO_FSYNC") == "true", "skip fsync: loses acknowledged writes on power loss; tests only (SUTRA_UNSAFE_NO_FSYNC)")
	// The store's records live in pointer-free arenas, so collecting more
	// often costs little CPU and keeps the heap near its live size. Go's own
	// GOGC, when set, is left to rule.
	gcDefault := int64(DefaultGCPercent)
	if getenv("GOGC") != "" {
		gcDefault = 0
	}
	fs.IntVar(&c.GCPercent, "gc-percent", int(envInt("SUTRA_GC_PERCENT", gcDefault)), "heap growth, in percent of the live heap and at least 16 MiB, that triggers a collection; 0 leaves the Go runtime's (GOGC, default 100); default 25 unless GOGC is set (SUTRA_GC_PERCENT)")
	fs.Int64Var(&c.MemoryLimit, "memory-limit", envInt("SUTRA_MEMORY_LIMIT", 0), "soft memory limit in bytes for the Go runtime, e.g. 90% of the container's limit; 0 for none (SUTRA_MEMORY_LIMIT)")
	fs.BoolVar(&c.Pprof, "pprof", getenv("SUTRA_PPROF") == "true", "serve Go profiles at /debug/pprof/ on the metrics address (SUTRA_PPROF)")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", 10*time.Second, "how long SIGTERM waits for calls to drain")
	fs.IntVar(&c.SyncReplicas, "sync-replicas", int(envInt("SUTRA_SYNC_REPLICAS", 0)), "replicas that must make a write durable before it is acknowledged; 0 for asynchronous (SUTRA_SYNC_REPLICAS)")
	fs.StringVar(&c.SyncMode, "sync-mode", env("SUTRA_SYNC_MODE", SyncRequired), "required: fail writes that too few replicas confirm; preferred: fall back to the replicas available (SUTRA_SYNC_MODE)")
	fs.DurationVar(&c.SyncTimeout, "sync-timeout", envMs("SUTRA_SYNC_TIMEOUT_MS", 5*time.Second), "how long a write waits for synchronous replicas (SUTRA_SYNC_TIMEOUT_MS)")
	verifyEnv := envInt("SUTRA_VERIFY_INTERVAL", 10000)
	if verifyEnv < 0 {
		errs = append(errs, fmt.Errorf("SUTRA_VERIFY_INTERVAL must not be negative, got %d", verifyEnv))
	}
	fs.Uint64Var(&c.VerifyInterval, "verify-interval", uint64(max(verifyEnv, 0)), "replicas prove their state digest equal to the leader's at every multiple of this sequence; 0 disables (SUTRA_VERIFY_INTERVAL)")
	fs.DurationVar(&c.ReplicaSyncInterval, "replica-sync-interval", envMs("SUTRA_REPLICA_SYNC_INTERVAL_MS", replication.DefaultSyncInterval),
		"replica of an asynchronous leader: received records share one sync of its log at most this often; 0 syncs each batch at once (SUTRA_REPLICA_SYNC_INTERVAL_MS)")
	fs.DurationVar(&c.SelfFenceAfter, "self-fence-after", envMs("SUTRA_SELF_FENCE_AFTER_MS", 0), "a leader that hears from no replica and no admin caller for this long refuses writes; 0 disables (SUTRA_SELF_FENCE_AFTER_MS)")
	fs.BoolVar(&c.AcceptDataLoss, "accept-data-loss", getenv("SUTRA_ACCEPT_DATA_LOSS") == "true", "start even if the log ends below its durable high-water mark, accepting the loss (logged with the count) (SUTRA_ACCEPT_DATA_LOSS)")
	fs.StringVar(&c.TLSCert, "tls-cert", env("SUTRA_TLS_CERT", ""), "PEM certificate chain the node serves and shows its peers; its URI SAN urn:sutra:node:<node-id> is its identity (SUTRA_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "tls-key", env("SUTRA_TLS_KEY", ""), "PEM private key of --tls-cert (SUTRA_TLS_KEY)")
	fs.StringVar(&c.TLSCA, "tls-ca", env("SUTRA_TLS_CA", ""), "PEM CA bundle that verifies the leader and replicas this node dials (SUTRA_TLS_CA)")
	fs.StringVar(&c.TLSClientCA, "tls-client-ca", env("SUTRA_TLS_CLIENT_CA", ""), "PEM CA bundle that verifies client certificates; default --tls-ca (SUTRA_TLS_CLIENT_CA)")
	fs.StringVar(&c.TokensFile, "auth-tokens-file", env("SUTRA_AUTH_TOKENS_FILE", ""), `bearer tokens, lines "<reader|writer|admin> <name> <token>", re-read when changed (SUTRA_AUTH_TOKENS_FILE)`)
	fs.BoolVar(&c.Insecure, "insecure", getenv("SUTRA_INSECURE") == "true", "serve plaintext gRPC with no authentication: anyone who reaches the port may read, write and change roles (SUTRA_INSECURE)")
	usage := new(strings.Builder)
	fs.SetOutput(usage)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) { // the flag set has written its usage
			return c, fmt.Errorf("%w\n%s", flag.ErrHelp, usage)
		}
		return c, fmt.Errorf("storage-server: %w", err)
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("storage-server: %w", err)
	}
	c.Replicas = splitList(replicas)
	if c.Advertise == "" {
		c.Advertise = c.Listen
	}
	return c, c.Validate()
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == ' ' }) {
		out = append(out, strings.TrimSpace(p))
	}
	return out
}

// Validate reports the first configuration problem as one clear line.
func (c Config) Validate() error {
	bad := func(format string, a ...any) error { return fmt.Errorf("storage-server: "+format, a...) }
	switch c.Role {
	case RoleLeader, RoleReplica:
	case "":
		return bad("SUTRA_NODE_ROLE (--role) is required: leader or replica")
	default:
		return bad("SUTRA_NODE_ROLE=%q is not a role: use leader or replica", c.Role)
	}
	if err := checkAddr(c.Listen); err != nil {
		return bad("SUTRA_STORAGE_SERVER=%q: %v", c.Listen, err)
	}
	if c.Role == RoleReplica {
		if c.Leader == "" {
			return bad("a replica needs SUTRA_LEADER (--leader), the leader's host:port")
		}
		if err := checkAddr(c.Leader); err != nil {
			return bad("SUTRA_LEADER=%q: %v", c.Leader, err)
		}
	}
	if c.Role == RoleLeader && c.Leader != "" {
		return bad("SUTRA_LEADER is set on a leader; unset it or use SUTRA_NODE_ROLE=replica")
	}
	for _, r := range c.Replicas {
		if err := checkAddr(r); err != nil {
			return bad("SUTRA_REPLICAS entry %q: %v", r, err)
		}
	}
	switch {
	case c.DataDir == "":
		return bad("SUTRA_DATA_DIR (--data-dir) must not be empty")
	case c.NodeID == "":
		return bad("SUTRA_NODE_ID (--node-id) must not be empty")
	case c.ClusterID == "":
		return bad("SUTRA_CLUSTER_ID (--cluster-id) must not be empty")
	case c.RetentionBytes <= 0:
		return bad("SUTRA_WAL_RETENTION_BYTES must be positive, got %d", c.RetentionBytes)
	case c.SegmentBytes < 4096:
		return bad("SUTRA_WAL_SEGMENT_BYTES must be at least 4096, got %d", c.SegmentBytes)
	case c.HeartbeatInterval <= 0:
		return bad("SUTRA_HEARTBEAT_INTERVAL_MS must be positive")
	case c.LagThreshold <= 0:
		return bad("SUTRA_LAG_THRESHOLD_MS must be positive")
	case c.MaxContentBytes <= 0:
		return bad("SUTRA_MAX_CONTENT_BYTES must be positive")
	case c.GCPercent < 0:
		return bad("SUTRA_GC_PERCENT must not be negative, got %d", c.GCPercent)
	case c.MemoryLimit < 0:
		return bad("SUTRA_MEMORY_LIMIT must not be negative, got %d", c.MemoryLimit)
	case c.SyncReplicas < 0:
		return bad("SUTRA_SYNC_REPLICAS must not be negative, got %d", c.SyncReplicas)
	case c.SyncMode != SyncRequired && c.SyncMode != SyncPreferred:
		return bad("SUTRA_SYNC_MODE=%q is not a mode: use %s or %s", c.SyncMode, SyncRequired, SyncPreferred)
	case c.SyncTimeout <= 0:
		return bad("SUTRA_SYNC_TIMEOUT_MS must be positive")
	case c.SelfFenceAfter < 0:
		return bad("SUTRA_SELF_FENCE_AFTER_MS must not be negative")
	case c.ReplicaSyncInterval < 0 || c.ReplicaSyncInterval > maxReplicaSyncInterval:
		return bad("SUTRA_REPLICA_SYNC_INTERVAL_MS must be 0 to %d (--replica-sync-interval 0 to %v), got %v",
			maxReplicaSyncInterval.Milliseconds(), maxReplicaSyncInterval, c.ReplicaSyncInterval)
	}
	if err := c.validateTLS(); err != nil {
		return err
	}
	if c.MetricsAddr != "" {
		if err := checkAddr(c.MetricsAddr); err != nil {
			return bad("SUTRA_METRICS_ADDR=%q: %v", c.MetricsAddr, err)
		}
	}
	return nil
}

// validateTLS requires TLS material, or plaintext asked for by name.
func (c Config) validateTLS() error {
	bad := func(format string, a ...any) error { return fmt.Errorf("storage-server: "+format, a...) }
	anyTLS := c.TLSCert != "" || c.TLSKey != "" || c.TLSCA != "" || c.TLSClientCA != ""
	switch {
	case c.Insecure && (anyTLS || c.TokensFile != ""):
		return bad("SUTRA_INSECURE (--insecure) is set together with TLS or token files: choose one")
	case c.Insecure:
		return nil
	case !anyTLS:
		return bad("no TLS certificate: set SUTRA_TLS_CERT, SUTRA_TLS_KEY and SUTRA_TLS_CA (--tls-cert, --tls-key, --tls-ca), " +
			"or SUTRA_INSECURE=true (--insecure) to serve plaintext with no authentication")
	case c.TLSCert == "" || c.TLSKey == "" || c.TLSCA == "":
		return bad("TLS needs all of SUTRA_TLS_CERT, SUTRA_TLS_KEY and SUTRA_TLS_CA (--tls-cert, --tls-key, --tls-ca)")
	}
	return nil
}

func checkAddr(a string) error {
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("want host:port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("bad port %q", port)
	}
	return nil
}
