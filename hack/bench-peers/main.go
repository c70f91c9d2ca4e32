// Command bench-peers measures Sutra beside durable Redis on this machine,
// one system after the other, with the same load generator (sutractl
// bench, whose --system redis mode drives Redis through go-redis) and the
// same load shapes, and prints one table with the ratios. It is a
// benchmark: it prints and fails only when a system cannot be run.
//
// Each system runs as a primary and --replicas replicas on 127.0.0.1,
// started fresh in a temporary directory:
//
//   - Redis: every node with appendonly yes, appendfsync always (durable
//     at acknowledgement, as Sutra is), no RDB snapshots;
//   - Sutra: storage-server nodes with their defaults (fsync on), written
//     by unary gRPC calls, then through the Go client (package client:
//     one call per write, carried on WriteStream, as many writes in
//     flight as writers; replicas are polled through ReadStream), and
//     once more through the client with --sync-replicas 1 unless
//     --sync=false.
//
// Sutra's replicas run with GOMAXPROCS=--replica-procs (1 by default), its
// leader with --leader-procs (0: Go's default, one per CPU). A replica
// applies one stream, as a Redis replica does from one thread, and a pod
// with a CPU limit of one core gets the same from Go; four Go processes
// that each schedule onto every core of a shared machine spend CPU handing
// goroutines between threads that then queue for the same cores. The
// leader keeps every core: with one, unary calls from 64 writers lost 12-60%
// of their throughput. The last column ("client, default procs", unless
// --procs-reference=false) writes through the client once more with Go's
// default on every node, so that both are measured in the same run.
//
// The shapes, in this order on each fresh system after a second of
// unrecorded writes: open loop at 10,000
// writes/s (CPU seconds of every process and the primary's PSS are read
// from /proc after it), open loop at 1,000 writes/s, then closed loops of
// 1, 16 and 64 writers. A visibility marker is written every 20 ms and
// polled on every replica; its lag is the first replica read that sees it
// minus the primary's acknowledgement.
//
//	go run ./hack/bench-peers --bin bin          # make bench-peers
//	go run ./hack/bench-peers --bin bin --short  # every shape for 1-3 s
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sutra/sutra-operator/internal/sutractl"
)

type options struct {
	bin, redis   string
	replicas     int
	port         int
	short        bool
	sync         bool
	leaderProcs  int  // GOMAXPROCS of Sutra's leader; 0 leaves Go's default
	replicaProcs int  // and of each replica
	procsRef     bool // also run WriteStream with Go's default GOMAXPROCS
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin", "directory holding storage-server")
	flag.StringVar(&o.redis, "redis-server", "redis-server", "the redis-server binary")
	flag.IntVar(&o.replicas, "replicas", 3, "replicas per system")
	// Below Linux's ephemeral range (32768-60999), so that no client
	// connection of an earlier system holds a port a node needs.
	flag.IntVar(&o.port, "port", 27200, "first port; each system uses the next replicas+1")
	flag.BoolVar(&o.short, "short", false, "run every shape briefly (a smoke run: figures are not comparable)")
	flag.BoolVar(&o.sync, "sync", true, "also run Sutra with --sync-replicas 1, through the client")
	flag.IntVar(&o.leaderProcs, "leader-procs", 0, "GOMAXPROCS of Sutra's leader (0: Go's default, one per CPU)")
	flag.IntVar(&o.replicaProcs, "replica-procs", 1, "GOMAXPROCS of each Sutra replica (0: Go's default)")
	flag.BoolVar(&o.procsRef, "procs-reference", true, "also run Sutra through WriteStream with Go's default GOMAXPROCS on every node, when a -procs flag is set")
	flag.Parse()
	if err := run(context.Background(), o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench-peers:", err)
		os.Exit(1)
	}
}

// shape is one load of the run.
type shape struct {
	name     string
	rate     int
	writers  int
	duration time.Duration
}

func shapes(short bool) []shape {
	long, closed := 30*time.Second, 10*time.Second
	if short {
		long, closed = 3*time.Second, time.Second
	}
	return []shape{
		{"open 10000/s", 10000, 128, long},
		{"open 1000/s", 1000, 16, long},
		{"closed 1", 0, 1, closed},
		{"closed 16", 0, 16, closed},
		{"closed 64", 0, 64, closed},
	}
}

// measured is one system's figures, by shape name.
type measured struct {
	system  string
	results map[string]*sutractl.BenchResult
	// Of the 10,000/s shape: CPU seconds of the primary and of each
	// replica, and the primary's proportional set size.
	cpuPrimary  float64
	cpuReplicas []float64
	pssPrimary  uint64
	keys        int64
}

// cluster is a running primary and its replicas.
type cluster struct {
	primary  string
	replicas []string
	procs    []*exec.Cmd // primary first
	stream   bool        // Sutra: write through the Go client
	bench    func(context.Context, sutractl.BenchConfig) (*sutractl.BenchResult, error)
}

func (c *cluster) stop() {
	for _, p := range c.procs {
		_ = p.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range c.procs {
		_ = p.Wait()
	}
}

func run(ctx context.Context, o options, out io.Writer) error {
	dir, err := os.MkdirTemp("", "sutra-bench-peers-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	type system struct {
		name  string
		start func(dir string, port int) (*cluster, error)
	}
	sutra := func(name string, n node) system {
		return system{name, func(d string, p int) (*cluster, error) { return startSutra(ctx, o, d, p, n) }}
	}
	unary := node{leaderProcs: o.leaderProcs, replicaProcs: o.replicaProcs}
	stream := unary
	stream.stream = true
	sync := stream
	sync.sync = 1
	systems := []system{
		{"Redis fsync", func(d string, p int) (*cluster, error) { return startRedis(o, d, p) }},
		sutra("Sutra", unary),
		sutra("Sutra client", stream),
	}
	if o.sync {
		systems = append(systems, sutra("client sync=1", sync))
	}
	if (o.leaderProcs > 0 || o.replicaProcs > 0) && o.procsRef {
		systems = append(systems, sutra("client, default procs", node{stream: true}))
	}
	fmt.Fprintf(out, "bench-peers: %d replicas each, 100-byte values, markers every 20 ms, Sutra's GOMAXPROCS leader %s and replicas %s; %s\n",
		o.replicas, procsName(o.leaderProcs), procsName(o.replicaProcs), machine())
	var all []measured
	for i, s := range systems {
		d := filepath.Join(dir, fmt.Sprintf("system-%d", i))
		c, err := s.start(d, o.port+i*(o.replicas+1))
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		m, err := measure(ctx, s.name, c, shapes(o.short), out)
		c.stop()
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		all = append(all, m)
	}
	printTable(out, all)
	return nil
}

func measure(ctx context.Context, name string, c *cluster, shs []shape, out io.Writer) (measured, error) {
	m := measured{system: name, results: map[string]*sutractl.BenchResult{}}
	// A second of writes first, unrecorded: connection pools, the first
	// log file and the replicas' first batches are not what is compared.
	warm := sutractl.BenchConfig{Leader: c.primary, Replicas: c.replicas, Duration: time.Second, Workers: 16, Conns: 8,
		Batch: 1, Size: 100, MarkerInterval: 20 * time.Millisecond, Settle: time.Minute, Seed: uint64(time.Now().UnixNano())}
	if _, err := c.bench(ctx, warm); err != nil {
		return m, fmt.Errorf("warm-up: %w", err)
	}
	for i, sh := range shs {
		cfg := sutractl.BenchConfig{Leader: c.primary, Replicas: c.replicas, Rate: sh.rate, Duration: sh.duration,
			Workers: sh.writers, Conns: min(sh.writers, 8), Batch: 1, Size: 100, MarkerInterval: 20 * time.Millisecond,
			PollInterval: 200 * time.Microsecond, Settle: time.Minute, Seed: uint64(time.Now().UnixNano()), Stream: c.stream}
		before := cpuSeconds(c.procs)
		res, err := c.bench(ctx, cfg)
		if err != nil {
			return m, fmt.Errorf("%s: %w", sh.name, err)
		}
		if i == 0 {
			after := cpuSeconds(c.procs)
			m.cpuPrimary = after[0] - before[0]
			for k := 1; k < len(after); k++ {
				m.cpuReplicas = append(m.cpuReplicas, after[k]-before[k])
			}
			m.pssPrimary = pss(c.procs[0].Process.Pid)
			m.keys = res.Writes
		}
		m.results[sh.name] = res
		lag := visibility(res)
		fmt.Fprintf(out, "  %-12s %-13s %8.0f writes/s  p50 %.2f p99 %.2f ms  lag p50 %.2f p99 %.2f max %.2f ms (%d markers)  errors %d  converged %t\n",
			name, sh.name, res.WritesPerSec, res.Latency.P50, res.Latency.P99, lag.P50, lag.P99, lag.Max, lag.N, res.Errors, res.Converged)
	}
	return m, nil
}

// visibility is every replica's marker lags together.
func visibility(r *sutractl.BenchResult) sutractl.Percentiles { return r.VisibilityAll }

func printTable(out io.Writer, all []measured) {
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := "\t"
	for _, m := range all {
		header += m.system + "\t"
	}
	for _, m := range all[1:] {
		header += m.system + " / Redis\t"
	}
	fmt.Fprintln(tw, header)
	row := func(label string, cell func(m measured) string, ratio func(m measured) float64) {
		line := label + "\t"
		for _, m := range all {
			line += cell(m) + "\t"
		}
		for _, m := range all[1:] {
			if ratio == nil {
				line += "\t"
				continue
			}
			line += fmt.Sprintf("%.2fx\t", ratio(m)/ratio(all[0]))
		}
		fmt.Fprintln(tw, line)
	}
	wps := func(shape string) func(m measured) float64 {
		return func(m measured) float64 { return m.results[shape].WritesPerSec }
	}
	for _, w := range []string{"1", "16", "64"} {
		row("writes/s, "+w+" writers", func(m measured) string { return fmt.Sprintf("%.0f", wps("closed "+w)(m)) }, wps("closed "+w))
	}
	p := func(shape string, f func(sutractl.Percentiles) float64) func(m measured) float64 {
		return func(m measured) float64 { return f(m.results[shape].Latency) }
	}
	row("write p50 ms, 64 writers", func(m measured) string { return fmt.Sprintf("%.2f", p("closed 64", p50)(m)) }, p("closed 64", p50))
	row("write p99 ms, 64 writers", func(m measured) string { return fmt.Sprintf("%.2f", p("closed 64", p99)(m)) }, p("closed 64", p99))
	for _, sh := range []string{"open 1000/s", "open 10000/s"} {
		lag := func(f func(sutractl.Percentiles) float64) func(m measured) float64 {
			return func(m measured) float64 { return f(visibility(m.results[sh])) }
		}
		for _, q := range []struct {
			name string
			f    func(sutractl.Percentiles) float64
		}{{"p50", p50}, {"p99", p99}, {"max", pmax}} {
			row(fmt.Sprintf("lag %s ms at %s", q.name, strings.TrimPrefix(sh, "open ")),
				func(m measured) string { return fmt.Sprintf("%.2f", lag(q.f)(m)) }, lag(q.f))
		}
	}
	row("writes/s held at 10000/s", func(m measured) string { return fmt.Sprintf("%.0f", wps("open 10000/s")(m)) }, nil)
	row("CPU-s at 10000/s, primary", func(m measured) string { return fmt.Sprintf("%.1f", m.cpuPrimary) }, func(m measured) float64 { return m.cpuPrimary })
	replicaCPU := func(m measured) float64 {
		var sum float64
		for _, c := range m.cpuReplicas {
			sum += c
		}
		return sum / float64(max(1, len(m.cpuReplicas)))
	}
	row("CPU-s at 10000/s, each replica", func(m measured) string { return fmt.Sprintf("%.1f", replicaCPU(m)) }, replicaCPU)
	perWrite := func(m measured) float64 {
		total := m.cpuPrimary
		for _, c := range m.cpuReplicas {
			total += c
		}
		return total / float64(max(1, m.keys)) * 1e6
	}
	row("CPU us per write, all nodes", func(m measured) string { return fmt.Sprintf("%.1f", perWrite(m)) }, perWrite)
	pssMB := func(m measured) float64 { return float64(m.pssPrimary) / (1 << 20) }
	row("primary PSS MB after 10000/s", func(m measured) string { return fmt.Sprintf("%.0f (%dk keys)", pssMB(m), m.keys/1000) }, pssMB)
	_ = tw.Flush()
}

func p50(p sutractl.Percentiles) float64  { return p.P50 }
func p99(p sutractl.Percentiles) float64  { return p.P99 }
func pmax(p sutractl.Percentiles) float64 { return p.Max }

func startRedis(o options, dir string, port int) (*cluster, error) {
	c := &cluster{primary: fmt.Sprintf("127.0.0.1:%d", port), bench: sutractl.RunRedisBench}
	for i := 0; i <= o.replicas; i++ {
		d := filepath.Join(dir, strconv.Itoa(i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		args := []string{"--port", strconv.Itoa(port + i), "--bind", "127.0.0.1", "--dir", d, "--appendonly", "yes",
			"--appendfsync", "always", "--save", "", "--daemonize", "no", "--protected-mode", "no", "--logfile", filepath.Join(d, "redis.log")}
		if i > 0 {
			args = append(args, "--replicaof", "127.0.0.1", strconv.Itoa(port))
			c.replicas = append(c.replicas, fmt.Sprintf("127.0.0.1:%d", port+i))
		}
		p := command(o.redis, args...)
		if err := p.Start(); err != nil {
			c.stop()
			return nil, fmt.Errorf("start %s: %w (make bench-peers installs Debian's redis-server)", o.redis, err)
		}
		c.procs = append(c.procs, p)
		if i == 0 {
			// Replicas started before the primary listens do a full sync later.
			time.Sleep(300 * time.Millisecond)
		}
	}
	return c, nil
}

// node is how startSutra runs a Sutra cluster.
type node struct {
	sync         int  // --sync-replicas of the leader
	leaderProcs  int  // GOMAXPROCS of the leader; 0 leaves Go's default
	replicaProcs int  // and of each replica
	stream       bool // written through the Go client
}

func startSutra(ctx context.Context, o options, dir string, port int, n node) (*cluster, error) {
	c := &cluster{primary: fmt.Sprintf("127.0.0.1:%d", port), bench: sutractl.RunBench, stream: n.stream}
	for i := 1; i <= o.replicas; i++ {
		c.replicas = append(c.replicas, fmt.Sprintf("127.0.0.1:%d", port+i))
	}
	bin := filepath.Join(o.bin, "storage-server")
	for i := 0; i <= o.replicas; i++ {
		d := filepath.Join(dir, strconv.Itoa(i))
		args := []string{"--listen", fmt.Sprintf("127.0.0.1:%d", port+i), "--data-dir", d, "--cluster-id", "bench-peers", "--metrics-addr", "", "--insecure"}
		if i == 0 {
			args = append(args, "--role", "leader", "--node-id", "leader", "--replicas", strings.Join(c.replicas, ","),
				"--sync-replicas", strconv.Itoa(n.sync))
		} else {
			args = append(args, "--role", "replica", "--node-id", fmt.Sprintf("replica-%d", i), "--leader", c.primary)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			c.stop()
			return nil, err
		}
		p := command(bin, args...)
		p.Env = procsEnv(n.replicaProcs)
		if i == 0 {
			p.Env = procsEnv(n.leaderProcs)
		}
		log, err := os.Create(d + ".log")
		if err != nil {
			c.stop()
			return nil, err
		}
		p.Stderr = log
		if err := p.Start(); err != nil {
			c.stop()
			return nil, fmt.Errorf("start %s: %w (make bench-peers builds it)", bin, err)
		}
		c.procs = append(c.procs, p)
	}
	all := strings.Join(append([]string{c.primary}, c.replicas...), ",")
	if err := sutractl.Run(ctx, []string{"wait", "--for", "streaming", "--addr", all, "--timeout", "30s"}, io.Discard, io.Discard); err != nil {
		c.stop()
		return nil, fmt.Errorf("%w\n%s", err, logTails(dir, o.replicas))
	}
	return c, nil
}

// logTails returns the last lines of each Sutra node's log under dir, to
// say why a node did not come up.
func logTails(dir string, replicas int) string {
	var b strings.Builder
	for i := 0; i <= replicas; i++ {
		name := filepath.Join(dir, strconv.Itoa(i)) + ".log"
		data, err := os.ReadFile(name)
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", name, err)
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		fmt.Fprintf(&b, "%s (last lines):\n  %s\n", name, strings.Join(lines[max(0, len(lines)-3):], "\n  "))
	}
	return b.String()
}

// procsName names a GOMAXPROCS setting for the run's header.
func procsName(procs int) string {
	if procs == 0 {
		return fmt.Sprintf("Go's default (%d)", runtime.NumCPU())
	}
	return strconv.Itoa(procs)
}

// procsEnv is this process's environment with GOMAXPROCS set to procs, or
// left out when procs is 0 (Go's default: one per CPU the process may use).
func procsEnv(procs int) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOMAXPROCS=") {
			env = append(env, kv)
		}
	}
	if procs > 0 {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(procs))
	}
	return env
}

// command runs a node that ends with this process, should it be killed.
func command(name string, args ...string) *exec.Cmd {
	p := exec.Command(name, args...)
	p.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	return p
}

// cpuSeconds reads each process's user and system CPU time from
// /proc/PID/stat (clock ticks of 1/100 s, Linux's USER_HZ).
func cpuSeconds(procs []*exec.Cmd) []float64 {
	out := make([]float64, len(procs))
	for i, p := range procs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Process.Pid))
		if err != nil {
			continue
		}
		// Fields after the command name, which is in parentheses.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 13 {
			u, _ := strconv.ParseFloat(f[11], 64)
			s, _ := strconv.ParseFloat(f[12], 64)
			out[i] = (u + s) / 100
		}
	}
	return out
}

// pss reads a process's proportional set size from /proc/PID/smaps_rollup.
func pss(pid int) uint64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Pss:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// machine describes where the run took place.
func machine() string {
	cpus := 0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		cpus = strings.Count(string(b), "\nprocessor")
		if strings.HasPrefix(string(b), "processor") {
			cpus++
		}
	}
	return fmt.Sprintf("%d CPUs, %s", cpus, time.Now().UTC().Format("2006-01-02 15:04 UTC"))
}
