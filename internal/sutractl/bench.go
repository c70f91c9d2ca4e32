package sutractl

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sutra/sutra-operator/client"
	"github.com/sutra/sutra-operator/internal/pb/replicationpb"
	"github.com/sutra/sutra-operator/internal/pb/storagepb"
)

// BenchConfig drives one benchmark run.
type BenchConfig struct {
	// Leader is the leader's address, or a comma-separated list of nodes
	// to find the leader among (see leader.go); a replica's address leads
	// to its leader.
	Leader         string
	Timeout        time.Duration // how long to look for the leader; default 10s
	Replicas       []string
	Rate           int           // target writes (concepts) per second; 0 = flat out
	Duration       time.Duration // how long to write
	Workers        int           // concurrent writers
	Conns          int           // TCP connections to the leader
	Batch          int           // concepts per call; >1 uses BatchWrite
	Stream         bool          // write through the Go client (package client, on WriteStream), and poll markers through ReadStream
	Size           int           // content bytes per concept
	MarkerInterval time.Duration // how often a visibility marker is written
	PollInterval   time.Duration // pause between a replica's marker reads; default 500µs
	Settle         time.Duration // how long replicas get to converge afterwards
	Seed           uint64        // id space; runs with different seeds write different ids
}

// BenchResult is what a run measured.
type BenchResult struct {
	Leader       string                 `json:"leader"` // the address written to
	Writes       int64                  `json:"writes"`
	Errors       int64                  `json:"errors"`
	Seconds      float64                `json:"seconds"`
	WritesPerSec float64                `json:"writes_per_sec"`
	CallsPerSec  float64                `json:"calls_per_sec"`
	Latency      Percentiles            `json:"write_latency_ms"`
	Visibility   map[string]Percentiles `json:"visibility_lag_ms"`
	// VisibilityAll is every replica's marker lags together.
	VisibilityAll Percentiles       `json:"visibility_lag_all_ms"`
	LeaderLagMax  map[string]uint64 `json:"leader_reported_max_lag_ms"`
	RSS           map[string]uint64 `json:"resident_bytes"`
	LeaderRSSMax  uint64            `json:"leader_resident_bytes_max"`
	Digests       map[string]string `json:"digests"`
	Converged     bool              `json:"converged"`
}

// Percentiles of a latency sample, in milliseconds.
type Percentiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func percentiles(d []time.Duration) Percentiles {
	if len(d) == 0 {
		return Percentiles{}
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	return Percentiles{N: len(d), P50: ms(d[len(d)/2]), P99: ms(d[(len(d)-1)*99/100]), Max: ms(d[len(d)-1])}
}

func bench(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags(ctx, "bench")
	c := BenchConfig{}
	var replicas string
	var asJSON bool
	var cpuProfile, system string
	fs.StringVar(&system, "system", "sutra", "what --leader and --replicas are: sutra, or redis (a primary and its replicas, for a comparison)")
	fs.StringVar(&c.Leader, "leader", "127.0.0.1:50051", "leader address, or comma-separated node addresses to find the leader among")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Second, "how long to look for the leader before the run")
	fs.StringVar(&replicas, "replicas", "", "comma-separated replica addresses to measure visibility lag and digests on")
	fs.IntVar(&c.Rate, "rate", 0, "target concepts per second (0 = flat out)")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long to write")
	fs.IntVar(&c.Workers, "connections", 64, "concurrent writers")
	fs.IntVar(&c.Conns, "tcp-connections", 8, "TCP connections to the leader shared by the writers")
	fs.IntVar(&c.Batch, "batch", 1, "concepts per call (BatchWrite when > 1)")
	fs.BoolVar(&c.Stream, "stream", false, "write through the Go client (one call per write, carried on WriteStream; --tcp-connections streams at most) and poll replicas through ReadStream, instead of unary calls")
	fs.IntVar(&c.Size, "size", 100, "content bytes per concept")
	fs.DurationVar(&c.MarkerInterval, "marker-interval", 100*time.Millisecond, "interval between visibility markers")
	fs.DurationVar(&c.PollInterval, "poll-interval", 500*time.Microsecond, "pause between a replica's reads of a marker it does not show yet")
	fs.DurationVar(&c.Settle, "settle", 30*time.Second, "how long replicas may take to converge after the run")
	fs.Uint64Var(&c.Seed, "seed", uint64(time.Now().UnixNano()), "id space of this run")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the load generator to this file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if replicas != "" {
		list, err := ParseAddrs(replicas)
		if err != nil {
			return err
		}
		c.Replicas = list
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return fmt.Errorf("sutractl: %w", err)
		}
		defer func() { _ = f.Close() }()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("sutractl: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	run := RunBench
	switch system {
	case "sutra":
	case "redis":
		run = RunRedisBench
	default:
		return fmt.Errorf("sutractl: --system %q: want sutra or redis", system)
	}
	res, err := run(ctx, c)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	PrintBench(out, c, res)
	if !res.Converged {
		return fmt.Errorf("sutractl: replicas did not converge to the leader's digest")
	}
	return nil
}

// PrintBench renders a result for people.
func PrintBench(out io.Writer, c BenchConfig, r *BenchResult) {
	rate := "flat out"
	if c.Rate > 0 {
		rate = fmt.Sprintf("%d/s", c.Rate)
	}
	fmt.Fprintf(out, "writes: %d in %.1fs (%.0f concepts/s, %.0f calls/s, target %s, %d writers, batch %d), errors %d\n",
		r.Writes, r.Seconds, r.WritesPerSec, r.CallsPerSec, rate, c.Workers, c.Batch, r.Errors)
	fmt.Fprintf(out, "write latency ms: p50 %.2f  p99 %.2f  max %.2f\n", r.Latency.P50, r.Latency.P99, r.Latency.Max)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tVISIBILITY P50 MS\tP99 MS\tMAX MS\tMARKERS\tLEADER-REPORTED MAX LAG MS\tRSS MB\tDIGEST")
	leader := c.Leader
	if r.Leader != "" {
		leader = r.Leader
	}
	nodes := append([]string{leader}, c.Replicas...)
	for _, n := range nodes {
		v := r.Visibility[n]
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%d\t%d\t%.1f\t%s\n", n, v.P50, v.P99, v.Max, v.N, r.LeaderLagMax[n],
			float64(r.RSS[n])/(1<<20), r.Digests[n])
	}
	_ = tw.Flush()
	fmt.Fprintf(out, "leader RSS max during run: %.1f MB; converged: %t\n", float64(r.LeaderRSSMax)/(1<<20), r.Converged)
}

// RunBench writes to the leader as configured and measures the run.
func RunBench(ctx context.Context, c BenchConfig) (*BenchResult, error) {
	if c.Workers <= 0 || c.Conns <= 0 || c.Batch <= 0 || c.Size < 0 || c.Duration <= 0 {
		return nil, fmt.Errorf("sutractl: bench needs positive connections, batch and duration")
	}
	leader, err := resolveLeader(ctx, c.Leader, c.Timeout)
	if err != nil {
		return nil, err
	}
	c.Leader = leader
	leaderConns := make([]storagepb.StorageServiceClient, c.Conns)
	var closers []*grpc.ClientConn
	defer func() {
		for _, cc := range closers {
			_ = cc.Close()
		}
	}()
	for i := range leaderConns {
		cc, err := dial(ctx, c.Leader)
		if err != nil {
			return nil, err
		}
		closers = append(closers, cc)
		leaderConns[i] = storagepb.NewStorageServiceClient(cc)
	}
	replicaClients := map[string]storagepb.StorageServiceClient{}
	for _, r := range c.Replicas {
		cc, err := dial(ctx, r)
		if err != nil {
			return nil, err
		}
		closers = append(closers, cc)
		replicaClients[r] = storagepb.NewStorageServiceClient(cc)
	}
	replStatus := replicationpb.NewReplicationServiceClient(closers[0])
	// Fail fast when the leader is not reachable or not a leader.
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	st, err := leaderConns[0].GetStats(pctx, &storagepb.GetStatsRequest{})
	pcancel()
	if err != nil {
		return nil, fmt.Errorf("sutractl: leader %s: %w", c.Leader, err)
	}
	if st.GetRole() != "leader" {
		return nil, fmt.Errorf("sutractl: %s is a %s, not the leader", c.Leader, st.GetRole())
	}

	res := &BenchResult{Leader: c.Leader, Visibility: map[string]Percentiles{}, LeaderLagMax: map[string]uint64{}, RSS: map[string]uint64{}, Digests: map[string]string{}}
	content := benchContent(c.Size)
	target := &sutraTarget{seed: c.Seed, batch: c.Batch, content: content, leader: leaderConns, replicas: replicaClients}
	if c.Stream {
		opts, err := dialOpts(ctx)
		if err != nil {
			return nil, err
		}
		cl, err := client.New(client.Config{Addrs: []string{c.Leader}, Streams: c.Conns, DialOptions: opts})
		if err != nil {
			return nil, fmt.Errorf("sutractl: %w", err)
		}
		defer func() { _ = cl.Close() }()
		target.client = cl
		target.readers = map[string]*streamReader{}
		for name, rc := range replicaClients {
			sr, err := newStreamReader(ctx, rc)
			if err != nil {
				return nil, fmt.Errorf("sutractl: open a read stream to %s: %w", name, err)
			}
			defer func() { _ = sr.Close() }()
			target.readers[name] = sr
		}
	}
	// Leader-reported lag and leader memory, sampled while writing.
	sampled := make(chan struct{})
	sampling, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	go func() {
		defer close(sampled)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-sampling.Done():
				return
			case <-t.C:
			}
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			if s, err := replStatus.GetReplicationStatus(sctx, &replicationpb.ReplicationStatusRequest{}); err == nil {
				for _, r := range s.GetReplicas() {
					key := matchReplica(r, c.Replicas)
					res.LeaderLagMax[key] = max(res.LeaderLagMax[key], r.GetLagMs())
				}
			}
			if s, err := leaderConns[0].GetStats(sctx, &storagepb.GetStatsRequest{}); err == nil {
				res.LeaderRSSMax = max(res.LeaderRSSMax, s.GetResidentBytes())
			}
			cancel()
		}
	}()
	drive(ctx, c, target, res)
	stopSampling()
	<-sampled
	res.Converged, err = converge(ctx, c, leaderConns[0], replicaClients, res)
	return res, err
}

// loadTarget is a system a bench run drives: Sutra, or Redis for a
// comparison (bench_redis.go).
type loadTarget interface {
	// write sends one call from worker w carrying the writes numbered
	// first to first+Batch-1.
	write(ctx context.Context, w int, first uint64) error
	// mark writes visibility marker n on the leader.
	mark(ctx context.Context, n uint64) error
	// seen reports whether replica holds marker n; an error other than
	// "not there" is retried after a pause.
	seen(ctx context.Context, replica string, n uint64) (bool, error)
	// replicaNames are the replicas seen is asked about.
	replicaNames() []string
}

// drive writes through t for c.Duration, as a closed loop of c.Workers
// writers or paced at c.Rate, with a visibility marker every
// c.MarkerInterval polled on every replica, and fills in res's counts,
// latencies and visibility lags.
func drive(ctx context.Context, c BenchConfig, t loadTarget, res *BenchResult) {
	runCtx, stop := context.WithTimeout(ctx, c.Duration)
	defer stop()
	var next atomic.Uint64
	var writes, errs atomic.Int64
	lat := make([][]time.Duration, c.Workers)
	var wg sync.WaitGroup
	start := time.Now()
	// Open loop at a fixed rate: call k of the run is due at start + k/rate
	// (k counts calls, each carrying Batch concepts).
	var interval time.Duration
	if c.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(c.Batch) / float64(c.Rate))
	}
	var ticket atomic.Int64
	for w := 0; w < c.Workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for runCtx.Err() == nil {
				if interval > 0 {
					due := start.Add(time.Duration(ticket.Add(1)-1) * interval)
					if d := time.Until(due); d > 0 {
						select {
						case <-time.After(d):
						case <-runCtx.Done():
							return
						}
					}
				}
				t0 := time.Now()
				if err := t.write(ctx, w, next.Add(uint64(c.Batch))-uint64(c.Batch)+1); err != nil {
					errs.Add(1)
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
				writes.Add(int64(c.Batch))
			}
		}(w)
	}
	// Visibility markers: written on the leader, polled on every replica.
	vis := map[string][]time.Duration{}
	var visMu sync.Mutex
	poll := c.PollInterval
	if poll <= 0 {
		poll = 500 * time.Microsecond // lag resolution; polling faster costs the system under test
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := uint64(1); ; n++ {
			select {
			case <-time.After(c.MarkerInterval):
			case <-runCtx.Done():
				return
			}
			if err := t.mark(ctx, n); err != nil {
				continue
			}
			acked := time.Now()
			var pw sync.WaitGroup
			for _, name := range t.replicaNames() {
				pw.Add(1)
				go func() {
					defer pw.Done()
					for deadline := acked.Add(10 * time.Second); time.Now().Before(deadline); {
						ok, err := t.seen(ctx, name, n)
						if ok {
							visMu.Lock()
							vis[name] = append(vis[name], time.Since(acked))
							visMu.Unlock()
							return
						}
						if err != nil {
							time.Sleep(10 * time.Millisecond)
							continue
						}
						pause(poll)
					}
				}()
			}
			pw.Wait()
		}
	}()
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	res.Writes, res.Errors, res.Seconds = writes.Load(), errs.Load(), elapsed.Seconds()
	res.WritesPerSec = float64(res.Writes) / elapsed.Seconds()
	res.CallsPerSec = float64(len(all)) / elapsed.Seconds()
	res.Latency = percentiles(all)
	var every []time.Duration
	for name, d := range vis {
		every = append(every, d...)
		res.Visibility[name] = percentiles(d)
	}
	res.VisibilityAll = percentiles(every)
}

// sutraTarget writes to a Sutra leader over gRPC.
type sutraTarget struct {
	seed     uint64
	batch    int
	content  []byte
	leader   []storagepb.StorageServiceClient
	client   *client.Client           // with BenchConfig.Stream: writes on its streams
	readers  map[string]*streamReader // with BenchConfig.Stream, one per replica
	replicas map[string]storagepb.StorageServiceClient
}

func (s *sutraTarget) write(ctx context.Context, w int, first uint64) error {
	var err error
	switch {
	case s.client != nil:
		_, err = s.client.Write(ctx, s.clientOps(first)...)
	case s.batch == 1:
		_, err = s.leader[w%len(s.leader)].WriteConcept(ctx, &storagepb.WriteConceptRequest{Concept: benchConcept(s.seed, first, s.content)})
	default:
		_, err = s.leader[w%len(s.leader)].BatchWrite(ctx, &storagepb.BatchWriteRequest{Ops: s.ops(first)})
	}
	return err
}

// ops are the writes numbered first to first+batch-1.
func (s *sutraTarget) ops(first uint64) []*storagepb.WriteOp {
	ops := make([]*storagepb.WriteOp, s.batch)
	for i := range ops {
		ops[i] = &storagepb.WriteOp{Op: &storagepb.WriteOp_WriteConcept{WriteConcept: benchConcept(s.seed, first+uint64(i), s.content)}}
	}
	return ops
}

// clientOps are the writes numbered first to first+batch-1, for the client.
func (s *sutraTarget) clientOps(first uint64) []client.Op {
	ops := make([]client.Op, s.batch)
	for i := range ops {
		ops[i] = client.PutConcept(benchConcept(s.seed, first+uint64(i), s.content))
	}
	return ops
}

func (s *sutraTarget) mark(ctx context.Context, n uint64) error {
	_, err := s.leader[0].WriteConcept(ctx, &storagepb.WriteConceptRequest{Concept: &storagepb.Concept{
		Id: markerID(s.seed, n), Content: []byte("marker"), Strength: 1, Confidence: 1}})
	return err
}

func (s *sutraTarget) seen(ctx context.Context, replica string, n uint64) (bool, error) {
	var err error
	if r := s.readers[replica]; r != nil {
		_, err = r.Read(markerID(s.seed, n))
	} else {
		_, err = s.replicas[replica].GetConcept(ctx, &storagepb.GetConceptRequest{Id: markerID(s.seed, n)})
	}
	if status.Code(err) == codes.NotFound {
		return false, nil
	}
	return err == nil, err
}

func (s *sutraTarget) replicaNames() []string { return slices.Sorted(maps.Keys(s.replicas)) }

// benchContent is size bytes of a repeating alphabet.
func benchContent(size int) []byte {
	content := make([]byte, size)
	for i := range content {
		content[i] = 'a' + byte(i%26)
	}
	return content
}

// resolveLeader finds the leader among the comma-separated addrs.
func resolveLeader(ctx context.Context, addrs string, timeout time.Duration) (string, error) {
	list, err := ParseAddrs(addrs)
	if err != nil {
		return "", err
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := newCluster(ctx, list)
	defer c.Close()
	return c.findLeader(ctx)
}

// matchReplica maps a replica row of the leader's table to the address the
// user gave, by address or id; otherwise the row's id.
func matchReplica(r *replicationpb.ReplicaInfo, addrs []string) string {
	for _, a := range addrs {
		if a == r.GetAddress() || a == r.GetId() {
			return a
		}
	}
	return r.GetId()
}

// converge waits until every replica has applied the leader's last sequence
// and compares state digests.
func converge(ctx context.Context, c BenchConfig, leader storagepb.StorageServiceClient, replicas map[string]storagepb.StorageServiceClient, res *BenchResult) (bool, error) {
	ls, err := leader.GetStats(ctx, &storagepb.GetStatsRequest{})
	if err != nil {
		return false, fmt.Errorf("sutractl: leader stats: %w", err)
	}
	res.Digests[c.Leader], res.RSS[c.Leader] = ls.GetDigest(), ls.GetResidentBytes()
	names := slices.Sorted(maps.Keys(replicas))
	ok := awaitReplicas(names, c.Settle, res, func(name string) (string, uint64, bool) {
		rs, err := replicas[name].GetStats(ctx, &storagepb.GetStatsRequest{})
		return rs.GetDigest(), rs.GetResidentBytes(), err == nil && rs.GetAppliedSequence() >= ls.GetAppliedSequence()
	})
	for _, name := range names {
		ok = ok && res.Digests[name] == ls.GetDigest()
	}
	return ok, nil
}

// awaitReplicas asks caught about each replica until it has caught up,
// recording the digest and resident bytes it reports, or until settle has
// passed ("not caught up"); true if every replica caught up.
func awaitReplicas(names []string, settle time.Duration, res *BenchResult, caught func(name string) (digest string, rss uint64, ok bool)) bool {
	all := true
	deadline := time.Now().Add(settle)
	for _, name := range names {
		for {
			digest, rss, ok := caught(name)
			if ok {
				res.Digests[name], res.RSS[name] = digest, rss
				break
			}
			if time.Now().After(deadline) {
				res.Digests[name] = "not caught up"
				all = false
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return all
}

func benchConcept(seed, n uint64, content []byte) *storagepb.Concept {
	id := make([]byte, 16)
	binary.BigEndian.PutUint64(id[:8], seed)
	binary.BigEndian.PutUint64(id[8:], n)
	return &storagepb.Concept{Id: id, Content: content, Strength: rand.Float32(), Confidence: 0.9}
}

func markerID(seed, n uint64) []byte {
	id := make([]byte, 16)
	binary.BigEndian.PutUint64(id[:8], ^seed)
	binary.BigEndian.PutUint64(id[8:], n)
	return id
}
