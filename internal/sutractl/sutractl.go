package sutractl

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"

	"github.com/sutra/sutra-operator/internal/grpcapi"
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
`

// Run executes one sutractl command.
func Run(ctx context.Context, args []string, out, errOut io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(errOut, usage)
		return errors.New("sutractl: no command given")
	}
	cmds := map[string]func(context.Context, []string, io.Writer) error{
		"status": statusCmd, "put": put, "get": get, "stats": stats, "bench": bench,
		"nodes": nodesCmd, "promote": promoteCmd, "follow": followCmd, "fence": fenceCmd,
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
	return cmd(ctx, args[1:], out)
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("sutractl "+name, flag.ContinueOnError)
	return fs
}

// nodeFlags are the flags of commands that talk to one node of a list.
type nodeFlags struct {
	addr     string
	timeout  time.Duration
	readFrom string // reads only: "first" or "leader"
}

func addNodeFlags(fs *flag.FlagSet, f *nodeFlags, read bool, help string) {
	fs.StringVar(&f.addr, "addr", "127.0.0.1:50051", help)
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "give up after this long, finding the leader and retrying included")
	if read {
		fs.StringVar(&f.readFrom, "read-from", "first", `which node of --addr serves the read: "first" that answers, or "leader"`)
	}
}

// open parses --addr and applies --timeout to ctx.
func (f *nodeFlags) open(ctx context.Context) (*cluster, context.Context, context.CancelFunc, error) {
	addrs, err := ParseAddrs(f.addr)
	if err != nil {
		return nil, nil, nil, err
	}
	if f.readFrom != "" && f.readFrom != "first" && f.readFrom != "leader" {
		return nil, nil, nil, fmt.Errorf("sutractl: --read-from must be first or leader, not %q", f.readFrom)
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	return newCluster(addrs), ctx, cancel, nil
}

// read runs fn on the node --read-from selects and returns its address.
func (f *nodeFlags) read(ctx context.Context, c *cluster, fn func(context.Context, *grpc.ClientConn) error) (string, error) {
	if f.readFrom == "leader" {
		return c.readLeader(ctx, fn)
	}
	return c.read(ctx, fn)
}

func dial(addr string) (*grpc.ClientConn, error) {
	conn, err := grpcapi.Dial(addr)
	if err != nil {
		return nil, fmt.Errorf("sutractl: %s: %w", addr, err)
	}
	return conn, nil
}

func statusCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("status")
	var nf nodeFlags
	addNodeFlags(fs, &nf, true, "comma-separated node addresses; the first that answers, or the leader with --read-from leader (the leader shows every replica)")
	if err := fs.Parse(args); err != nil {
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
	fmt.Fprintln(tw, "REPLICA\tSTATE\tHEALTHY\tAPPLIED\tLAG (ENTRIES)\tLAG (MS)\tLAST HEARD\tADDRESS\tLAST ERROR")
	for _, r := range st.GetReplicas() {
		heard := "-"
		if r.GetLastHeartbeat() > 0 {
			heard = time.Since(time.UnixMilli(int64(r.GetLastHeartbeat()))).Round(time.Millisecond).String() + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%t\t%d\t%d\t%d\t%s\t%s\t%s\n", r.GetId(), r.GetState(), r.GetHealthy(),
			r.GetLastAppliedSequence(), r.GetLagEntries(), r.GetLagMs(), heard, r.GetAddress(), r.GetLastError())
	}
	_ = tw.Flush()
}

// ParseID accepts 32 hex characters, or any other text, which is hashed to
// an id (so that `put --id user:42` works).
func ParseID(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("sutractl: --id is required")
	}
	if len(s) == 32 {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	h := sha256.Sum256([]byte(s))
	return h[:16], nil
}

func put(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("put")
	var nf nodeFlags
	addNodeFlags(fs, &nf, false, "comma-separated node addresses; the write goes to the leader among them, or the one a replica names")
	follow := fs.Bool("follow-leader", true, "find the leader and retry there; false sends the write once to the first address")
	id := fs.String("id", "", "concept id: 32 hex characters, or text that is hashed to an id")
	content := fs.String("content", "", "concept content")
	strength := fs.Float64("strength", 1, "strength")
	confidence := fs.Float64("confidence", 1, "confidence")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := ParseID(*id)
	if err != nil {
		return err
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
	fmt.Fprintf(out, "wrote %x at sequence %d on %s\n", b, resp.GetSequence(), addr)
	return nil
}

func get(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("get")
	var nf nodeFlags
	addNodeFlags(fs, &nf, true, "comma-separated node addresses (leaders or replicas); the first that answers serves the read")
	id := fs.String("id", "", "concept id: 32 hex characters, or the text used with put")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := ParseID(*id)
	if err != nil {
		return err
	}
	cl, ctx, cancel, err := nf.open(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	defer cl.Close()
	var c *storagepb.Concept
	if _, err := nf.read(ctx, cl, func(ctx context.Context, cc *grpc.ClientConn) (err error) {
		c, err = storagepb.NewStorageServiceClient(cc).GetConcept(ctx, &storagepb.GetConceptRequest{Id: b})
		return err
	}); err != nil {
		return fmt.Errorf("sutractl: get: %w", err)
	}
	fmt.Fprintf(out, "id %x\ncontent %q\nstrength %g confidence %g\nupdated %s\n", c.GetId(), c.GetContent(),
		c.GetStrength(), c.GetConfidence(), time.Unix(0, c.GetUpdatedUnixNanos()).UTC().Format(time.RFC3339Nano))
	return nil
}

func stats(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("stats")
	addrs := fs.String("addr", "127.0.0.1:50051", "comma-separated node addresses; one row each")
	if err := fs.Parse(args); err != nil {
		return err
	}
	list, err := ParseAddrs(*addrs)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLE\tCONCEPTS\tASSOCIATIONS\tAPPLIED\tDIGEST")
	for _, a := range list {
		conn, err := dial(a)
		if err != nil {
			return err
		}
		s, err := storagepb.NewStorageServiceClient(conn).GetStats(ctx, &storagepb.GetStatsRequest{})
		_ = conn.Close()
		if err != nil {
			return fmt.Errorf("sutractl: stats from %s: %w", a, err)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\n", s.GetNodeId(), s.GetRole(), s.GetConceptCount(), s.GetAssociationCount(),
			s.GetAppliedSequence(), s.GetDigest())
	}
	return tw.Flush()
}

func addrOr(addr, list string) string {
	if addr != "" {
		return addr
	}
	return list
}
