package sutractl

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestLedgerAcrossASwitchover: writes go on while the leader is fenced and
// another node promoted; every acknowledged write is on every node and
// the pause is reported.
func TestLedgerAcrossASwitchover(t *testing.T) {
	a := startNode(t, "--role", "leader", "--node-id", "a")
	b := startNode(t, "--role", "replica", "--leader", a, "--node-id", "b")
	c := startNode(t, "--role", "replica", "--leader", a, "--node-id", "c")
	all := strings.Join([]string{a, b, c}, ",")
	type outcome struct {
		out string
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		var out, errOut bytes.Buffer
		err := Run(context.Background(), []string{"ledger", "--addr", all, "--duration", "3s", "--connections", "2", "--json", "--settle", "10s"}, &out, &errOut)
		done <- outcome{out.String() + errOut.String(), err}
	}()
	time.Sleep(time.Second)
	run(t, "fence", "--addr", a)
	run(t, "promote", "--addr", strings.Join([]string{b, a, c}, ","))
	got := <-done
	if got.err != nil {
		t.Fatalf("ledger: %v\n%s", got.err, got.out)
	}
	var res LedgerResult
	if err := json.Unmarshal([]byte(got.out), &res); err != nil {
		t.Fatalf("%v: %s", err, got.out)
	}
	t.Logf("ledger: %d acknowledged, %d errors, longest pause %.0fms, lost %v", res.Acked, res.Errors, res.LongestGapMs, res.Lost)
	if res.Acked < 100 || len(res.Lost) != 3 || !res.Converged {
		t.Fatalf("ledger result: %+v", res)
	}
	for node, n := range res.Lost {
		if n != 0 {
			t.Errorf("%s lost %d", node, n)
		}
	}
}

// TestLedgerCountsWhatANodeLacks: a node that never replicated lacks every
// acknowledged write, and the command fails saying so.
func TestLedgerCountsWhatANodeLacks(t *testing.T) {
	a := startNode(t, "--role", "leader", "--node-id", "a")
	other := startNode(t, "--role", "leader", "--node-id", "other", "--cluster-id", "elsewhere")
	var out, errOut bytes.Buffer
	err := Run(context.Background(), []string{"ledger", "--addr", a, "--check", a + "," + other, "--duration", "500ms", "--settle", "1s"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), other+" lacks") {
		t.Fatalf("ledger err = %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), a+": 0 lost") {
		t.Fatalf("ledger printed:\n%s", out.String())
	}
}
