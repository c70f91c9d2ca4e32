package sutractl

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/sutra/sutra-operator/internal/pb/storagepb"
)

// LedgerConfig is one acknowledged-write ledger run.
type LedgerConfig struct {
	// Addrs are where writes go (a leader Service, or node addresses): a
	// writer that fails moves to the next on a fresh connection.
	Addrs []string
	// Check are the nodes every acknowledged write is looked up on.
	Check    []string
	Duration time.Duration
	Workers  int
	Settle   time.Duration
	Seed     uint64
	// Gap is the shortest pause between acknowledgements that is reported.
	Gap time.Duration
}

// LedgerResult is what the ledger saw. Lost counts, per checked node, the
// acknowledged writes it does not hold.
type LedgerResult struct {
	Acked        int               `json:"acked"`
	Errors       int               `json:"errors"`
	LongestGapMs float64           `json:"longestGapMs"`
	Gaps         []LedgerGap       `json:"gaps"`
	Lost         map[string]int    `json:"lost"`
	Digests      map[string]string `json:"digests"`
	Converged    bool              `json:"converged"`
}

// LedgerGap is a pause in acknowledgements: AtMs after the run started, it
// lasted Ms.
type LedgerGap struct {
	AtMs float64 `json:"atMs"`
	Ms   float64 `json:"ms"`
}

type ack struct {
	id  uint64
	seq uint64
	at  time.Time
}

// RunLedger writes for c.Duration, then checks every acknowledged write
// on every c.Check node once each has applied the highest acknowledged
// sequence (or c.Settle has passed).
func RunLedger(ctx context.Context, c LedgerConfig) (LedgerResult, error) {
	start := time.Now()
	var mu sync.Mutex
	var acks []ack
	errs := 0
	var next uint64
	var wg sync.WaitGroup
	wctx, cancel := context.WithTimeout(ctx, c.Duration)
	defer cancel()
	for w := 0; w < c.Workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			cur := w % len(c.Addrs)
			var conn *grpc.ClientConn
			defer func() {
				if conn != nil {
					_ = conn.Close()
				}
			}()
			for wctx.Err() == nil {
				if conn == nil {
					var err error
					if conn, err = dial(ctx, c.Addrs[cur]); err != nil {
						return
					}
				}
				mu.Lock()
				next++
				id := c.Seed<<32 | next
				mu.Unlock()
				callCtx, done := context.WithTimeout(wctx, 2*time.Second)
				resp, err := storagepb.NewStorageServiceClient(conn).WriteConcept(callCtx, &storagepb.WriteConceptRequest{Concept: &storagepb.Concept{
					Id: ledgerID(id), Content: []byte(fmt.Sprintf("ledger %d", id)), Strength: 1, Confidence: 1}})
				done()
				if err != nil {
					if wctx.Err() != nil {
						return
					}
					// A fenced or demoted node keeps its connection: dial
					// again, so a Service sends the next call to its new pod.
					mu.Lock()
					errs++
					mu.Unlock()
					_ = conn.Close()
					conn, cur = nil, (cur+1)%len(c.Addrs)
					time.Sleep(20 * time.Millisecond)
					continue
				}
				mu.Lock()
				acks = append(acks, ack{id: id, seq: resp.GetSequence(), at: time.Now()})
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	end := time.Now()

	sort.Slice(acks, func(i, j int) bool { return acks[i].at.Before(acks[j].at) })
	res := LedgerResult{Acked: len(acks), Errors: errs, Lost: map[string]int{}, Digests: map[string]string{}}
	prev := start
	var top uint64
	for _, a := range append(acks, ack{at: end}) {
		if gap := a.at.Sub(prev); gap >= c.Gap {
			res.Gaps = append(res.Gaps, LedgerGap{AtMs: ms(prev.Sub(start)), Ms: ms(gap)})
		}
		res.LongestGapMs = max(res.LongestGapMs, ms(a.at.Sub(prev)))
		prev = a.at
		top = max(top, a.seq)
	}
	type checked struct {
		lost   int
		digest string
		err    error
	}
	results := make([]checked, len(c.Check))
	var cw sync.WaitGroup
	for i, node := range c.Check {
		cw.Add(1)
		go func() {
			defer cw.Done()
			lost, digest, err := checkLedger(ctx, node, acks, top, c.Settle)
			results[i] = checked{lost, digest, err}
		}()
	}
	cw.Wait()
	for i, node := range c.Check {
		if results[i].err != nil {
			return res, results[i].err
		}
		res.Lost[node], res.Digests[node] = results[i].lost, results[i].digest
	}
	// Writes that were cut off unacknowledged may still be reaching some
	// nodes: wait for one applied sequence and one digest everywhere.
	deadline := time.Now().Add(c.Settle)
	for {
		digests, same := nodeDigests(ctx, c.Check)
		if same || time.Now().After(deadline) {
			if digests != nil {
				res.Digests = digests
			}
			res.Converged = same
			return res, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// nodeDigests reads every node's digest, and whether all nodes report one
// applied sequence and one digest.
func nodeDigests(ctx context.Context, nodes []string) (map[string]string, bool) {
	digests := map[string]string{}
	var applied []uint64
	for _, node := range nodes {
		conn, err := dial(ctx, node)
		if err != nil {
			return nil, false
		}
		st, err := storagepb.NewStorageServiceClient(conn).GetStats(ctx, &storagepb.GetStatsRequest{})
		_ = conn.Close()
		if err != nil {
			return nil, false
		}
		digests[node] = st.GetDigest()
		applied = append(applied, st.GetAppliedSequence())
	}
	for i := range nodes {
		if applied[i] != applied[0] || digests[nodes[i]] != digests[nodes[0]] {
			return digests, false
		}
	}
	return digests, true
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func ledgerID(n uint64) []byte {
	id := make([]byte, 16)
	binary.BigEndian.PutUint64(id[:8], 0x5e5e_1ed9_e000_0000) // "ledger" ids
	binary.BigEndian.PutUint64(id[8:], n)
	return id
}

// checkLedger waits until node applied top, then counts the acknowledged
// writes it lacks and returns its digest.
func checkLedger(ctx context.Context, node string, acks []ack, top uint64, settle time.Duration) (int, string, error) {
	conn, err := dial(ctx, node)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = conn.Close() }()
	cl := storagepb.NewStorageServiceClient(conn)
	deadline := time.Now().Add(settle)
	var st *storagepb.Stats
	for {
		st, err = cl.GetStats(ctx, &storagepb.GetStatsRequest{})
		if (err == nil && st.GetAppliedSequence() >= top) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return 0, "", fmt.Errorf("sutractl: stats of %s: %w", node, err)
	}
	// Look every write up, checkWorkers calls at a time.
	var lost atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < checkWorkers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(acks); i += checkWorkers {
				if _, err := cl.GetConcept(ctx, &storagepb.GetConceptRequest{Id: ledgerID(acks[i].id)}); err != nil {
					lost.Add(1)
				}
			}
		}(w)
	}
	wg.Wait()
	return int(lost.Load()), st.GetDigest(), nil
}

// checkWorkers is how many lookups checkLedger keeps in flight per node.
const checkWorkers = 32

func ledgerCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags(ctx, "ledger")
	c := LedgerConfig{}
	var addrs, check string
	var asJSON bool
	fs.StringVar(&addrs, "addr", "127.0.0.1:50051", "where to write: the leader Service, or comma-separated node addresses")
	fs.StringVar(&check, "check", "", "comma-separated nodes to check every acknowledged write on (default: --addr)")
	fs.DurationVar(&c.Duration, "duration", 30*time.Second, "how long to write")
	fs.IntVar(&c.Workers, "connections", 4, "concurrent writers")
	fs.DurationVar(&c.Settle, "settle", time.Minute, "how long a checked node may take to apply every acknowledged write")
	fs.DurationVar(&c.Gap, "gap", 100*time.Millisecond, "report pauses between acknowledgements at least this long")
	fs.Uint64Var(&c.Seed, "seed", uint64(time.Now().UnixNano())&0xffffffff, "id space of this run")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var err error
	if c.Addrs, err = ParseAddrs(addrs); err != nil {
		return err
	}
	c.Check = c.Addrs
	if check != "" {
		if c.Check, err = ParseAddrs(check); err != nil {
			return err
		}
	}
	if c.Workers < 1 || c.Duration <= 0 {
		return fmt.Errorf("sutractl ledger: --connections and --duration must be positive")
	}
	res, err := RunLedger(ctx, c)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(out, "acknowledged %d writes (%d errors); longest pause %.0fms\n", res.Acked, res.Errors, res.LongestGapMs)
		for _, g := range res.Gaps {
			fmt.Fprintf(out, "  pause of %.0fms at +%.1fs\n", g.Ms, g.AtMs/1000)
		}
		for _, node := range c.Check {
			fmt.Fprintf(out, "%s: %d lost, digest %s\n", node, res.Lost[node], res.Digests[node])
		}
	}
	for node, n := range res.Lost {
		if n > 0 {
			return fmt.Errorf("sutractl ledger: %s lacks %d of %d acknowledged writes", node, n, res.Acked)
		}
	}
	if !res.Converged {
		return fmt.Errorf("sutractl ledger: the checked nodes' digests differ")
	}
	return nil
}
