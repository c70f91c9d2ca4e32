package sutractl

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sutra/sutra-operator/internal/node"
)

// startNode runs a storage node in process on a free port and returns its
// address.
func startNode(t *testing.T, args ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	cfg, err := node.ParseConfig(append([]string{"--listen", "127.0.0.1:0", "--metrics-addr", "", "--data-dir", dir,
		"--heartbeat-interval", "100ms"}, args...), func(string) string { return "" })
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

	res, err := RunBench(context.Background(), BenchConfig{Leader: replica + "," + leader, Replicas: []string{replica}, Rate: 400,
		Duration: 1500 * time.Millisecond, Workers: 8, Conns: 2, Batch: 1, Size: 100, MarkerInterval: 20 * time.Millisecond,
		Settle: 20 * time.Second, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if res.Writes < 300 || res.Errors != 0 || !res.Converged || res.Visibility[replica].N == 0 {
		t.Fatalf("bench result %+v", res)
	}
	if res.Leader != leader || res.Digests[leader] != res.Digests[replica] || res.RSS[leader] == 0 {
		t.Fatalf("digests %v rss %v", res.Digests, res.RSS)
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
	run(t, "put", "--addr", all, "--id", "back", "--content", "three")
	waitGet(b, "back")
	waitGet(c, "back")
	for _, id := range []string{"before", "after", "back"} {
		waitGet(a, id)
	}
}
