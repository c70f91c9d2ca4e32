package replication

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sutra/sutra-operator/internal/pb/storagepb"
	"github.com/sutra/sutra-operator/internal/wal"
)

// Durability of writes across kill -9 and lost log files.

const (
	batchOps     = 500
	batchContent = 400 // bytes per concept: a batch is about 230 KB, a quarter of a segment
)

// batchLedger remembers every batch sent to the leader: whether it was
// acknowledged and whether it was ever seen on the leader.
type batchLedger struct {
	mu      sync.Mutex
	run     uint64
	acked   []bool
	seen    []bool // present at some check
	now     []bool // present at the last check
	partial int
}

func (l *batchLedger) claim() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acked = append(l.acked, false)
	l.seen = append(l.seen, false)
	l.now = append(l.now, false)
	return uint64(len(l.acked) - 1)
}

func (l *batchLedger) id(batch uint64, op int) []byte {
	return conceptID(l.run, batch*batchOps+uint64(op))
}

// background sends batches to n from workers goroutines until stop is
// closed; the returned channel is closed once they have all returned.
func (l *batchLedger) background(n *node, workers int, stop <-chan struct{}) <-chan struct{} {
	return untilStopped(workers, stop, 5*time.Millisecond, func() bool { return l.send(n, l.claim()) == nil })
}

// send writes batch b as one BatchWrite and records the acknowledgement.
func (l *batchLedger) send(n *node, b uint64) error {
	ops := make([]*storagepb.WriteOp, batchOps)
	for i := range ops {
		content := fmt.Appendf(nil, "batch %d op %d ", b, i)
		content = append(content, strings.Repeat("p", batchContent-len(content))...)
		ops[i] = &storagepb.WriteOp{Op: &storagepb.WriteOp_WriteConcept{WriteConcept: &storagepb.Concept{
			Id: l.id(b, i), Content: content, Strength: 1, Confidence: 0.5}}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := n.store.BatchWrite(ctx, &storagepb.BatchWriteRequest{Ops: ops}); err != nil {
		return err
	}
	l.mu.Lock()
	l.acked[b] = true
	l.mu.Unlock()
	return nil
}

// present reports whether concept id is on n.
func present(t *testing.T, n *node, id []byte) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := n.store.GetConcept(ctx, &storagepb.GetConceptRequest{Id: id})
	if status.Code(err) == codes.NotFound {
		return false
	}
	if err != nil {
		t.Fatalf("get concept from %s: %v", n.name, err)
	}
	return true
}

// check verifies every batch on n: wholly present or wholly absent, present
// if acknowledged or seen before.
func (l *batchLedger) check(t *testing.T, n *node) {
	t.Helper()
	st, err := n.stats()
	if err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var whole uint64
	probe := []int{0, batchOps / 4, batchOps / 2, 3 * batchOps / 4, batchOps - 1}
	for b := range l.acked {
		got := make([]bool, len(probe))
		for i, op := range probe {
			got[i] = present(t, n, l.id(uint64(b), op))
		}
		all, none := true, true
		for _, g := range got {
			all, none = all && g, none && !g
		}
		l.now[b] = all
		switch {
		case all:
			whole++
			l.seen[b] = true
		case !none:
			l.partial++
			t.Errorf("batch %d (acknowledged %v) is partial on %s: ops %v present %v", b, l.acked[b], n.name, probe, got)
		case l.acked[b]:
			t.Errorf("acknowledged batch %d is missing on %s", b, n.name)
		case l.seen[b]:
			t.Errorf("batch %d was on %s and is gone", b, n.name)
		}
	}
	// Every concept belongs to one batch: a count that is not whole
	// batches is a partial batch the probes missed.
	if st.GetConceptCount() != whole*batchOps {
		l.partial++
		t.Errorf("%s holds %d concepts, want %d whole batches of %d", n.name, st.GetConceptCount(), whole, batchOps)
	}
}

// TestLeaderKillsKeepBatchesWhole kill -9s a leader again and again while
// clients send 500-op batches that span segment rolls (1 MiB segments),
// and checks after every restart that each batch is wholly present or
// wholly absent and every acknowledged batch is present.
func TestLeaderKillsKeepBatchesWhole(t *testing.T) {
	const kills, writers = 11, 2
	leader := startLeader(t, "leader", "--wal-segment-bytes", "1048576")
	ledger := &batchLedger{run: 77}
	rng := rand.New(rand.NewPCG(7, 11))
	start := time.Now()
	for k := 0; k < kills; k++ {
		stop := make(chan struct{})
		done := ledger.background(leader, writers, stop)
		time.Sleep(time.Duration(150+rng.IntN(250)) * time.Millisecond)
		close(stop)
		leader.kill()
		<-done
		leader.start()
		ledger.check(t, leader)
		if t.Failed() {
			break
		}
	}
	// The ledger: what was acknowledged, and what is on the leader now.
	ledger.mu.Lock()
	sent, acked, ackedLost, unackedPresent := len(ledger.acked), 0, 0, 0
	for b, a := range ledger.acked {
		switch {
		case a && !ledger.now[b]:
			ackedLost += batchOps
		case a:
			acked++
		case ledger.now[b]:
			unackedPresent++
		}
	}
	partial := ledger.partial
	ledger.mu.Unlock()
	cuts := strings.Count(leader.logs(), "cut an incomplete write")
	t.Logf("%d kills in %v: %d batches sent, %d acknowledged; acknowledged ops lost: %d; partial batches: %d; "+
		"unacknowledged batches (in flight at a kill, or sent while down) present: %d, absent: %d; restarts that cut an incomplete write: %d",
		kills, time.Since(start).Round(time.Millisecond), sent, acked, ackedLost, partial,
		unackedPresent, sent-acked-ackedLost/batchOps-unackedPresent, cuts)
	if ackedLost > 0 || partial > 0 {
		t.Fatalf("lost %d acknowledged ops, %d partial batches", ackedLost, partial)
	}
}

// A leader whose log lost acknowledged records refuses to start, naming
// the loss; with --accept-data-loss it starts, logs the count, which
// equals the acknowledged writes that are gone, and begins a new epoch.
// The damage: the newest segment deleted, its records' tail zeroed, its
// last record damaged.
func TestLeaderRefusesLostRecords(t *testing.T) {
	damages := map[string]func(t *testing.T, newest string){
		"newest segment deleted": func(t *testing.T, newest string) {
			if err := os.Remove(newest); err != nil {
				t.Fatal(err)
			}
		},
		"tail zeroed": func(t *testing.T, newest string) {
			offs := recordOffsets(t, newest)
			rewrite(t, newest, func(b []byte) { clear(b[offs[len(offs)/2]:offs[len(offs)-1]]) })
		},
		"last record damaged": func(t *testing.T, newest string) {
			offs := recordOffsets(t, newest)
			rewrite(t, newest, func(b []byte) { b[offs[len(offs)-2]+wal.HeaderSize+3] ^= 0xff })
		},
	}
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) { lostRecordsCase(t, damage) })
	}
}

// recordOffsets returns the offset of every record in a segment file and,
// last, the offset where its records end.
func recordOffsets(t *testing.T, path string) []int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int
	off := wal.SegmentHeaderSize
	for {
		_, n, err := wal.DecodeRecord(b[off:])
		if err != nil {
			break
		}
		offs = append(offs, off)
		off += n
	}
	if len(offs) < 2 {
		t.Fatalf("%s holds %d records", path, len(offs))
	}
	return append(offs, off)
}

func rewrite(t *testing.T, path string, f func([]byte)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f(b)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func lostRecordsCase(t *testing.T, damage func(t *testing.T, newest string)) {
	leader := startLeader(t, "leader", "--wal-segment-bytes", "1048576")
	ledger := &batchLedger{run: 78}
	for i := 0; i < 12; i++ { // ~2.8 MB: three segments
		if err := ledger.send(leader, ledger.claim()); err != nil {
			t.Fatal(err)
		}
	}
	leader.stop()
	segs, err := filepath.Glob(filepath.Join(leader.dir, "wal", "*.wal"))
	if err != nil || len(segs) < 2 {
		t.Fatalf("want at least 2 segments, got %v (%v)", segs, err)
	}
	newest := segs[len(segs)-1]
	damage(t, newest)

	code, out := leader.runToExit(t)
	if code == 0 {
		t.Fatalf("leader started with lost records:\n%s", out)
	}
	for _, want := range []string{"durable records lost", filepath.Base(newest), "missing", "--accept-data-loss"} {
		if !strings.Contains(out, want) {
			t.Fatalf("refusal (exit %d) does not say %q:\n%s", code, want, out)
		}
	}
	t.Logf("refused with exit status %d: %s", code, strings.TrimSpace(lastLine(out)))

	leader.args = append(leader.args, "--accept-data-loss")
	leader.start()
	m := regexp.MustCompile(`started with durable records lost.* lost=(\d+)`).FindStringSubmatch(leader.logs())
	if m == nil {
		t.Fatalf("no loss logged at start:\n%s", tail(leader.logs(), 20))
	}
	if !strings.Contains(leader.logs(), "leader begins a new epoch") {
		t.Fatalf("a leader that accepted a loss kept its epoch:\n%s", tail(leader.logs(), 20))
	}
	logged, _ := strconv.Atoi(m[1])
	var gone int
	ledger.mu.Lock()
	for b := range ledger.acked {
		for op := 0; op < batchOps; op++ {
			if !present(t, leader, ledger.id(uint64(b), op)) {
				gone++
			}
		}
	}
	ledger.mu.Unlock()
	t.Logf("%d acknowledged writes gone, %d logged as lost", gone, logged)
	if gone == 0 || logged != gone {
		t.Fatalf("logged %d records as lost, but %d acknowledged writes are gone", logged, gone)
	}

	// The mark was lowered: a plain restart is clean.
	leader.stop()
	leader.args = leader.args[:len(leader.args)-1]
	leader.start()
}

// runToExit runs the node's process expecting it to exit on its own and
// returns its exit status and output. A process that starts serving
// instead is killed and fails the test.
func (n *node) runToExit(t *testing.T) (int, string) {
	t.Helper()
	var out strings.Builder
	cmd := exec.Command(serverBin, n.args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case err := <-exited:
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				return exit.ExitCode(), out.String()
			}
			if err != nil {
				t.Fatalf("run %s: %v", n.name, err)
			}
			return 0, out.String()
		case <-deadline:
			_ = cmd.Process.Kill()
			<-exited
			t.Fatalf("%s neither exited nor served in 30s", n.name)
		case <-time.After(50 * time.Millisecond):
			if _, err := n.stats(); err == nil {
				_ = cmd.Process.Kill()
				<-exited
				t.Fatalf("%s started and serves instead of refusing its log:\n%s", n.name, tail(out.String(), 10))
			}
		}
	}
}

func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[len(l)-1]
}

// A write is visible whole or not at all: readers on the leader, and on a
// replica although the leader's frames split writes anywhere, never see
// the first operation of a write without its last, also across kill -9 of
// the replica mid-write; afterwards every acknowledged write is on it.
func TestReplicaShowsWritesWhole(t *testing.T) {
	leader := startLeader(t, "leader")
	r1 := startReplica(t, "r1", leader.addr)
	ledger := &batchLedger{run: 79}
	stop := make(chan struct{})
	done := ledger.background(leader, 2, stop)
	// visible reads one operation on n; ok false when n could not answer.
	visible := func(n *node, id []byte) (found, ok bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := n.store.GetConcept(ctx, &storagepb.GetConceptRequest{Id: id})
		if status.Code(err) == codes.NotFound {
			return false, true
		}
		return err == nil, err == nil
	}
	var checks, partial int
	check := func(on *node) {
		ledger.mu.Lock()
		n := uint64(len(ledger.acked))
		ledger.mu.Unlock()
		if n == 0 {
			return
		}
		b := n - 1 - uint64(rand.IntN(int(min(n, 4)))) // the newest writes: the ones in flight
		// First then last: if the first is there, a whole write must
		// show its last too.
		if first, ok := visible(on, ledger.id(b, 0)); ok && first {
			if last, ok := visible(on, ledger.id(b, batchOps-1)); ok {
				checks++
				if !last {
					partial++
				}
			}
		}
	}
	deadline := time.Now().Add(6 * time.Second)
	kills := 0
	for time.Now().Before(deadline) {
		check(r1)
		check(leader)
		if time.Until(deadline) < time.Duration(3-kills)*1500*time.Millisecond && kills < 3 {
			r1.kill()
			r1.start()
			kills++
		}
	}
	close(stop)
	<-done
	converged(t, leader, r1)
	var acked, missing int
	ledger.mu.Lock()
	for b, ok := range ledger.acked {
		if !ok {
			continue
		}
		acked++
		for _, op := range []int{0, batchOps / 2, batchOps - 1} {
			if !present(t, r1, ledger.id(uint64(b), op)) {
				missing++
			}
		}
	}
	ledger.mu.Unlock()
	t.Logf("%d reads of a write's first and last operation on the leader and the replica, %d saw it partly; %d kills of the replica; %d acknowledged writes, %d operations missing",
		checks, partial, kills, acked, missing)
	if partial > 0 || missing > 0 {
		t.Fatalf("the replica showed %d writes partly and lacks %d acknowledged operations", partial, missing)
	}
	if checks == 0 {
		t.Fatal("no read saw a write: the test proved nothing")
	}
}
