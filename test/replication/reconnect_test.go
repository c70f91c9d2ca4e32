package replication

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sutra/sutra-operator/internal/replication"
)

// Replicas resume within about the documented 5s maximum backoff of a
// leader that was down for a while, whatever gRPC's own connection backoff
// would be by then. r2 names the leader by host name (localhost), which
// its reconnects resolve again.
func TestReplicasResumeWithinMaxBackoffAfterLongOutage(t *testing.T) {
	leader := startLeader(t, "leader")
	r1 := startReplica(t, "r1", leader.addr)
	port := leader.addr[strings.LastIndex(leader.addr, ":")+1:]
	r2 := startReplica(t, "r2", "localhost:"+port)
	w := newWriter(42)
	if n := w.write(leader, 300, 8); n != 300 {
		t.Fatalf("only %d of 300 writes acknowledged", n)
	}
	converged(t, leader, r1, r2)

	leader.stop()
	const down = 20 * time.Second
	time.Sleep(down)
	leader.restartAs("--role", "leader")
	serving := time.Now()

	var wg sync.WaitGroup
	resumed := make([]time.Duration, 2)
	for i, r := range []*node{r1, r2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(serving) < 20*time.Second {
				if st := r.status().GetReplicas()[0]; st.GetHealthy() && st.GetState() == string(replication.StateStreaming) {
					resumed[i] = time.Since(serving)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			resumed[i] = -1
		}()
	}
	wg.Wait()
	for i, r := range []*node{r1, r2} {
		t.Logf("%s resumed %v after the leader served again (down %v)", r.name, resumed[i].Round(time.Millisecond), down)
		if resumed[i] < 0 || resumed[i] > 6*time.Second {
			t.Errorf("%s resumed after %v, want within 6s", r.name, resumed[i].Round(time.Millisecond))
		}
	}
	if n := w.write(leader, 300, 8); n != 300 {
		t.Fatalf("only %d of 300 writes acknowledged after the restart", n)
	}
	converged(t, leader, r1, r2)
	for _, r := range []*node{r1, r2} {
		w.checkAcked(t, r)
	}
}
