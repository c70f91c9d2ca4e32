package replication

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sutra/sutra-operator/internal/replication"
)

// Two replica processes started with the same --node-id: the leader keeps
// streaming to the first and refuses the second, and both the refused
// replica and the leader's table say why. The first keeps every
// acknowledged write, and a kill -9 and restart of it still reconnects at once.
func TestDuplicateNodeIDRefused(t *testing.T) {
	leader := startLeader(t, "leader")
	r1 := startReplica(t, "r1", leader.addr)
	w := newWriter(43)
	if n := w.write(leader, 300, 8); n != 300 {
		t.Fatalf("only %d of 300 writes acknowledged", n)
	}
	converged(t, leader, r1)

	dup := startReplica(t, "dup", leader.addr, "--node-id", "r1")
	want := fmt.Sprintf("replica id r1 is already streaming from %s; give each node its own SUTRA_NODE_ID", r1.addr)
	eventually(t, 10*time.Second, "the duplicate to be refused", func() error {
		st := dup.status().GetReplicas()[0]
		if !strings.Contains(st.GetLastError(), "code = FailedPrecondition desc = "+want) {
			return fmt.Errorf("duplicate's last error %q", st.GetLastError())
		}
		return nil
	})
	t.Logf("duplicate: %s", dup.status().GetReplicas()[0].GetLastError())
	stop := make(chan struct{})
	done := w.background(leader, 4, stop)
	time.Sleep(2 * time.Second)
	close(stop)
	<-done
	rows := leader.status().GetReplicas()
	if len(rows) != 1 || rows[0].GetId() != "r1" || rows[0].GetAddress() != r1.addr || rows[0].GetLastError() != want ||
		rows[0].GetState() != string(replication.StateStreaming) {
		t.Fatalf("leader's table: %v", rows)
	}
	t.Logf("leader's row: state=%s address=%s last_error=%q", rows[0].GetState(), rows[0].GetAddress(), rows[0].GetLastError())
	converged(t, leader, r1)
	w.checkAcked(t, r1)
	if st := dup.status(); st.GetAppliedSequence() != 0 || st.GetReplicas()[0].GetHealthy() {
		t.Fatalf("the duplicate applied %d, healthy %v", st.GetAppliedSequence(), st.GetReplicas()[0].GetHealthy())
	}

	// The real r1 restarted after kill -9 is a new incarnation at the same
	// address: it takes over from its old stream at once. (The duplicate
	// goes first, or it could take the id while r1 is down.)
	dup.stop()
	r1.kill()
	r1.restartAs("--role", "replica", "--leader", leader.addr)
	start := time.Now()
	eventually(t, 10*time.Second, "r1 streaming again", func() error {
		if st := r1.status().GetReplicas()[0]; !st.GetHealthy() {
			return fmt.Errorf("r1: %v", st)
		}
		return nil
	})
	t.Logf("r1 streaming again %v after its restart", time.Since(start).Round(time.Millisecond))
	w.write(leader, 200, 8)
	converged(t, leader, r1)
	w.checkAcked(t, r1)
}
