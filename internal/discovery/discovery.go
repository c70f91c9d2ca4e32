// Package discovery finds a cluster's leader from what its nodes say: each
// node's replication status (its role, epoch and the leader it follows)
// and the leader a replica names when it refuses a write. It is shared by
// sutractl and the Go client, which both write to whichever node leads.
package discovery

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sutra/sutra-operator/internal/pb/replicationpb"
)

// ProbeTimeout bounds one GetReplicationStatus call.
const ProbeTimeout = 2 * time.Second

// Status is one node's answer to GetReplicationStatus.
type Status struct {
	Addr   string // the address asked
	Role   string // "leader" or "replica"
	Epoch  uint64
	Leader string // a replica's leader, "" if it does not know
	Err    error  // the call failed; the other fields are zero
}

// Choose picks the node to write to: among the nodes that answered with
// role "leader", the one with the highest epoch (the first listed on a
// tie), since a deposed leader that has not noticed yet has a lower one.
// Without a leader among them, the leader named by the replica with the
// highest epoch. "" if neither.
func Choose(sts []Status) string {
	var best, hint *Status
	for i := range sts {
		s := &sts[i]
		switch {
		case s.Err != nil:
		case s.Role == "leader":
			if best == nil || s.Epoch > best.Epoch {
				best = s
			}
		case s.Leader != "":
			if hint == nil || s.Epoch > hint.Epoch {
				hint = s
			}
		}
	}
	if best != nil {
		return best.Addr
	}
	if hint != nil {
		return hint.Leader
	}
	return ""
}

// FirstAnswering returns the first node that answered at all, "" if none.
func FirstAnswering(sts []Status) string {
	for _, s := range sts {
		if s.Err == nil {
			return s.Addr
		}
	}
	return ""
}

var leaderToken = regexp.MustCompile(`leader=(\S*)`)

// LeaderHint returns the address in the leader=<addr> token of a
// FAILED_PRECONDITION error (proto/storage.proto: how a replica refuses a
// write), and whether the token is there at all (it may be empty: the
// replica does not know its leader).
func LeaderHint(err error) (string, bool) {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.FailedPrecondition {
		return "", false
	}
	m := leaderToken.FindStringSubmatch(st.Message())
	if m == nil {
		return "", false
	}
	return m[1], true
}

// Probe asks every node for its replication status, in parallel, each
// call bounded by ProbeTimeout. conn returns the connection to a node; a
// node it fails for gets that error.
func Probe(ctx context.Context, addrs []string, conn func(addr string) (*grpc.ClientConn, error)) []Status {
	out := make([]Status, len(addrs))
	conns := make([]*grpc.ClientConn, len(addrs))
	for i, a := range addrs {
		out[i].Addr = a
		conns[i], out[i].Err = conn(a)
	}
	var wg sync.WaitGroup
	for i := range out {
		if out[i].Err != nil {
			continue
		}
		wg.Add(1)
		go func(s *Status, cc *grpc.ClientConn) {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
			defer cancel()
			st, err := replicationpb.NewReplicationServiceClient(cc).GetReplicationStatus(pctx, &replicationpb.ReplicationStatusRequest{})
			if err != nil {
				s.Err = err
				return
			}
			s.Role, s.Epoch, s.Leader = st.GetRole(), st.GetEpoch(), st.GetLeaderAddress()
		}(&out[i], conns[i])
	}
	wg.Wait()
	return out
}

// RetryBackoff paces the search for a leader after a failed one.
var RetryBackoff = backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second}

// Delay is the wait before retry number retries (from 0), following the
// exponential strategy RetryBackoff describes for gRPC's own reconnects:
// BaseDelay·Multiplier^retries, capped at MaxDelay, ±Jitter.
func Delay(retries int) time.Duration {
	cfg := RetryBackoff
	d := float64(cfg.BaseDelay) * math.Pow(cfg.Multiplier, float64(retries))
	d = min(d, float64(cfg.MaxDelay))
	d *= 1 + cfg.Jitter*(rand.Float64()*2-1)
	return time.Duration(d)
}

// Sleep waits for d or until ctx ends, and returns ctx's error then.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Describe summarises statuses for an error message.
func Describe(sts []Status) string {
	parts := make([]string, len(sts))
	for i, s := range sts {
		if s.Err != nil {
			parts[i] = fmt.Sprintf("%s: %v", s.Addr, status.Convert(s.Err).Message())
		} else {
			parts[i] = fmt.Sprintf("%s: %s (epoch %d)", s.Addr, s.Role, s.Epoch)
		}
	}
	return strings.Join(parts, "; ")
}
