package sutractl

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sutra/sutra-operator/internal/pb/replicationpb"
	"github.com/sutra/sutra-operator/internal/pb/storagepb"
)

const usage = `usage: sutractl <command> [flags]

commands:
  status   print the replication table of a node (GetReplicationStatus)
  put      write a concept to the leader, found among the --addr nodes
  get      read a concept from the first node that answers, or the leader
  stats    print counts, applied sequence and state digest of nodes
  bench    drive writes and measure latency, replica visibility lag and convergence
  nodes    print every node's role, epoch, positions and fence state (AdminService/Status)
  promote  make the first --addr node the leader in a new epoch; the other --addr nodes follow it
  follow   point nodes at a new leader (AdminService/Follow)
  fence    stop a leader accepting writes (AdminService/Fence)
  wait     wait until nodes serve (--for serving) or every listed replica streams (--for streaming)
  ledger   write through failures, then check every acknowledged write on every node and report pauses
  certs    make a CA and the certificates of nodes and clients for TLS (bare processes; the operator makes its own)

An address without a port gets port 50051. "sutractl <command> --help" lists a command's flags.
Every command takes --ca, --cert, --key, --token-file and --context to speak TLS (see docs/security.md).
`

// Run executes one sutractl command. -h or --help prints the command's
// usage to out and returns nil.
func Run(ctx context.Context, args []string, out, errOut io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(errOut, usage)
		return errors.New("sutractl: no command given")
	}
	cmds := map[string]func(context.Context, []string, io.Writer) error{
		"status": statusCmd, "put": put, "get": get, "stats": stats, "bench": bench,
		"nodes": nodesCmd, "promote": promoteCmd, "follow": followCmd, "fence": fenceCmd, "wait": waitCmd,
		"ledger": ledgerCmd, "certs": certsCmd,
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(out, usage)
		return nil
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprint(errOut, usage)
		return fmt.Errorf("sutractl: unknown command %q", args[0])
	}
	err := cmd(withTransport(ctx, &transport{}), args[1:], out)
	var ue *usageError
	if errors.As(err, &ue) {
		if ue.err == nil {
			fmt.Fprint(out, ue.usage)
			return nil
		}
		fmt.Fprint(errOut, ue.usage)
		return ue.err
	}
	return err
}

// usageError carries a command's usage out of its flag parsing: err nil
// means -h/--help was asked for.
type usageError struct {
	err   error
	usage string
}

func (e *usageError) Error() string {
	if e.err == nil {
		return flag.ErrHelp.Error()
	}
	return e.err.Error()
}

// newFlags starts a command's flag set with the connection flags every
// command shares (conn.go).
func newFlags(ctx context.Context, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("sutractl "+name, flag.ContinueOnError)
	if t := transportFrom(ctx); t != nil {
		t.register(fs)
	}
	return fs
}

// parseFlags parses a command's flags and refuses positional arguments,
// which no command takes (an address must be given with --addr).
func parseFlags(fs *flag.FlagSet, args []string) error {
	var buf strings.Builder
	fs.SetOutput(&buf)
	fs.Usage = func() {
		fmt.Fprintf(&buf, "usage: %s [flags]\n\nflags:\n", fs.Name())
		fs.PrintDefaults()
	}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return &usageError{usage: buf.String()}
	}
	if err != nil {
		return &usageError{err: fmt.Errorf("%s: %w", fs.Name(), err), usage: buf.String()}
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument(s) %q: it takes only flags (node addresses go in --addr)", fs.Name(), fs.Args())
	}
	return nil
}

// nodeFlags are the flags of commands that talk to one node of a list.
type nodeFlags struct {
	addr     string
	timeout  time.Duration
	readFrom string // reads only: "first" or "leader"
}

// defaultAddr is --addr's default; a context file's address replaces it.
const defaultAddr = "127.0.0.1:50051"

// addrFlag is --addr, or the context file's address when --addr was left
// at its default.
func addrFlag(ctx context.Context, addr string) string {
	if a := contextAddress(ctx); a != "" && addr == defaultAddr {
		return a
	}
	return addr
}

func addNodeFlags(fs *flag.FlagSet, f *nodeFlags, read bool, help string) {
	fs.StringVar(&f.addr, "addr", defaultAddr, help)
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "give up after this long, finding the leader and retrying included")
	if read {
		fs.StringVar(&f.readFrom, "read-from", "first", `which node of --addr serves the read: "first" that answers, or "leader"`)
	}
}

// open parses --addr and applies --timeout to ctx.
func (f *nodeFlags) open(ctx context.Context) (*cluster, context.Context, context.CancelFunc, error) {
	addrs, err := ParseAddrs(addrFlag(ctx, f.addr))
	if err != nil {
		return nil, nil, nil, err
	}
	if f.readFrom != "" && f.readFrom != "first" && f.readFrom != "leader" {
		return nil, nil, nil, fmt.Errorf("sutractl: --read-from must be first or leader, not %q", f.readFrom)
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	return newCluster(ctx, addrs), ctx, cancel, nil
}

// read runs fn on the node --read-from selects and returns its address.
func (f *nodeFlags) read(ctx context.Context, c *cluster, fn func(context.Context, *grpc.ClientConn) error) (string, error) {
	if f.readFrom == "leader" {
		return c.readLeader(ctx, fn)
	}
	return c.read(ctx, fn)
}

func statusCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags(ctx, "status")
	var nf nodeFlags
	addNodeFlags(fs, &nf, true, "comma-separated node addresses; the first that answers, or the leader with --read-from leader (the leader shows every replica)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c, ctx, cancel, err := nf.open(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	defer c.Close()
	var st *replicationpb.ReplicationStatusResponse
	addr, err := nf.read(ctx, c, func(ctx context.Context, cc *grpc.ClientConn) (err error) {
		st, err = replicationpb.NewReplicationServiceClient(cc).GetReplicationStatus(ctx, &replicationpb.ReplicationStatusRequest{})
		return err
	})
	if err != nil {
		return fmt.Errorf("sutractl: status from %s: %w", addrOr(addr, nf.addr), err)
	}
	PrintStatus(out, st)
	return nil
}

// PrintStatus renders a replication table.
func PrintStatus(out io.Writer, st *replicationpb.ReplicationStatusResponse) {
	fmt.Fprintf(out, "node %s (%s)  cluster %s  epoch %d  leader sequence %d  applied %d  first retained %d  max lag %d ms\n",
		st.GetNodeId(), st.GetRole(), st.GetClusterId(), st.GetEpoch(), st.GetLeaderSequence(), st.GetAppliedSequence(),
		st.GetFirstRetainedSequence(), st.GetMaxLagMs())
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	// SENT, APPLIED and DURABLE are PostgreSQL's sent, replay and flush
	// positions; LAG (MS) is the replay lag, FLUSH LAG (MS) the flush lag.
	fmt.Fprintln(tw, "REPLICA\tSTATE\tHEALTHY\tSENT\tAPPLIED\tDURABLE\tLAG (ENTRIES)\tLAG (MS)\tFLUSH LAG (MS)\tLAST HEARD\tADDRESS\tLAST ERROR")
	for _, r := range st.GetReplicas() {
		heard := "-"
		if r.GetLastHeartbeat() > 0 {
			heard = time.Since(time.UnixMilli(int64(r.GetLastHeartbeat()))).Round(time.Millisecond).String() + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%t\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", r.GetId(), r.GetState(), r.GetHealthy(),
			r.GetSentSequence(), r.GetLastAppliedSequence(), r.GetDurableSequence(), r.GetLagEntries(), r.GetLagMs(), r.GetFlushLagMs(),
			heard, r.GetAddress(), r.GetLastError())
	}
	_ = tw.Flush()
}

// ParseID accepts 32 hex characters, or any other text, which is hashed to
// an id (so that `put --id user:42` works): the first 16 bytes of its
// SHA-256.
func ParseID(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("sutractl: --id is required")
	}
	if isHexID(s) {
		b, _ := hex.DecodeString(s)
		return b, nil
	}
	h := sha256.Sum256([]byte(s))
	return h[:16], nil
}

func isHexID(s string) bool {
	_, err := hex.DecodeString(s)
	return len(s) == 32 && err == nil
}

// describeID names an id as the user gave it: a text id with its hash, so
// that nobody wonders where the hex came from.
func describeID(s string, b []byte) string {
	if isHexID(s) {
		return fmt.Sprintf("%x", b)
	}
	return fmt.Sprintf("%s (id %x = sha256(%q)[:16])", s, b, s)
}

func put(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags(ctx, "put")
	var nf nodeFlags
	addNodeFlags(fs, &nf, false, "comma-separated node addresses; the write goes to the leader among them, or the one a replica names")
	follow := fs.Bool("follow-leader", true, "find the leader and retry there; false sends the write once to the first address")
	id := fs.String("id", "", "concept id: 32 hex characters, or text that is hashed to an id")
	content := fs.String("content", "", "concept content (required; --content '' for an empty concept)")
	strength := fs.Float64("strength", 1, "strength")
	confidence := fs.Float64("confidence", 1, "confidence")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	b, err := ParseID(*id)
	if err != nil {
		return err
	}
	contentSet := false
	fs.Visit(func(f *flag.Flag) { contentSet = contentSet || f.Name == "content" })
	if !contentSet {
		return errors.New("sutractl put: --content is required (--content '' writes an empty concept)")
	}
	c, ctx, cancel, err := nf.open(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	defer c.Close()
	req := &storagepb.WriteConceptRequest{Concept: &storagepb.Concept{
		Id: b, Content: []byte(*content), Strength: float32(*strength), Confidence: float32(*confidence)}}
	var resp *storagepb.WriteResponse
	call := func(ctx context.Context, cc *grpc.ClientConn) (err error) {
		resp, err = storagepb.NewStorageServiceClient(cc).WriteConcept(ctx, req)
		return err
	}
	addr := c.addrs[0]
	if *follow {
		addr, err = c.write(ctx, call)
	} else if cc, derr := c.conn(addr); derr != nil {
		err = derr
	} else {
		err = call(ctx, cc)
	}
	if err != nil {
		return fmt.Errorf("sutractl: put: %w", err)
	}
	fmt.Fprintf(out, "wrote %s at sequence %d on %s\n", describeID(*id, b), resp.GetSequence(), addr)
	return nil
}

func get(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags(ctx, "get")
	var nf nodeFlags
	addNodeFlags(fs, &nf, true, "comma-separated node addresses (leaders or replicas); the first that answers serves the read")
	id := fs.String("id", "", "concept id: 32 hex characters, or the text used with put")
	wait := fs.Duration("wait", 0, "retry a concept that is not there yet (NOT_FOUND: a write still on its way to a replica) for up to this long")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	b, err := ParseID(*id)
	if err != nil {
		return err
	}
	nf.timeout = max(nf.timeout, *wait)
	cl, ctx, cancel, err := nf.open(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	defer cl.Close()
	var c *storagepb.Concept
	until := time.Now().Add(*wait)
	for {
		_, err = nf.read(ctx, cl, func(ctx context.Context, cc *grpc.ClientConn) (err error) {
			c, err = storagepb.NewStorageServiceClient(cc).GetConcept(ctx, &storagepb.GetConceptRequest{Id: b})
			return err
		})
		if status.Code(err) != codes.NotFound || !time.Now().Before(until) {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err != nil {
		if *wait > 0 && status.Code(err) == codes.NotFound {
			return fmt.Errorf("sutractl: get: %s still not found after waiting %s: %w", describeID(*id, b), *wait, err)
		}
		return fmt.Errorf("sutractl: get: %w", err)
	}
	fmt.Fprintf(out, "id %s\ncontent %q\nstrength %g confidence %g\nupdated %s\n", describeID(*id, b), c.GetContent(),
		c.GetStrength(), c.GetConfidence(), time.Unix(0, c.GetUpdatedUnixNanos()).UTC().Format(time.RFC3339Nano))
	return nil
}

func stats(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags(ctx, "stats")
	addrs := fs.String("addr", "127.0.0.1:50051", "comma-separated node addresses; one row each")
	timeout := fs.Duration("timeout", 5*time.Second, "how long each node may take to answer")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	list, err := ParseAddrs(*addrs)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLE\tCONCEPTS\tASSOCIATIONS\tAPPLIED\tDIGEST")
	var failed []string
	for _, a := range list {
		s, err := nodeStats(ctx, a, *timeout)
		if err != nil {
			// A row for the node that did not answer, so the others still show.
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\terror: %v\n", a, err)
			failed = append(failed, fmt.Sprintf("%s: %v", a, err))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\n", s.GetNodeId(), s.GetRole(), s.GetConceptCount(), s.GetAssociationCount(),
			s.GetAppliedSequence(), s.GetDigest())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("sutractl: stats: %d of %d nodes did not answer: %s", len(failed), len(list), strings.Join(failed, "; "))
	}
	return nil
}

// nodeStats asks one node for its GetStats.
func nodeStats(ctx context.Context, addr string, timeout time.Duration) (*storagepb.Stats, error) {
	conn, err := dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return storagepb.NewStorageServiceClient(conn).GetStats(ctx, &storagepb.GetStatsRequest{})
}

func addrOr(addr, list string) string {
	if addr != "" {
		return addr
	}
	return list
}
