package sutractl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sutra/sutra-operator/internal/discovery"
)

// Finding the leader.
//
// --addr takes a comma-separated list of nodes. A write goes to the leader:
// with several addresses the client first asks each one for its replication
// status and picks the node whose role is "leader" (the highest epoch if
// several claim it); with one address it writes there directly. A replica
// refuses a write with FAILED_PRECONDITION and the token leader=<addr>
// (proto/storage.proto); the client retries at that address at once. When
// no leader is known (nobody answers, or a replica does not know its leader)
// it asks every node again after an exponential backoff. It gives up after
// maxAttempts writes or when the deadline (--timeout) passes, whichever is
// first. Writes are retried only where the server refused them or could not
// be reached; sutractl's writes are idempotent (put replaces a concept), so a
// retry after a lost reply does no harm.
//
// A read goes to the first address that answers; --read-from leader sends it
// to the leader, found as for writes, to read one's own writes.

// maxAttempts bounds the writes tried for one command.
const maxAttempts = 8

// DefaultPort is the port of an --addr entry given without one: a node's
// default gRPC port (SUTRA_STORAGE_SERVER 0.0.0.0:50051).
const DefaultPort = "50051"

// ParseAddrs splits a comma-separated list of node addresses, ignoring
// blanks around and between them. An address without a port gets
// DefaultPort (gRPC would otherwise dial 443); an empty port or an address
// that is not host:port is refused.
func ParseAddrs(s string) ([]string, error) {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		host, port, err := net.SplitHostPort(a)
		var ae *net.AddrError
		switch {
		case errors.As(err, &ae) && ae.Err == "missing port in address":
			host, port = strings.TrimSuffix(strings.TrimPrefix(a, "["), "]"), DefaultPort
		case err != nil:
			return nil, fmt.Errorf("sutractl: address %q: want host:port", a)
		case port == "":
			return nil, fmt.Errorf("sutractl: address %q: empty port", a)
		}
		if host == "" {
			return nil, fmt.Errorf("sutractl: address %q: empty host", a)
		}
		out = append(out, net.JoinHostPort(host, port))
	}
	if len(out) == 0 {
		return nil, errors.New("sutractl: --addr needs at least one node address")
	}
	return out, nil
}

// action is what to do after a write attempt.
type action int

const (
	done       action = iota // the write succeeded
	redirect                 // retry at once at the returned address
	rediscover               // ask every node again after a backoff
	giveUp                   // the error is final
)

func (a action) String() string {
	return [...]string{"done", "redirect", "rediscover", "give up"}[a]
}

// afterWrite decides what follows a write to addr that returned err.
func afterWrite(addr string, err error) (action, string) {
	if err == nil {
		return done, addr
	}
	if hint, ok := discovery.LeaderHint(err); ok {
		if hint != "" && hint != addr {
			return redirect, hint
		}
		return rediscover, "" // a replica that does not know the leader, or names itself
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted:
		return rediscover, "" // down, starting, shutting down, or unreachable
	}
	return giveUp, ""
}

// cluster is the set of nodes a command was given, with one connection per
// address used. Not safe for concurrent use.
type cluster struct {
	addrs []string
	conns map[string]*grpc.ClientConn
	ctx   context.Context // carries the run's transport; never cancelled by cluster
}

func newCluster(ctx context.Context, addrs []string) *cluster {
	return &cluster{addrs: addrs, conns: map[string]*grpc.ClientConn{}, ctx: ctx}
}

func (c *cluster) conn(addr string) (*grpc.ClientConn, error) {
	if cc, ok := c.conns[addr]; ok {
		return cc, nil
	}
	cc, err := dial(c.ctx, addr)
	if err != nil {
		return nil, err
	}
	c.conns[addr] = cc
	return cc, nil
}

// Close closes every connection.
func (c *cluster) Close() {
	for _, cc := range c.conns {
		_ = cc.Close()
	}
}

// statuses asks every node for its replication status, in parallel.
func (c *cluster) statuses(ctx context.Context) []discovery.Status {
	return discovery.Probe(ctx, c.addrs, c.conn)
}

// findLeader asks every node and returns the leader, retrying with backoff
// until one is found or ctx ends.
func (c *cluster) findLeader(ctx context.Context) (string, error) {
	for retries := 0; ; retries++ {
		sts := c.statuses(ctx)
		if l := discovery.Choose(sts); l != "" {
			return l, nil
		}
		if err := discovery.Sleep(ctx, discovery.Delay(retries)); err != nil {
			return "", fmt.Errorf("sutractl: no leader found among %s", discovery.Describe(sts))
		}
	}
}

// write runs fn against the leader, following the rules at the top of this
// file, and returns the address it succeeded on.
func (c *cluster) write(ctx context.Context, fn func(context.Context, *grpc.ClientConn) error) (string, error) {
	target := ""
	if len(c.addrs) == 1 {
		target = c.addrs[0]
	}
	var lastErr error
	retries := 0
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if target == "" {
			sts := c.statuses(ctx)
			if target = discovery.Choose(sts); target == "" {
				target = discovery.FirstAnswering(sts) // it will name the leader if it knows
			}
			if target == "" {
				lastErr = fmt.Errorf("no node answered: %s", discovery.Describe(sts))
				if err := discovery.Sleep(ctx, discovery.Delay(retries)); err != nil {
					break
				}
				retries++
				continue
			}
		}
		cc, err := c.conn(target)
		if err == nil {
			err = fn(ctx, cc)
		}
		next, addr := afterWrite(target, err)
		switch next {
		case done:
			return target, nil
		case giveUp:
			return target, err
		}
		lastErr = fmt.Errorf("%s: %w", target, err)
		target = addr
		if next == rediscover {
			if discovery.Sleep(ctx, discovery.Delay(retries)) != nil {
				break
			}
			retries++
		}
	}
	why := fmt.Sprintf("%d attempts", maxAttempts)
	if ctx.Err() != nil {
		why = "--timeout"
	}
	return "", fmt.Errorf("sutractl: no leader accepted the write (gave up after %s): %w", why, lastErr)
}

// read runs fn against the first node that answers, in the order given. A
// node answers unless the call fails as unreachable or unavailable; any
// other error (NotFound) is its answer.
func (c *cluster) read(ctx context.Context, fn func(context.Context, *grpc.ClientConn) error) (string, error) {
	var errs []error
	for _, a := range c.addrs {
		cc, err := c.conn(a)
		if err == nil {
			if err = fn(ctx, cc); status.Code(err) != codes.Unavailable && status.Code(err) != codes.DeadlineExceeded {
				return a, err
			}
		}
		errs = append(errs, fmt.Errorf("%s: %w", a, err))
		if ctx.Err() != nil {
			break
		}
	}
	return "", fmt.Errorf("sutractl: no node answered: %w", errors.Join(errs...))
}

// readLeader runs fn against the leader.
func (c *cluster) readLeader(ctx context.Context, fn func(context.Context, *grpc.ClientConn) error) (string, error) {
	l, err := c.findLeader(ctx)
	if err != nil {
		return "", err
	}
	cc, err := c.conn(l)
	if err != nil {
		return l, err
	}
	return l, fn(ctx, cc)
}
