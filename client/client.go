package client

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sutra/sutra-operator/internal/discovery"
	"github.com/sutra/sutra-operator/internal/grpcdial"
	"github.com/sutra/sutra-operator/internal/pb/storagepb"
)

// Concept and Association are the messages of proto/storage.proto.
type (
	Concept     = storagepb.Concept
	Association = storagepb.Association
)

// Op is one operation of a write.
type Op struct{ op *storagepb.WriteOp }

// PutConcept creates or replaces a concept.
func PutConcept(c *Concept) Op {
	return Op{&storagepb.WriteOp{Op: &storagepb.WriteOp_WriteConcept{WriteConcept: c}}}
}

// PutAssociation creates or replaces an association.
func PutAssociation(a *Association) Op {
	return Op{&storagepb.WriteOp{Op: &storagepb.WriteOp_WriteAssociation{WriteAssociation: a}}}
}

// DeleteConcept deletes the concept with the 16-byte id and its
// associations.
func DeleteConcept(id []byte) Op {
	return Op{&storagepb.WriteOp{Op: &storagepb.WriteOp_DeleteConcept{DeleteConcept: id}}}
}

// Result is an acknowledged write: its operations got the leader's log
// sequences First to Last, in order.
type Result struct{ First, Last uint64 }

// ErrUnknownOutcome wraps the error of a write that was sent but whose
// result never came (the stream broke or the caller's context ended): the
// leader may or may not have applied it. Such a write is never retried.
var ErrUnknownOutcome = errors.New("client: the write was sent but its result was lost; it may or may not have been applied")

// WithToken is the dial option that sends token as a bearer token with
// every call (docs/security.md: the node's token file). gRPC sends it only
// over TLS, so it goes with transport credentials in Config.DialOptions.
func WithToken(token string) grpc.DialOption {
	return grpc.WithPerRPCCredentials(grpcdial.TokenCredentials(token, true))
}

// Defaults of Config.
const (
	DefaultStreams    = 4
	DefaultLeaderWait = 30 * time.Second
)

// Config says where a cluster is and how to reach it.
type Config struct {
	// Addrs are node addresses (host:port, any gRPC target). The
	// leader is found among them; it may also be a node a replica
	// names.
	Addrs []string
	// DialOptions are added to every connection's, after the client's
	// own: transport credentials (plaintext without any), per-call
	// credentials such as a bearer token.
	DialOptions []grpc.DialOption
	// Streams is the most TCP connections to the leader, each with
	// one write stream shared by the callers; DefaultStreams when 0.
	// A write goes on the first stream with fewer than 128 writes in
	// flight, so another is opened only when that many are.
	Streams int
	// LeaderWait bounds how long one Write looks for a leader that
	// takes it (during a failover, say) before it fails UNAVAILABLE;
	// DefaultLeaderWait when 0. The caller's context bounds it too.
	LeaderWait time.Duration
}

// Client writes to a cluster's leader and reads from it. It is safe for
// concurrent use; the writes of concurrent callers travel together.
type Client struct {
	cfg Config

	findMu sync.Mutex // one leader search at a time

	// Writes read sess and closed without the lock; mu orders changes.
	mu     sync.Mutex
	sess   atomic.Pointer[session] // nil: no leader known
	closed atomic.Bool
	hint   string // where a replica said the leader is
	probes map[string]*grpc.ClientConn
}

// session is the connections to one leader and a stream on each.
type session struct {
	leader  string
	conns   []*grpc.ClientConn
	streams []atomic.Pointer[writeStream] // replaced, under Client.mu, when broken
}

// New checks cfg and returns a client. It connects on first use.
func New(cfg Config) (*Client, error) {
	if len(cfg.Addrs) == 0 {
		return nil, errors.New("client: Config.Addrs needs at least one node address")
	}
	if cfg.Streams < 0 || cfg.LeaderWait < 0 {
		return nil, fmt.Errorf("client: negative Streams (%d) or LeaderWait (%s)", cfg.Streams, cfg.LeaderWait)
	}
	if cfg.Streams == 0 {
		cfg.Streams = DefaultStreams
	}
	if cfg.LeaderWait == 0 {
		cfg.LeaderWait = DefaultLeaderWait
	}
	return &Client{cfg: cfg, probes: map[string]*grpc.ClientConn{}}, nil
}

// Write applies ops as one atomic write on the leader (at most 10,000; see
// BatchWrite in proto/storage.proto) and returns once it is durable and
// applied there, and on the synchronous replicas when the cluster has any.
//
// A write is retried, on the leader found anew, only when it provably was
// not applied: a replica refused it naming the leader, or it never left
// because the stream had ended. An error the leader returned for the write
// (INVALID_ARGUMENT, say) is returned as a gRPC status error. A write that
// was sent and whose result was lost fails with ErrUnknownOutcome.
func (c *Client) Write(ctx context.Context, ops ...Op) (Result, error) {
	pb := make([]*storagepb.WriteOp, len(ops))
	for i, op := range ops {
		if op.op == nil {
			return Result{}, status.Errorf(codes.InvalidArgument, "client: op %d is empty", i)
		}
		pb[i] = op.op
	}
	deadline := time.Now().Add(c.cfg.LeaderWait)
	var last error
	for retries := 0; ; retries++ {
		if retries > 0 {
			// The last attempt is made at the deadline, not a backoff
			// before it.
			left := time.Until(deadline)
			if left <= 0 {
				return Result{}, status.Errorf(codes.Unavailable, "client: no leader took the write within %s: %v", c.cfg.LeaderWait, last)
			}
			if err := discovery.Sleep(ctx, min(discovery.Delay(retries-1), left)); err != nil {
				return Result{}, status.FromContextError(err).Err()
			}
		}
		s, w, err := c.stream(ctx)
		switch {
		case ctx.Err() != nil:
			return Result{}, status.FromContextError(ctx.Err()).Err()
		case errors.Is(err, errClosed):
			return Result{}, err
		case err != nil:
			last = err
			continue
		}
		r, sent, err := w.write(ctx, pb)
		switch {
		case err == nil:
			return Result{First: r.GetFirstSequence(), Last: r.GetLastSequence()}, nil
		case refusedStream(err):
			return Result{}, err // nothing applied; another stream would be refused too
		case !sent:
			last = err // the stream ended: open another
			continue
		}
		if hint, ok := discovery.LeaderHint(err); ok {
			c.lost(s, hint) // refused by a replica: nothing was applied
			last = err
			continue
		}
		if status.Code(err) == codes.Unavailable {
			c.lost(s, "") // a fenced or stopping leader: look again next time
		}
		return Result{}, err
	}
}

// Get reads a concept from the leader, so it shows every write
// acknowledged before it.
func (c *Client) Get(ctx context.Context, id []byte) (*Concept, error) {
	s, err := c.session(ctx)
	if err != nil {
		return nil, err
	}
	return storagepb.NewStorageServiceClient(s.conns[0]).GetConcept(ctx, &storagepb.GetConceptRequest{Id: id})
}

// Leader is the address of the leader the client writes to, found now if
// none is known.
func (c *Client) Leader(ctx context.Context) (string, error) {
	s, err := c.session(ctx)
	if err != nil {
		return "", err
	}
	return s.leader, nil
}

// Close closes every connection. Writes in flight fail.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed.Store(true)
	s, probes := c.sess.Swap(nil), c.probes
	c.probes = nil
	c.mu.Unlock()
	s.close()
	for _, cc := range probes {
		_ = cc.Close()
	}
	return nil
}

var errClosed = status.Error(codes.Canceled, "client: closed")

// spillAt is how many writes a stream carries in flight before the next
// write goes on another: callers that share a stream share its TCP
// packets, its reads and writes on both ends, and the node's work per
// stream, so writes fill one stream before they spread (at 64 writers on
// two cores, one stream gave 10-20% more writes per second than eight).
const spillAt = 128

// session returns the session to the current leader, finding the leader
// if none is known.
func (c *Client) session(ctx context.Context) (*session, error) {
	if c.closed.Load() {
		return nil, errClosed
	}
	if s := c.sess.Load(); s != nil {
		return s, nil
	}
	return c.connect(ctx)
}

// stream returns the current session and the stream the next write goes
// on, finding the leader and opening the stream as needed.
func (c *Client) stream(ctx context.Context) (*session, *writeStream, error) {
	s, err := c.session(ctx)
	if err != nil {
		return nil, nil, err
	}
	slot, w := s.pick()
	if w != nil {
		return s, w, nil
	}
	w, err = openWriteStream(ctx, s.conns[slot])
	if err != nil {
		if ctx.Err() == nil {
			c.lost(s, "") // the caller's end says nothing of the leader
		}
		return nil, nil, fmt.Errorf("client: open a write stream to %s: %w", s.leader, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess.Load() != s {
		w.close() // the session was replaced or closed meanwhile
		return nil, nil, status.Errorf(codes.Unavailable, "client: leader %s was replaced", s.leader)
	}
	if old := s.streams[slot].Load(); old != nil && !old.broken() {
		w.close() // another caller opened it first
		return s, old, nil
	}
	s.streams[slot].Store(w)
	return s, w, nil
}

// pick chooses the stream for a write: the first with fewer than spillAt
// writes in flight, else the least busy. A slot whose stream is not open
// or has ended comes back with a nil stream, to be opened.
func (s *session) pick() (int, *writeStream) {
	best, least := 0, int32(math.MaxInt32)
	for i := range s.streams {
		w := s.streams[i].Load()
		if w == nil || w.broken() {
			return i, nil
		}
		n := w.inflight.Load()
		if n < spillAt {
			return i, w
		}
		if n < least {
			best, least = i, n
		}
	}
	return best, s.streams[best].Load()
}

// connect finds the leader and opens the session to it, unless another
// caller did meanwhile.
func (c *Client) connect(ctx context.Context) (*session, error) {
	c.findMu.Lock()
	defer c.findMu.Unlock()
	if s := c.sess.Load(); s != nil {
		return s, nil
	}
	if c.closed.Load() {
		return nil, errClosed
	}
	c.mu.Lock()
	hint := c.hint
	c.mu.Unlock()
	leader := hint
	if leader == "" {
		sts := discovery.Probe(ctx, c.cfg.Addrs, c.probe)
		if leader = discovery.Choose(sts); leader == "" {
			return nil, status.Errorf(codes.Unavailable, "client: no leader among %s", discovery.Describe(sts))
		}
	}
	s := &session{leader: leader, streams: make([]atomic.Pointer[writeStream], c.cfg.Streams)}
	for range c.cfg.Streams {
		cc, err := grpcdial.Dial(leader, nil, c.cfg.DialOptions...)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("client: %s: %w", leader, err)
		}
		s.conns = append(s.conns, cc)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		s.close()
		return nil, errClosed
	}
	c.sess.Store(s)
	c.hint = ""
	return s, nil
}

// probe is the connection used to ask addr for its status.
func (c *Client) probe(addr string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cc, ok := c.probes[addr]; ok {
		return cc, nil
	}
	if c.closed.Load() {
		return nil, errClosed
	}
	cc, err := grpcdial.Dial(addr, nil, c.cfg.DialOptions...)
	if err != nil {
		return nil, err
	}
	c.probes[addr] = cc
	return cc, nil
}

// lost drops session s, if it is still the current one: its node no longer
// takes writes. hint, when not empty (and not s's own node), is where the
// next search starts.
func (c *Client) lost(s *session, hint string) {
	c.mu.Lock()
	if !c.sess.CompareAndSwap(s, nil) {
		c.mu.Unlock()
		return
	}
	if hint != s.leader {
		c.hint = hint
	}
	c.mu.Unlock()
	s.close()
}

func (s *session) close() {
	if s == nil {
		return
	}
	for i := range s.streams {
		if w := s.streams[i].Load(); w != nil {
			w.close()
		}
	}
	for _, cc := range s.conns {
		_ = cc.Close()
	}
}
