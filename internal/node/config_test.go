package node

import (
	"errors"
	"flag"
	"slices"
	"strings"
	"testing"
	"time"
)

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestParseConfigFromEnvironmentAndFlags(t *testing.T) {
	c, err := ParseConfig([]string{"--listen", "127.0.0.1:7000"}, env(map[string]string{
		"SUTRA_NODE_ROLE":             "leader",
		"SUTRA_REPLICAS":              "a:1, b:2,c:3",
		"SUTRA_STORAGE_SERVER":        "0.0.0.0:50051",
		"SUTRA_HEARTBEAT_INTERVAL_MS": "250",
		"SUTRA_NODE_ID":               "n1",
		"SUTRA_INSECURE":              "true",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Role != RoleLeader || c.Listen != "127.0.0.1:7000" || c.Advertise != "127.0.0.1:7000" || c.NodeID != "n1" ||
		strings.Join(c.Replicas, " ") != "a:1 b:2 c:3" || c.HeartbeatInterval != 250*time.Millisecond {
		t.Fatalf("parsed %+v", c)
	}
}

func TestParseConfigRejectsBadConfiguration(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no role", nil, nil, "SUTRA_NODE_ROLE (--role) is required"},
		{"unknown role", map[string]string{"SUTRA_NODE_ROLE": "primary"}, nil, `SUTRA_NODE_ROLE="primary" is not a role`},
		{"replica without leader", map[string]string{"SUTRA_NODE_ROLE": "replica"}, nil, "a replica needs SUTRA_LEADER"},
		{"leader with leader", nil, []string{"--role", "leader", "--leader", "x:1"}, "SUTRA_LEADER is set on a leader"},
		{"bad listen", map[string]string{"SUTRA_NODE_ROLE": "leader", "SUTRA_STORAGE_SERVER": "nope"}, nil, "want host:port"},
		{"bad replica", map[string]string{"SUTRA_NODE_ROLE": "leader", "SUTRA_REPLICAS": "a:1,b"}, nil, `SUTRA_REPLICAS entry "b"`},
		{"bad port", map[string]string{"SUTRA_NODE_ROLE": "replica", "SUTRA_LEADER": "h:99999"}, nil, "bad port"},
		{"not a number", map[string]string{"SUTRA_NODE_ROLE": "leader", "SUTRA_WAL_RETENTION_BYTES": "1GB"}, nil, "is not an integer"},
		{"negative retention", map[string]string{"SUTRA_NODE_ROLE": "leader", "SUTRA_WAL_RETENTION_BYTES": "-1"}, nil, "must be positive"},
		{"tiny segments", nil, []string{"--role", "leader", "--wal-segment-bytes", "10"}, "at least 4096"},
		{"unknown flag", nil, []string{"--rol", "leader"}, "flag provided but not defined"},
		{"empty data dir", nil, []string{"--role", "leader", "--data-dir", ""}, "SUTRA_DATA_DIR"},
		{"negative gc percent", map[string]string{"SUTRA_NODE_ROLE": "leader", "SUTRA_GC_PERCENT": "-1"}, nil, "SUTRA_GC_PERCENT must not be negative"},
		{"no TLS and not insecure", map[string]string{"SUTRA_NODE_ROLE": "leader"}, nil, "no TLS certificate: set SUTRA_TLS_CERT"},
		{"a certificate without its key", map[string]string{"SUTRA_NODE_ROLE": "leader", "SUTRA_TLS_CERT": "c.pem", "SUTRA_TLS_CA": "ca.pem"}, nil,
			"TLS needs all of SUTRA_TLS_CERT, SUTRA_TLS_KEY and SUTRA_TLS_CA"},
		{"insecure and TLS", map[string]string{"SUTRA_NODE_ROLE": "leader", "SUTRA_INSECURE": "true"}, []string{"--tls-cert", "c.pem"},
			"SUTRA_INSECURE (--insecure) is set together with TLS"},
		{"insecure with tokens", nil, []string{"--role", "leader", "--insecure", "--auth-tokens-file", "t"}, "choose one"},
		{"negative replica sync interval", nil, []string{"--role", "leader", "--insecure", "--replica-sync-interval", "-1ms"},
			"SUTRA_REPLICA_SYNC_INTERVAL_MS must be 0 to 1000 (--replica-sync-interval 0 to 1s), got -1ms"},
		{"replica sync interval over a second", map[string]string{"SUTRA_NODE_ROLE": "leader", "SUTRA_INSECURE": "true", "SUTRA_REPLICA_SYNC_INTERVAL_MS": "5000"}, nil,
			"SUTRA_REPLICA_SYNC_INTERVAL_MS must be 0 to 1000 (--replica-sync-interval 0 to 1s), got 5s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig(c.args, env(c.env))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
			if strings.Count(err.Error(), "\n") != 0 {
				t.Fatalf("configuration errors are one line: %q", err)
			}
		})
	}
}

// TestGCPercentDefault: 25 unless Go's own GOGC is set, which is then left
// alone (0); SUTRA_GC_PERCENT and the flag override both.
func TestGCPercentDefault(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want int
	}{
		{map[string]string{}, nil, DefaultGCPercent},
		{map[string]string{"GOGC": "200"}, nil, 0},
		{map[string]string{"GOGC": "200", "SUTRA_GC_PERCENT": "50"}, nil, 50},
		{map[string]string{"SUTRA_GC_PERCENT": "50"}, []string{"--gc-percent", "0"}, 0},
	} {
		tc.env["SUTRA_NODE_ROLE"] = "leader"
		tc.env["SUTRA_INSECURE"] = "true"
		c, err := ParseConfig(tc.args, env(tc.env))
		if err != nil || c.GCPercent != tc.want {
			t.Errorf("env %v args %v: GCPercent %d, %v; want %d", tc.env, tc.args, c.GCPercent, err, tc.want)
		}
	}
}

// TestReplicaSyncInterval: 10 ms unless set; 0 (each batch synced at once)
// reaches the follower as its "at once", not as its default.
func TestReplicaSyncInterval(t *testing.T) {
	for _, tc := range []struct {
		env            map[string]string
		args           []string
		want, follower time.Duration
	}{
		{map[string]string{}, nil, 10 * time.Millisecond, 10 * time.Millisecond},
		{map[string]string{"SUTRA_REPLICA_SYNC_INTERVAL_MS": "0"}, nil, 0, -1},
		{map[string]string{"SUTRA_REPLICA_SYNC_INTERVAL_MS": "40"}, nil, 40 * time.Millisecond, 40 * time.Millisecond},
		{map[string]string{"SUTRA_REPLICA_SYNC_INTERVAL_MS": "40"}, []string{"--replica-sync-interval", "2500us"}, 2500 * time.Microsecond, 2500 * time.Microsecond},
	} {
		tc.env["SUTRA_NODE_ROLE"] = "leader"
		tc.env["SUTRA_INSECURE"] = "true"
		c, err := ParseConfig(tc.args, env(tc.env))
		if err != nil || c.ReplicaSyncInterval != tc.want {
			t.Errorf("env %v args %v: ReplicaSyncInterval %v, %v; want %v", tc.env, tc.args, c.ReplicaSyncInterval, err, tc.want)
		}
		if got := followerSyncInterval(c.ReplicaSyncInterval); got != tc.follower {
			t.Errorf("env %v args %v: follower's SyncInterval %v, want %v", tc.env, tc.args, got, tc.follower)
		}
	}
}

func TestHelpListsEveryVariable(t *testing.T) {
	_, err := ParseConfig([]string{"--help"}, env(nil))
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v", err)
	}
	for _, v := range []string{"SUTRA_NODE_ROLE", "SUTRA_LEADER", "SUTRA_REPLICAS", "SUTRA_STORAGE_SERVER", "SUTRA_DATA_DIR",
		"SUTRA_NODE_ID", "SUTRA_CLUSTER_ID", "SUTRA_METRICS_ADDR", "SUTRA_REPLICAS_FILE", "SUTRA_ADVERTISE_ADDRESS"} {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("--help does not mention %s", v)
		}
	}
}

func TestPeersLeaveOutTheNodeItself(t *testing.T) {
	c := Config{Advertise: "b:1", Replicas: []string{"a:1", "b:1"}}
	got := c.peers([]string{"b:1", "c:1"})
	if want := []string{"a:1", "c:1"}; !slices.Equal(got, want) {
		t.Fatalf("peers = %v, want %v", got, want)
	}
}

func TestSilentTimeoutFollowsTheHeartbeat(t *testing.T) {
	for _, tc := range []struct{ heartbeat, want time.Duration }{
		{time.Second, 10 * time.Second},
		{250 * time.Millisecond, 3 * time.Second},
		{500 * time.Millisecond, 6 * time.Second},
		{10 * time.Millisecond, 3 * time.Second},
	} {
		if got := silentTimeout(tc.heartbeat); got != tc.want {
			t.Errorf("silentTimeout(%v) = %v, want %v", tc.heartbeat, got, tc.want)
		}
	}
}
