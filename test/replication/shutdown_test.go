package replication

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sutra/sutra-operator/internal/replication"
)

// A leader with connected replicas exits on SIGTERM without waiting out
// --shutdown-grace: it ends the replication streams first, and the replicas
// log why and report themselves disconnected.
func TestLeaderShutdownEndsStreamsAtOnce(t *testing.T) {
	leader := startLeader(t, "leader") // --shutdown-grace defaults to 10s
	r1 := startReplica(t, "r1", leader.addr)
	r2 := startReplica(t, "r2", leader.addr)
	w := newWriter(41)
	if n := w.write(leader, 500, 8); n != 500 {
		t.Fatalf("only %d of 500 writes acknowledged", n)
	}
	converged(t, leader, r1, r2)
	for _, r := range []*node{r1, r2} {
		if st := r.status().GetReplicas()[0]; !st.GetHealthy() || st.GetState() != string(replication.StateStreaming) {
			t.Fatalf("%s before the shutdown: %v", r.name, st)
		}
	}

	start := time.Now()
	leader.signal(syscall.SIGTERM)
	select {
	case <-leader.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("leader still running 15s after SIGTERM")
	}
	took := time.Since(start)
	t.Logf("leader exited %v after SIGTERM (--shutdown-grace 10s)", took.Round(time.Millisecond))
	if took > 3*time.Second {
		t.Fatalf("leader took %v to exit: it waited for the replication streams", took)
	}
	want := "leader leader is shutting down"
	for _, r := range []*node{r1, r2} {
		eventually(t, 5*time.Second, r.name+" to report the stream ended", func() error {
			st := r.status().GetReplicas()[0]
			if st.GetHealthy() || st.GetState() != string(replication.StateDisconnected) {
				return fmt.Errorf("%s reports %v", r.name, st)
			}
			return nil
		})
		eventually(t, 5*time.Second, r.name+" to log why", func() error {
			for _, line := range strings.Split(r.logs(), "\n") {
				if strings.Contains(line, "stream to leader ended") && strings.Contains(line, "code = Unavailable desc = "+want) {
					t.Logf("%s: %s", r.name, line[strings.Index(line, "msg="):])
					return nil
				}
			}
			return fmt.Errorf("no line says %q", want)
		})
		w.checkAcked(t, r)
	}
}
