package replication

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/sutra/sutra-operator/internal/pb/adminpb"
	"github.com/sutra/sutra-operator/internal/pb/replicationpb"
	"github.com/sutra/sutra-operator/internal/pb/storagepb"
)

var serverBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sutra-e2e-bin")
	if err != nil {
		panic(err)
	}
	serverBin = filepath.Join(dir, "storage-server")
	build := []string{"build", "-o", serverBin}
	if os.Getenv("SUTRA_TEST_RACE") != "" { // the nodes under the race detector
		build = append(build, "-race")
	}
	out, err := exec.Command("go", append(build, "github.com/sutra/sutra-operator/cmd/storage-server")...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build storage-server: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

// node is one storage-server process.
type node struct {
	t      *testing.T
	name   string
	addr   string
	dir    string
	base   []string // arguments every start of this node gets
	args   []string
	cmd    *exec.Cmd
	log    *os.File
	conn   *grpc.ClientConn
	store  storagepb.StorageServiceClient
	repl   replicationpb.ReplicationServiceClient
	admin  adminpb.AdminServiceClient
	exited chan struct{}
	creds  credentials.TransportCredentials // how the test dials the node; nil: plaintext
}

func startLeader(t *testing.T, name string, extra ...string) *node {
	return startNode(t, name, append([]string{"--role", "leader"}, extra...)...)
}

func startReplica(t *testing.T, name, leader string, extra ...string) *node {
	return startNode(t, name, append([]string{"--role", "replica", "--leader", leader}, extra...)...)
}

func startNode(t *testing.T, name string, args ...string) *node {
	t.Helper()
	return startNodeDialed(t, name, nil, nil, args...)
}

// startNodeDialed starts a node that every start gets security (TLS
// flags; none: --insecure), and that the test reaches with creds.
func startNodeDialed(t *testing.T, name string, creds credentials.TransportCredentials, security []string, args ...string) *node {
	t.Helper()
	n := &node{t: t, name: name, addr: freeAddr(t), dir: filepath.Join(t.TempDir(), name), creds: creds}
	n.base = []string{"--listen", n.addr, "--data-dir", n.dir, "--node-id", name, "--metrics-addr", "",
		"--cluster-id", "e2e", "--heartbeat-interval", "200ms"}
	if len(security) == 0 {
		security = []string{"--insecure"}
	}
	n.base = append(n.base, security...)
	n.args = append(append([]string(nil), n.base...), args...)
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *node) start() {
	t := n.t
	t.Helper()
	var err error
	n.log, err = os.OpenFile(filepath.Join(filepath.Dir(n.dir), n.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	n.cmd = exec.Command(serverBin, n.args...)
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.exited = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(n.cmd, n.exited)
	if n.conn == nil {
		creds := n.creds
		if creds == nil {
			creds = insecure.NewCredentials()
		}
		n.conn, err = grpc.NewClient(n.addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		n.store = storagepb.NewStorageServiceClient(n.conn)
		n.repl = replicationpb.NewReplicationServiceClient(n.conn)
		n.admin = adminpb.NewAdminServiceClient(n.conn)
	}
	eventually(t, 20*time.Second, n.name+" serving", func() error {
		select {
		case <-n.exited:
			t.Fatalf("%s exited at start:\n%s", n.name, n.logs())
		default:
		}
		_, err := n.stats()
		return err
	})
}

func (n *node) logs() string {
	b, _ := os.ReadFile(n.log.Name())
	return string(b)
}

// restartAs starts a stopped node again with other role arguments.
func (n *node) restartAs(args ...string) {
	n.args = append(append([]string(nil), n.base...), args...)
	n.start()
}

// signal sends sig to the node's process.
func (n *node) signal(sig syscall.Signal) {
	if err := n.cmd.Process.Signal(sig); err != nil {
		n.t.Fatalf("signal %s: %v", n.name, err)
	}
}

// kill sends SIGKILL: no shutdown, no flush.
func (n *node) kill() {
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
}

// stop sends SIGTERM and waits.
func (n *node) stop() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	select {
	case <-n.exited:
	default:
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.exited:
		case <-time.After(15 * time.Second):
			n.kill()
		}
	}
	if n.t.Failed() {
		n.t.Logf("--- log of %s ---\n%s", n.name, tail(n.logs(), 40))
	}
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

func (n *node) stats() (*storagepb.Stats, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return n.store.GetStats(ctx, &storagepb.GetStatsRequest{})
}

func (n *node) status() *replicationpb.ReplicationStatusResponse {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := n.repl.GetReplicationStatus(ctx, &replicationpb.ReplicationStatusRequest{})
	if err != nil {
		n.t.Fatalf("status of %s: %v", n.name, err)
	}
	return st
}

func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s: %v", what, err)
}

func conceptID(run, i uint64) []byte {
	id := make([]byte, 16)
	binary.BigEndian.PutUint64(id[:8], run)
	binary.BigEndian.PutUint64(id[8:], i)
	return id
}

// writer writes concepts to the leader from several goroutines and
// remembers which writes were acknowledged.
type writer struct {
	mu    sync.Mutex
	acked map[uint64]bool
	seqs  map[uint64]uint64 // concept number -> sequence the leader acknowledged it at
	next  uint64
	run   uint64
	pad   []byte // appended to every concept's content
}

func newWriter(run uint64) *writer {
	return &writer{acked: map[uint64]bool{}, seqs: map[uint64]uint64{}, run: run}
}

// write sends n concepts with the given concurrency and returns the number
// acknowledged.
func (w *writer) write(leader *node, n, workers int) int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	w.mu.Lock()
	target := w.next + uint64(n)
	w.mu.Unlock()
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i, more := w.claim(target)
				if !more {
					return
				}
				if w.put(leader, i) {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return ok
}

// claim hands out the next concept number, up to limit (0: no limit).
func (w *writer) claim(limit uint64) (uint64, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if limit > 0 && w.next >= limit {
		return 0, false
	}
	w.next++
	return w.next, true
}

func (w *writer) put(leader *node, i uint64) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := leader.store.WriteConcept(ctx, &storagepb.WriteConceptRequest{Concept: w.concept(i)})
	return w.record(i, resp.GetSequence(), err)
}

// concept is concept number i of the run.
func (w *writer) concept(i uint64) *storagepb.Concept {
	return &storagepb.Concept{
		Id: conceptID(w.run, i), Content: fmt.Appendf(nil, "concept %d of run %d, with some padding to look real%s", i, w.run, w.pad),
		Strength: 1, Confidence: 0.5}
}

// record enters concept i in the ledger when its write was acknowledged
// (err nil) at sequence seq, and reports whether it was.
func (w *writer) record(i, seq uint64, err error) bool {
	if err != nil {
		return false
	}
	w.mu.Lock()
	w.acked[i] = true
	w.seqs[i] = seq
	w.mu.Unlock()
	return true
}

// background writes until stop is closed; returns a channel closed when done.
func (w *writer) background(leader *node, workers int, stop <-chan struct{}) <-chan struct{} {
	return untilStopped(workers, stop, 20*time.Millisecond, func() bool {
		i, _ := w.claim(0)
		return w.put(leader, i)
	})
}

// untilStopped runs write from workers goroutines until stop is closed,
// pausing for pause after a failed write; the returned channel is closed
// once every goroutine has returned.
func untilStopped(workers int, stop <-chan struct{}, pause time.Duration, write func() bool) <-chan struct{} {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if !write() {
					time.Sleep(pause)
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	return done
}

// checkAcked asserts every acknowledged concept is readable on n.
func (w *writer) checkAcked(t *testing.T, n *node) {
	t.Helper()
	if missing, total := w.missing(t, n); len(missing) > 0 {
		t.Fatalf("%s lost %d of %d acknowledged writes", n.name, len(missing), total)
	}
}

// lostOn counts the acknowledged concepts missing on each of nodes, logs
// what each holds, and returns the total missing.
func (w *writer) lostOn(t *testing.T, nodes ...*node) int {
	t.Helper()
	lost := 0
	for _, n := range nodes {
		m, total := w.missing(t, n)
		lost += len(m)
		t.Logf("%s: %d of %d acknowledged writes present", n.name, total-len(m), total)
	}
	return lost
}

// missing returns the acknowledged concepts n cannot read, and how many
// were acknowledged.
func (w *writer) missing(t *testing.T, n *node) ([]uint64, int) {
	t.Helper()
	w.mu.Lock()
	ids := make([]uint64, 0, len(w.acked))
	for i := range w.acked {
		ids = append(ids, i)
	}
	w.mu.Unlock()
	var (
		mu      sync.Mutex
		missing []uint64
		failed  error
		wg      sync.WaitGroup
	)
	const readers = 8
	for g := 0; g < readers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k := g; k < len(ids); k += readers {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, err := n.store.GetConcept(ctx, &storagepb.GetConceptRequest{Id: conceptID(w.run, ids[k])})
				cancel()
				mu.Lock()
				if status.Code(err) == codes.NotFound {
					missing = append(missing, ids[k])
				} else if err != nil {
					failed = err
				}
				mu.Unlock()
			}
		}(g)
	}
	wg.Wait()
	if failed != nil {
		t.Fatalf("read from %s: %v", n.name, failed)
	}
	return missing, len(ids)
}

// forget drops concepts from the ledger (writes the test knows were lost).
func (w *writer) forget(ids []uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, i := range ids {
		delete(w.acked, i)
		delete(w.seqs, i)
	}
}

// ackedAfter counts acknowledged writes with a sequence above seq.
func (w *writer) ackedAfter(seq uint64) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, s := range w.seqs {
		if s > seq {
			n++
		}
	}
	return n
}

// converged waits until every replica has the leader's applied sequence and
// state digest.
func converged(t *testing.T, leader *node, replicas ...*node) {
	t.Helper()
	eventually(t, 60*time.Second, "replicas to converge", func() error {
		ls, err := leader.stats()
		if err != nil {
			return err
		}
		for _, r := range replicas {
			rs, err := r.stats()
			if err != nil {
				return err
			}
			if rs.GetAppliedSequence() > ls.GetAppliedSequence() {
				t.Fatalf("%s applied %d, beyond the leader's %d", r.name, rs.GetAppliedSequence(), ls.GetAppliedSequence())
			}
			if rs.GetAppliedSequence() != ls.GetAppliedSequence() || rs.GetDigest() != ls.GetDigest() {
				return fmt.Errorf("%s at %d (digest %.8s), leader at %d (digest %.8s)", r.name, rs.GetAppliedSequence(),
					rs.GetDigest(), ls.GetAppliedSequence(), ls.GetDigest())
			}
		}
		return nil
	})
}
