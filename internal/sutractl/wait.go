package sutractl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sutra/sutra-operator/internal/discovery"
	"github.com/sutra/sutra-operator/internal/pb/replicationpb"
)

// waitPoll is how often wait asks the nodes again.
const waitPoll = 100 * time.Millisecond

// waitCmd blocks until the --addr nodes are ready, so that a script can
// start nodes in the background and use them on the next line:
//
//	--for serving    every node answers GetStats
//	--for streaming  every node serves, and the leader among them reports
//	                 every other listed node as a replica in state
//	                 "streaming" (with only the leader listed: every replica
//	                 in its table, and at least one)
//
// It fails after --timeout naming what it was still waiting for.
func waitCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags(ctx, "wait")
	addrs := fs.String("addr", "127.0.0.1:50051", "comma-separated node addresses to wait for")
	what := fs.String("for", "serving", `"serving": every node answers GetStats; "streaming": also, the leader's replication table shows every other listed node streaming`)
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	list, err := ParseAddrs(*addrs)
	if err != nil {
		return err
	}
	var check func(context.Context, []string) error
	switch *what {
	case "serving":
		check = serving
	case "streaming":
		check = streaming
	default:
		return fmt.Errorf("sutractl wait: --for must be serving or streaming, not %q", *what)
	}
	start := time.Now()
	deadline := start.Add(*timeout)
	for {
		probeEnd := time.Now().Add(discovery.ProbeTimeout)
		if deadline.Before(probeEnd) {
			probeEnd = deadline
		}
		cctx, cancel := context.WithDeadline(ctx, probeEnd)
		err = check(cctx, list)
		cancel()
		if err == nil {
			fmt.Fprintf(out, "%s: %s after %s\n", strings.Join(list, ","), *what, time.Since(start).Round(time.Millisecond))
			return nil
		}
		if ctx.Err() != nil || !time.Now().Add(waitPoll).Before(deadline) {
			return fmt.Errorf("sutractl wait: timed out after %s waiting for %s to be %s: %w", *timeout, strings.Join(list, ","), *what, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(waitPoll):
		}
	}
}

// serving is nil when every node answers GetStats.
func serving(ctx context.Context, list []string) error {
	var errs []error
	for _, a := range list {
		if _, err := nodeStats(ctx, a, discovery.ProbeTimeout); err != nil {
			errs = append(errs, fmt.Errorf("%s not serving: %w", a, err))
		}
	}
	return errors.Join(errs...)
}

// streaming is nil when the leader among list reports every other node of
// list as a streaming replica.
func streaming(ctx context.Context, list []string) error {
	if err := serving(ctx, list); err != nil {
		return err
	}
	c := newCluster(ctx, list)
	defer c.Close()
	sts := make([]*replicationpb.ReplicationStatusResponse, len(list))
	var leader *replicationpb.ReplicationStatusResponse
	var leaderAddr string
	for i, a := range list {
		cc, err := c.conn(a)
		if err == nil {
			sts[i], err = replicationpb.NewReplicationServiceClient(cc).GetReplicationStatus(ctx, &replicationpb.ReplicationStatusRequest{})
		}
		if err != nil {
			return fmt.Errorf("%s: replication status: %w", a, err)
		}
		if sts[i].GetRole() == "leader" && (leader == nil || sts[i].GetEpoch() > leader.GetEpoch()) {
			leader, leaderAddr = sts[i], a
		}
	}
	if leader == nil {
		return errors.New("no leader among them")
	}
	var missing []string
	for i, a := range list {
		if a == leaderAddr {
			continue
		}
		state := "absent"
		for _, r := range leader.GetReplicas() {
			if r.GetId() == sts[i].GetNodeId() || r.GetAddress() == a {
				state = r.GetState()
			}
		}
		if state != "streaming" {
			missing = append(missing, fmt.Sprintf("replica %s (%s) is %s", sts[i].GetNodeId(), a, state))
		}
	}
	if len(list) == 1 {
		if len(leader.GetReplicas()) == 0 {
			missing = append(missing, "no replica in its table")
		}
		for _, r := range leader.GetReplicas() {
			if r.GetState() != "streaming" {
				missing = append(missing, fmt.Sprintf("replica %s (%s) is %s", r.GetId(), r.GetAddress(), r.GetState()))
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("on leader %s: %s", leaderAddr, strings.Join(missing, "; "))
	}
	return nil
}
