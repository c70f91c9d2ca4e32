package sutractl

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sutra/sutra-operator/internal/node"
	"github.com/sutra/sutra-operator/internal/pb/replicationpb"
)

// startNode runs a storage node in process on a free port and returns its
// address.
func startNode(t *testing.T, args ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	base := []string{"--listen", "127.0.0.1:0", "--metrics-addr", "", "--data-dir", dir, "--heartbeat-interval", "100ms"}
	if !slices.Contains(args, "--tls-cert") {
		base = append(base, "--insecure")
	}
	cfg, err := node.ParseConfig(append(base, args...), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- node.Run(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), func(a string) { ready <- a })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node stopped with %v", err)
		}
	})
	select {
	case a := <-ready:
		return a
	case err := <-done:
		t.Fatalf("node did not start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("node did not start")
	}
	return ""
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := Run(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("sutractl %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

func TestCommandsAgainstALeaderAndAReplica(t *testing.T) {
	leader := startNode(t, "--role", "leader", "--node-id", "leader")
	replica := startNode(t, "--role", "replica", "--leader", leader, "--node-id", "r1")

	if out := run(t, "put", "--addr", leader, "--id", "hello", "--content", "world"); !strings.Contains(out, "at sequence 1") {
		t.Fatalf("put: %s", out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var out bytes.Buffer
		if err := Run(context.Background(), []string{"get", "--addr", replica, "--id", "hello"}, &out, io.Discard); err == nil {
			if !strings.Contains(out.String(), `content "world"`) {
				t.Fatalf("get from replica: %s", out.String())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the write never reached the replica")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var errOut bytes.Buffer
	err := Run(context.Background(), []string{"put", "--follow-leader=false", "--addr", replica, "--id", "x", "--content", "y"}, io.Discard, &errOut)
	if err == nil || !strings.Contains(err.Error(), "leader="+leader) {
		t.Fatalf("put to replica without following: %v", err)
	}
	// Following the replica's answer, and finding the leader in a list.
	if out := run(t, "put", "--addr", replica, "--id", "x", "--content", "y"); !strings.Contains(out, "on "+leader) {
		t.Fatalf("put through a replica: %s", out)
	}
	if out := run(t, "put", "--addr", replica+","+leader, "--id", "x", "--content", "z"); !strings.Contains(out, "on "+leader) {
		t.Fatalf("put to a list: %s", out)
	}
	if out := run(t, "get", "--addr", replica+","+leader, "--read-from", "leader", "--id", "x"); !strings.Contains(out, `content "z"`) {
		t.Fatalf("get from the leader: %s", out)
	}

	// Unary calls, then WriteStream and ReadStream.
	var res *BenchResult
	for i, stream := range []bool{false, true} {
		res, err = RunBench(context.Background(), BenchConfig{Leader: replica + "," + leader, Replicas: []string{replica}, Rate: 400,
			Duration: 1500 * time.Millisecond, Workers: 8, Conns: 2, Batch: 1, Size: 100, MarkerInterval: 20 * time.Millisecond,
			Settle: 20 * time.Second, Seed: 7 + uint64(i), Stream: stream}) // fresh markers each run
		if err != nil {
			t.Fatal(err)
		}
		if res.Writes < 300 || res.Errors != 0 || !res.Converged || res.Visibility[replica].N == 0 {
			t.Fatalf("bench result (stream %v) %+v", stream, res)
		}
		if res.Leader != leader || res.Digests[leader] != res.Digests[replica] || res.RSS[leader] == 0 {
			t.Fatalf("digests %v rss %v", res.Digests, res.RSS)
		}
	}

	status := run(t, "status", "--addr", leader)
	if !strings.Contains(status, "r1") || !strings.Contains(status, "streaming") || !strings.Contains(status, "true") {
		t.Fatalf("status table:\n%s", status)
	}
	stats := run(t, "stats", "--addr", leader+","+replica)
	if strings.Count(stats, res.Digests[leader]) != 2 {
		t.Fatalf("stats:\n%s", stats)
	}
}

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{nil, {"frobnicate"}, {"put", "--addr", "127.0.0.1:1"}, {"bench", "--connections", "0"}} {
		if err := Run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("sutractl %v succeeded", args)
		}
	}
	if id, _ := ParseID("00112233445566778899aabbccddeeff"); len(id) != 16 || id[15] != 0xff {
		t.Errorf("hex id parsed as %x", id)
	}
	if a, _ := ParseID("user:42"); len(a) != 16 {
		t.Errorf("text id gave %d bytes", len(a))
	}
}

// A by-hand failover and failback with the admin commands: promote a
// replica (the others follow it), fence it, promote the first leader back.
func TestAdminCommandsFailOverAndBack(t *testing.T) {
	a := startNode(t, "--role", "leader", "--node-id", "a")
	b := startNode(t, "--role", "replica", "--leader", a, "--node-id", "b")
	c := startNode(t, "--role", "replica", "--leader", a, "--node-id", "c")
	all := strings.Join([]string{a, b, c}, ",")
	run(t, "put", "--addr", a, "--id", "before", "--content", "one")
	waitGet := func(addr, id string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			var out, errOut bytes.Buffer
			if Run(context.Background(), []string{"get", "--addr", addr, "--id", id}, &out, &errOut) == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never showed %s: %s", addr, id, errOut.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitGet(b, "before")

	out := run(t, "promote", "--addr", strings.Join([]string{b, a, c}, ","))
	if !strings.Contains(out, "leads epoch 2") || strings.Count(out, "follows "+b+" in epoch 2") != 2 {
		t.Fatalf("promote printed:\n%s", out)
	}
	if out := run(t, "put", "--addr", all, "--id", "after", "--content", "two"); !strings.Contains(out, "on "+b) {
		t.Fatalf("put after the failover did not land on %s:\n%s", b, out)
	}
	waitGet(a, "after")
	waitGet(c, "after")
	nodes := run(t, "nodes", "--addr", all)
	if strings.Count(nodes, " replica ") != 2 || strings.Count(nodes, " leader ") != 1 {
		t.Fatalf("nodes printed:\n%s", nodes)
	}

	run(t, "fence", "--addr", b)
	var o, e bytes.Buffer
	if err := Run(context.Background(), []string{"put", "--addr", b, "--id", "fenced", "--content", "x", "--timeout", "1s"}, &o, &e); err == nil {
		t.Fatalf("a fenced leader took a write: %s", o.String())
	}
	out = run(t, "promote", "--addr", all)
	if !strings.Contains(out, "leads epoch 3") {
		t.Fatalf("promote back printed:\n%s", out)
	}
	if out := run(t, "follow", "--addr", c, "--leader", a); !strings.Contains(out, "follows "+a+" in epoch 3") {
		t.Fatalf("follow printed:\n%s", out)
	}
	run(t, "put", "--addr", all, "--id", "back", "--content", "three")
	waitGet(b, "back")
	waitGet(c, "back")
	for _, id := range []string{"before", "after", "back"} {
		waitGet(a, id)
	}
}

func TestStatsShowsTheNodesThatAnswerAndMarksTheOneDown(t *testing.T) {
	leader := startNode(t, "--role", "leader", "--node-id", "leader")
	down := deadAddr(t)
	var out bytes.Buffer
	err := Run(context.Background(), []string{"stats", "--addr", leader + "," + down, "--timeout", "2s"}, &out, io.Discard)
	t.Logf("stats printed:\n%serr: %v", out.String(), err)
	if err == nil || !strings.Contains(err.Error(), down) {
		t.Fatalf("stats with a node down: err %v, want one naming %s", err, down)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "leader ") || !strings.HasPrefix(lines[2], down+" ") || !strings.Contains(lines[2], "error:") {
		t.Fatalf("stats rows:\n%s", out.String())
	}
}

func TestEveryCommandRefusesPositionalArgumentsAndPrintsHelp(t *testing.T) {
	for _, cmd := range []string{"status", "put", "get", "stats", "bench", "nodes", "promote", "follow", "fence", "wait"} {
		err := Run(context.Background(), []string{cmd, "127.0.0.1:50052"}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), `unexpected argument(s) ["127.0.0.1:50052"]`) {
			t.Errorf("sutractl %s 127.0.0.1:50052: %v", cmd, err)
		}
		for _, h := range []string{"-h", "--help"} {
			var out, errOut bytes.Buffer
			if err := Run(context.Background(), []string{cmd, h}, &out, &errOut); err != nil {
				t.Errorf("sutractl %s %s: %v", cmd, h, err)
			}
			if !strings.Contains(out.String(), "usage: sutractl "+cmd) || !strings.Contains(out.String(), "-addr") && cmd != "bench" || errOut.Len() > 0 {
				t.Errorf("sutractl %s %s printed to stdout:\n%s\nto stderr:\n%s", cmd, h, out.String(), errOut.String())
			}
		}
	}
	var errOut bytes.Buffer
	err := Run(context.Background(), []string{"status", "--bogus"}, io.Discard, &errOut)
	if err == nil || !strings.Contains(errOut.String(), "usage: sutractl status") {
		t.Errorf("an unknown flag: %v, stderr:\n%s", err, errOut.String())
	}
}

// An address without a port gets the node's default port 50051, as the
// default --addr has, instead of gRPC's 443.
func TestAddressWithoutPortGetsTheDefaultPort(t *testing.T) {
	got, err := ParseAddrs("localhost, 10.0.0.1:7 ,[::1],::1:9")
	if err == nil {
		t.Fatalf("::1:9 accepted as %q", got)
	}
	got, err = ParseAddrs("localhost, 10.0.0.1:7 ,[::1]")
	if err != nil || strings.Join(got, ",") != "localhost:50051,10.0.0.1:7,[::1]:50051" {
		t.Fatalf("ParseAddrs: %q %v", got, err)
	}
	for _, bad := range []string{"localhost:", ":50051"} {
		if got, err := ParseAddrs(bad); err == nil {
			t.Errorf("ParseAddrs(%q) = %q", bad, got)
		}
	}
}

func TestPutNeedsContentAndNamesHashedIDs(t *testing.T) {
	leader := startNode(t, "--role", "leader", "--node-id", "leader")
	err := Run(context.Background(), []string{"put", "--addr", leader, "--id", "x"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--content is required") {
		t.Fatalf("put without --content: %v", err)
	}
	if out := run(t, "put", "--addr", leader, "--id", "x", "--content", ""); !strings.Contains(out, "at sequence 1") {
		t.Fatalf("put --content '': %s", out)
	}
	out := run(t, "put", "--addr", leader, "--id", "user:42", "--content", "v")
	t.Logf("put printed: %s", out)
	if !strings.Contains(out, `wrote user:42 (id `) || !strings.Contains(out, ` = sha256("user:42")[:16])`) {
		t.Fatalf("put of a text id: %s", out)
	}
	out = run(t, "get", "--addr", leader, "--id", "user:42")
	t.Logf("get printed: %s", out)
	if !strings.Contains(out, `id user:42 (id `) || !strings.Contains(out, `sha256("user:42")[:16]`) {
		t.Fatalf("get of a text id: %s", out)
	}
	hexID := "00112233445566778899aabbccddeeff"
	if out := run(t, "put", "--addr", leader, "--id", hexID, "--content", "h"); !strings.Contains(out, "wrote "+hexID+" at") {
		t.Fatalf("put of a hex id: %s", out)
	}
}

func TestWaitForServingAndStreaming(t *testing.T) {
	down := deadAddr(t)
	var errOut bytes.Buffer
	err := Run(context.Background(), []string{"wait", "--addr", down, "--timeout", "500ms"}, io.Discard, &errOut)
	t.Logf("wait for a node that is not there: %v", err)
	if err == nil || !strings.Contains(err.Error(), "timed out after 500ms waiting for "+down+" to be serving") {
		t.Fatalf("wait for a node that is not there: %v", err)
	}
	leader := startNode(t, "--role", "leader", "--node-id", "leader")
	replica := startNode(t, "--role", "replica", "--leader", leader, "--node-id", "r1")
	out := run(t, "wait", "--addr", leader+","+replica, "--for", "streaming", "--timeout", "20s")
	t.Logf("wait printed: %s", out)
	status := run(t, "status", "--addr", leader)
	if !strings.Contains(status, " streaming ") {
		t.Fatalf("wait --for streaming returned before the replica streamed:\n%s", status)
	}
	run(t, "wait", "--addr", leader, "--for", "streaming", "--timeout", "5s")
	err = Run(context.Background(), []string{"wait", "--addr", replica, "--for", "streaming", "--timeout", "300ms"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no leader") {
		t.Fatalf("wait --for streaming on a replica alone: %v", err)
	}

	// get --wait retries a concept that has not reached the replica yet.
	run(t, "put", "--addr", leader, "--id", "late", "--content", "arrives")
	if out := run(t, "get", "--addr", replica, "--id", "late", "--wait", "10s"); !strings.Contains(out, `content "arrives"`) {
		t.Fatalf("get --wait: %s", out)
	}
	err = Run(context.Background(), []string{"get", "--addr", replica, "--id", "never", "--wait", "300ms"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "still not found after waiting 300ms") {
		t.Fatalf("get --wait of a missing concept: %v", err)
	}
}

// The replication table shows each replica's three positions and both
// lags, as docs/replication.md says.
func TestPrintStatusPositions(t *testing.T) {
	var out strings.Builder
	PrintStatus(&out, &replicationpb.ReplicationStatusResponse{NodeId: "leader", Role: "leader", LeaderSequence: 42,
		Replicas: []*replicationpb.ReplicaInfo{{Id: "r1", State: "streaming", Healthy: true, SentSequence: 42,
			LastAppliedSequence: 40, DurableSequence: 37, LagEntries: 2, LagMs: 3, FlushLagMs: 8}}})
	lines := strings.Split(out.String(), "\n")
	if len(lines) < 3 || strings.Join(strings.Fields(lines[1]), " ") !=
		"REPLICA STATE HEALTHY SENT APPLIED DURABLE LAG (ENTRIES) LAG (MS) FLUSH LAG (MS) LAST HEARD ADDRESS LAST ERROR" ||
		strings.Join(strings.Fields(lines[2]), " ") != "r1 streaming true 42 40 37 2 3 8 -" {
		t.Fatalf("status table:\n%s", out.String())
	}
}
