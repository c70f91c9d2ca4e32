package replication

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestLeaderRestartsPastDamagedNewestSnapshot checkpoints a leader several
// times, damages its newest snapshot while it is stopped, and restarts it:
// it must start from the older snapshot and the log, name the damaged file,
// and still hold every acknowledged write.
func TestLeaderRestartsPastDamagedNewestSnapshot(t *testing.T) {
	leader := startLeader(t, "leader", "--wal-segment-bytes", "16384", "--checkpoint-bytes", "65536")
	snapDir := filepath.Join(leader.dir, "snapshots")
	w := newWriter(9)
	for round := 0; ; round++ {
		if n := w.write(leader, 1000, 8); n != 1000 {
			t.Fatalf("only %d of 1000 writes acknowledged", n)
		}
		// Let the checkpointer (once a second) catch up with the writes.
		time.Sleep(1500 * time.Millisecond)
		checkpoints := strings.Count(leader.logs(), `msg="engine: checkpoint"`)
		if checkpoints >= 3 && leader.status().GetFirstRetainedSequence() > 1 {
			break
		}
		if round == 10 {
			t.Fatalf("%d checkpoints after %d writes, want 3", checkpoints, len(w.acked))
		}
	}
	leader.stop()

	snaps := snapshotFiles(t, snapDir)
	newest := snaps[len(snaps)-1]
	b, err := os.ReadFile(newest)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(newest, b, 0o640); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d writes acknowledged; snapshots %v; damaged %s", len(w.acked), snaps, filepath.Base(newest))

	before := len(leader.logs())
	leader.start()
	restartLog := leader.logs()[before:]
	var warn string
	for _, l := range strings.Split(restartLog, "\n") {
		if strings.Contains(l, "skipping damaged snapshot") {
			warn = l
		}
	}
	if !strings.Contains(warn, newest) {
		t.Errorf("restart log does not name the damaged snapshot %s:\n%s", newest, tail(restartLog, 20))
	}
	if _, err := os.Stat(newest + ".damaged"); err != nil {
		t.Errorf("damaged snapshot not moved aside: %v", err)
	}
	missing, total := w.missing(t, leader)
	t.Logf("after the restart: %d of %d acknowledged writes missing", len(missing), total)
	if len(missing) > 0 {
		t.Fatalf("%d of %d acknowledged writes missing after the restart, first: %v", len(missing), total, missing[:min(len(missing), 20)])
	}
	// Writes continue.
	if n := w.write(leader, 100, 4); n != 100 {
		t.Fatalf("only %d of 100 writes acknowledged after the restart", n)
	}
}

// snapshotFiles returns the snapshot files in dir, oldest first.
func snapshotFiles(t *testing.T, dir string) []string {
	t.Helper()
	snaps, err := filepath.Glob(filepath.Join(dir, "*.snap"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(snaps) // names are zero-padded sequences
	return snaps
}
