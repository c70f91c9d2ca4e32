package replication

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A second storage-server on a running node's data directory exits at once
// with one line naming the holder, and the running node keeps serving with
// every acknowledged write.
func TestSecondProcessOnDataDirRefused(t *testing.T) {
	leader := startLeader(t, "leader")
	r1 := startReplica(t, "r1", leader.addr)
	w := newWriter(40)
	stop := make(chan struct{})
	done := w.background(leader, 4, stop)

	cmd := exec.Command(serverBin, "--role", "leader", "--listen", freeAddr(t), "--data-dir", leader.dir,
		"--node-id", "intruder", "--metrics-addr", "", "--cluster-id", "e2e", "--insecure")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	exit, ok := err.(*exec.ExitError)
	if !ok || exit.ExitCode() == 0 {
		t.Fatalf("second process on %s: err %v, want a non-zero exit; output:\n%s", leader.dir, err, out)
	}
	want := fmt.Sprintf("storage-server: data directory %s is in use by process %d (lock %s)",
		leader.dir, leader.cmd.Process.Pid, filepath.Join(leader.dir, "LOCK"))
	if !strings.Contains(string(out), want+"\n") {
		t.Fatalf("second process printed:\n%s\nwant the line %q", out, want)
	}
	t.Logf("second process exited %d after %v: %s", exit.ExitCode(), time.Since(start).Round(time.Millisecond), want)

	time.Sleep(500 * time.Millisecond) // the leader keeps taking writes
	close(stop)
	<-done
	if n := w.write(leader, 200, 4); n != 200 {
		t.Fatalf("leader took %d of 200 writes after the refused start", n)
	}
	converged(t, leader, r1)
	w.checkAcked(t, leader)
	w.checkAcked(t, r1)
}
