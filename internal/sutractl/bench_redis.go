package sutractl

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

func init() {
	// go-redis logs every failed dial to stderr; the bench counts errors.
	redis.SetLogger(quietRedis{})
}

type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// RunRedisBench drives a Redis primary (c.Leader) and its replicas
// (c.Replicas) with the load shapes and the measurements of RunBench, for
// a comparison on the same machine: the same writers, pacing, 100-byte
// values and visibility markers. A write is SET (MSET for a batch); a
// marker is looked up with GET on each replica. Converged means every
// replica reports the primary's replication offset; Digests holds the
// offsets, Redis having no state digest.
func RunRedisBench(ctx context.Context, c BenchConfig) (*BenchResult, error) {
	if c.Workers <= 0 || c.Batch <= 0 || c.Size < 0 || c.Duration <= 0 {
		return nil, fmt.Errorf("sutractl: bench needs positive connections, batch and duration")
	}
	opts := func(addr string, pool int) *redis.Options {
		// RESP2 and no CLIENT SETINFO: the commands every Redis 6 and 7 takes.
		return &redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true, PoolSize: pool, MinIdleConns: pool,
			ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	}
	t := &redisTarget{seed: c.Seed, batch: c.Batch, content: benchContent(c.Size),
		primary: redis.NewClient(opts(c.Leader, c.Workers+1)), replicas: map[string]*redis.Client{}}
	defer t.close()
	for _, r := range c.Replicas {
		t.replicas[r] = redis.NewClient(opts(r, 2))
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	role, err := redisInfo(pctx, t.primary, "replication", "role")
	cancel()
	if err != nil {
		return nil, fmt.Errorf("sutractl: redis %s: %w", c.Leader, err)
	}
	if role != "master" {
		return nil, fmt.Errorf("sutractl: redis %s is a %s, not the primary", c.Leader, role)
	}
	// A replica still in its first sync would show markers seconds late.
	for name, r := range t.replicas {
		if err := redisLinkUp(ctx, r, c.Timeout); err != nil {
			return nil, fmt.Errorf("sutractl: redis replica %s: %w", name, err)
		}
	}
	res := &BenchResult{Leader: c.Leader, Visibility: map[string]Percentiles{}, LeaderLagMax: map[string]uint64{}, RSS: map[string]uint64{}, Digests: map[string]string{}}
	drive(ctx, c, t, res)
	res.Converged = t.converge(ctx, c, res)
	return res, nil
}

// redisTarget writes to a Redis primary.
type redisTarget struct {
	seed     uint64
	batch    int
	content  []byte
	primary  *redis.Client
	replicas map[string]*redis.Client
}

func redisKey(prefix byte, seed, n uint64) string {
	var k [17]byte
	k[0] = prefix
	binary.BigEndian.PutUint64(k[1:9], seed)
	binary.BigEndian.PutUint64(k[9:], n)
	return string(k[:])
}

func (t *redisTarget) write(ctx context.Context, _ int, first uint64) error {
	if t.batch == 1 {
		return t.primary.Set(ctx, redisKey('b', t.seed, first), t.content, 0).Err()
	}
	pairs := make([]any, 0, 2*t.batch)
	for i := 0; i < t.batch; i++ {
		pairs = append(pairs, redisKey('b', t.seed, first+uint64(i)), t.content)
	}
	return t.primary.MSet(ctx, pairs...).Err()
}

func (t *redisTarget) mark(ctx context.Context, n uint64) error {
	return t.primary.Set(ctx, redisKey('m', t.seed, n), "marker", 0).Err()
}

func (t *redisTarget) seen(ctx context.Context, replica string, n uint64) (bool, error) {
	err := t.replicas[replica].Get(ctx, redisKey('m', t.seed, n)).Err()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	return err == nil, err
}

func (t *redisTarget) replicaNames() []string { return slices.Sorted(maps.Keys(t.replicas)) }

func (t *redisTarget) close() {
	_ = t.primary.Close()
	for _, r := range t.replicas {
		_ = r.Close()
	}
}

// converge waits until every replica reports the primary's replication
// offset, and records offsets and resident memory.
func (t *redisTarget) converge(ctx context.Context, c BenchConfig, res *BenchResult) bool {
	want, err := redisInfo(ctx, t.primary, "replication", "master_repl_offset")
	if err != nil {
		return false
	}
	res.Digests[c.Leader] = "offset " + want
	res.RSS[c.Leader] = redisRSS(ctx, t.primary)
	return awaitReplicas(t.replicaNames(), c.Settle, res, func(name string) (string, uint64, bool) {
		got, err := redisInfo(ctx, t.replicas[name], "replication", "slave_repl_offset")
		if err != nil || !redisOffsetAtLeast(got, want) {
			return "", 0, false
		}
		return "offset " + got, redisRSS(ctx, t.replicas[name]), true
	})
}

// redisLinkUp waits until replica r reports its link to the primary up.
func redisLinkUp(ctx context.Context, r *redis.Client, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	deadline := time.Now().Add(timeout)
	for {
		st, err := redisInfo(ctx, r, "replication", "master_link_status")
		switch {
		case err == nil && st == "up":
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("link to the primary not up after %v (status %q, %v)", timeout, st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func redisOffsetAtLeast(got, want string) bool {
	g, err1 := strconv.ParseInt(got, 10, 64)
	w, err2 := strconv.ParseInt(want, 10, 64)
	return err1 == nil && err2 == nil && g >= w
}

func redisRSS(ctx context.Context, c *redis.Client) uint64 {
	v, err := redisInfo(ctx, c, "memory", "used_memory_rss")
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(v, 10, 64)
	return n
}

// redisInfo returns field of INFO section.
func redisInfo(ctx context.Context, c *redis.Client, section, field string) (string, error) {
	info, err := c.Info(ctx, section).Result()
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("INFO %s has no %s", section, field)
}
