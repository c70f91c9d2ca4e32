package sutractl

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/sutra/sutra-operator/internal/pb/adminpb"
)

// The admin commands drive sutra.admin.AdminService (proto/admin.proto):
// nodes shows every node's role and position, promote makes a node the
// leader in a new epoch and points the others at it, follow and fence do
// one call each. Epochs default to what the nodes report, so a by-hand
// failover is one command:
//
//	sutractl promote --addr NEW_LEADER,OTHER_NODE,...

// adminFlags are the flags of the admin commands.
type adminFlags struct {
	addr    string
	epoch   uint64
	timeout time.Duration
}

func addAdminFlags(fs *flag.FlagSet, f *adminFlags, addrHelp, epochHelp string) {
	fs.StringVar(&f.addr, "addr", defaultAddr, addrHelp)
	fs.Uint64Var(&f.epoch, "epoch", 0, epochHelp)
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "give up after this long")
}

// adminCmd is a parsed admin command: its nodes, a context bounded by
// --timeout and connections to the nodes (and extra addresses).
type adminCmd struct {
	addrs  []string
	ctx    context.Context
	cancel context.CancelFunc
	c      *cluster
}

func (a *adminCmd) close() { a.cancel(); a.c.Close() }

// parseAdmin parses an admin command's flags; extra adds flags of its own.
func parseAdmin(ctx context.Context, name string, args []string, f *adminFlags, addrHelp, epochHelp string, extra func(*flag.FlagSet)) (*adminCmd, error) {
	fs := newFlags(ctx, name)
	addAdminFlags(fs, f, addrHelp, epochHelp)
	if extra != nil {
		extra(fs)
	}
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	addrs, err := ParseAddrs(addrFlag(ctx, f.addr))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	return &adminCmd{addrs: addrs, ctx: ctx, cancel: cancel, c: newCluster(ctx, addrs)}, nil
}

// adminStatus asks every address for its admin status; a node that does
// not answer gets a nil entry and its error.
func adminStatus(ctx context.Context, c *cluster, addrs []string) ([]*adminpb.NodeStatus, []error) {
	sts, errs := make([]*adminpb.NodeStatus, len(addrs)), make([]error, len(addrs))
	for i, a := range addrs {
		cc, err := c.conn(a)
		if err == nil {
			sts[i], err = adminpb.NewAdminServiceClient(cc).Status(ctx, &adminpb.StatusRequest{})
		}
		errs[i] = err
	}
	return sts, errs
}

func nodesCmd(ctx context.Context, args []string, out io.Writer) error {
	var f adminFlags
	a, err := parseAdmin(ctx, "nodes", args, &f, "comma-separated node addresses", "unused", nil)
	if err != nil {
		return err
	}
	defer a.close()
	addrs := a.addrs
	sts, errs := adminStatus(a.ctx, a.c, addrs)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tID\tROLE\tEPOCH\tDURABLE\tAPPLIED\tFENCED\tLEADER\tDIVERGED\tSET ASIDE\tHISTORY\tERROR")
	var failed error
	for i, st := range sts {
		if errs[i] != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t%v\n", addrs[i], errs[i])
			failed = fmt.Errorf("sutractl: %s: %w", addrs[i], errs[i])
			continue
		}
		fenced := "-"
		if st.GetFenced() {
			fenced = st.GetFenceReason()
		}
		diverged := "-"
		if st.GetDiverged() {
			diverged = fmt.Sprintf("after %d", st.GetForkSequence())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%d\t%08x\t%s\n", addrs[i], st.GetNodeId(), st.GetRole(), st.GetEpoch(),
			st.GetDurableSequence(), st.GetAppliedSequence(), fenced, st.GetLeaderAddress(), diverged, st.GetSetAside(),
			st.GetHistoryChecksum(), st.GetLastError())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return failed
}

// nextEpoch is one past the highest epoch among the nodes that answered.
func nextEpoch(sts []*adminpb.NodeStatus) uint64 {
	var e uint64
	for _, st := range sts {
		e = max(e, st.GetEpoch())
	}
	return e + 1
}

func promoteCmd(ctx context.Context, args []string, out io.Writer) error {
	var f adminFlags
	a, err := parseAdmin(ctx, "promote", args, &f,
		"the node to promote, then the cluster's other nodes: they are told to follow it",
		"the epoch to lead in (default: one past the highest epoch of the listed nodes)", nil)
	if err != nil {
		return err
	}
	defer a.close()
	ctx, c, addrs := a.ctx, a.c, a.addrs
	target := addrs[0]
	sts, _ := adminStatus(ctx, c, addrs) // nodes that are down cannot object
	epoch := f.epoch
	if epoch == 0 {
		epoch = nextEpoch(sts)
	}
	if err := catchUp(ctx, c, target, sts[1:], out); err != nil {
		return err
	}
	cc, err := c.conn(target)
	if err != nil {
		return err
	}
	start := time.Now()
	st, err := adminpb.NewAdminServiceClient(cc).Promote(ctx, &adminpb.PromoteRequest{Epoch: epoch})
	if err != nil {
		return fmt.Errorf("sutractl: promote %s to epoch %d: %w", target, epoch, err)
	}
	fmt.Fprintf(out, "%s (%s) leads epoch %d from sequence %d (%v)\n", target, st.GetNodeId(), st.GetEpoch(),
		st.GetDurableSequence()+1, time.Since(start).Round(time.Millisecond))
	var failed error
	for _, a := range addrs[1:] {
		if err := follow(ctx, c, a, target, epoch, out); err != nil {
			fmt.Fprintln(out, err)
			failed = err
		}
	}
	return failed
}

// catchUp waits until target has made durable everything a fenced leader
// among others holds, so that fence-then-promote loses no acknowledged
// write. A leader that still takes writes is not waited for: promoting
// past it is a failover, and its newest writes may be set aside.
func catchUp(ctx context.Context, c *cluster, target string, others []*adminpb.NodeStatus, out io.Writer) error {
	var want uint64
	for _, st := range others {
		if st != nil && st.GetRole() == "leader" && st.GetFenced() {
			want = max(want, st.GetDurableSequence())
		}
	}
	if want == 0 {
		return nil
	}
	cc, err := c.conn(target)
	if err != nil {
		return err
	}
	for said := false; ; {
		st, err := adminpb.NewAdminServiceClient(cc).Status(ctx, &adminpb.StatusRequest{})
		if err == nil && st.GetDurableSequence() >= want {
			return nil
		}
		if !said {
			fmt.Fprintf(out, "waiting for %s to reach sequence %d, the fenced leader's last durable write\n", target, want)
			said = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sutractl: %s did not reach sequence %d in time: %w", target, want, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func follow(ctx context.Context, c *cluster, addr, leader string, epoch uint64, out io.Writer) error {
	cc, err := c.conn(addr)
	if err != nil {
		return err
	}
	st, err := adminpb.NewAdminServiceClient(cc).Follow(ctx, &adminpb.FollowRequest{LeaderAddress: leader, Epoch: epoch})
	if err != nil {
		return fmt.Errorf("sutractl: %s follow %s in epoch %d: %w", addr, leader, epoch, err)
	}
	fmt.Fprintf(out, "%s (%s) follows %s in epoch %d; %d records set aside since it started\n", addr, st.GetNodeId(), leader, epoch, st.GetSetAside())
	return nil
}

func followCmd(ctx context.Context, args []string, out io.Writer) error {
	var f adminFlags
	var leader string
	a, err := parseAdmin(ctx, "follow", args, &f, "comma-separated nodes to point at --leader",
		"the leader's epoch (default: what --leader reports)", func(fs *flag.FlagSet) {
			fs.StringVar(&leader, "leader", "", "the leader's address (required)")
		})
	if err != nil {
		return err
	}
	defer a.close()
	if leader == "" {
		return fmt.Errorf("sutractl follow: --leader is required")
	}
	ctx, c, addrs := a.ctx, a.c, a.addrs
	epoch := f.epoch
	if epoch == 0 {
		sts, errs := adminStatus(ctx, c, []string{leader})
		if errs[0] != nil {
			return fmt.Errorf("sutractl: status of the leader %s: %w", leader, errs[0])
		}
		if sts[0].GetRole() != "leader" {
			return fmt.Errorf("sutractl: %s is a %s, not a leader", leader, sts[0].GetRole())
		}
		epoch = sts[0].GetEpoch()
	}
	for _, a := range addrs {
		if err := follow(ctx, c, a, leader, epoch, out); err != nil {
			return err
		}
	}
	return nil
}

func fenceCmd(ctx context.Context, args []string, out io.Writer) error {
	var f adminFlags
	cmd, err := parseAdmin(ctx, "fence", args, &f, "the leader to fence",
		"the newest epoch you know of the node (default: the node's own)", nil)
	if err != nil {
		return err
	}
	defer cmd.close()
	ctx, c := cmd.ctx, cmd.c
	for _, a := range cmd.addrs {
		epoch := f.epoch
		if epoch == 0 {
			sts, errs := adminStatus(ctx, c, []string{a})
			if errs[0] != nil {
				return fmt.Errorf("sutractl: %s: %w", a, errs[0])
			}
			epoch = sts[0].GetEpoch()
		}
		cc, err := c.conn(a)
		if err != nil {
			return err
		}
		st, err := adminpb.NewAdminServiceClient(cc).Fence(ctx, &adminpb.FenceRequest{Epoch: epoch})
		if err != nil {
			return fmt.Errorf("sutractl: fence %s: %w", a, err)
		}
		fmt.Fprintf(out, "%s (%s, %s, epoch %d): fenced %t %s\n", a, st.GetNodeId(), st.GetRole(), st.GetEpoch(), st.GetFenced(), st.GetFenceReason())
	}
	return nil
}
