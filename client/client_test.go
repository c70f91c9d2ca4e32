package client

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestNewRefusesBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Addrs: []string{"a:1"}, Streams: -1},
		{Addrs: []string{"a:1"}, LeaderWait: -time.Second},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) = nil error", cfg)
		}
	}
	c, err := New(Config{Addrs: []string{"a:1"}})
	if err != nil || c.cfg.Streams != DefaultStreams || c.cfg.LeaderWait != DefaultLeaderWait {
		t.Fatalf("New with defaults: %+v, %v", c.cfg, err)
	}
}

// deadAddr is a 127.0.0.1 port nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// Without a node that answers, a write fails UNAVAILABLE after LeaderWait,
// not before (the last attempt is made at the deadline, whatever the
// backoff), naming what the nodes said, and never as an unknown outcome.
func TestWriteWithoutLeaderFailsAfterLeaderWait(t *testing.T) {
	c, err := New(Config{Addrs: []string{deadAddr(t), deadAddr(t)}, LeaderWait: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	start := time.Now()
	_, err = c.Write(context.Background(), DeleteConcept(make([]byte, 16)))
	took := time.Since(start)
	if status.Code(err) != codes.Unavailable || errors.Is(err, ErrUnknownOutcome) || !strings.Contains(err.Error(), "no leader") {
		t.Fatalf("write without a leader: %v", err)
	}
	if took < 500*time.Millisecond || took > 5*time.Second {
		t.Fatalf("gave up after %v, want about LeaderWait (500ms)", took)
	}
}

// The caller's context bounds the search for a leader too: between
// attempts (nothing listens) and during one (a node that accepts the
// connection and never answers).
func TestWriteStopsWithItsContext(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = silent.Close() }()
	for name, addr := range map[string]string{"nothing listens": deadAddr(t), "silent node": silent.Addr().String()} {
		c, err := New(Config{Addrs: []string{addr}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		start := time.Now()
		_, err = c.Write(ctx, DeleteConcept(make([]byte, 16)))
		took := time.Since(start)
		cancel()
		_ = c.Close()
		if status.Code(err) != codes.DeadlineExceeded || took > time.Second {
			t.Errorf("%s: write with an ending context: %v after %v, want DEADLINE_EXCEEDED after about 200ms", name, err, took)
		}
	}
}

func TestWriteRefusesEmptyOpAndClosedClient(t *testing.T) {
	c, err := New(Config{Addrs: []string{deadAddr(t)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(context.Background(), Op{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("empty op: %v, want INVALID_ARGUMENT", err)
	}
	_ = c.Close()
	if _, err := c.Write(context.Background(), DeleteConcept(make([]byte, 16))); status.Code(err) != codes.Canceled {
		t.Errorf("write after Close: %v, want CANCELED", err)
	}
}

// pick fills the first stream up to spillAt writes in flight, then the
// next; a slot not open or ended is opened before any busy one is used;
// when every stream is full, the least busy takes the write.
func TestPickFillsOneStreamBeforeTheNext(t *testing.T) {
	const absent, ended = -1, -2
	for _, c := range []struct {
		name     string
		inflight []int32
		slot     int
		open     bool // the slot's stream is open and is used as it is
	}{
		{"nothing open", []int32{absent, absent, absent}, 0, false},
		{"first has room", []int32{spillAt - 1, absent, absent}, 0, true},
		{"first full: open the second", []int32{spillAt, absent, absent}, 1, false},
		{"first ended", []int32{ended, 3, absent}, 0, false},
		{"second has room", []int32{spillAt, 5, absent}, 1, true},
		{"all full: least busy", []int32{spillAt + 9, spillAt + 2, spillAt + 4}, 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &session{streams: make([]atomic.Pointer[writeStream], len(c.inflight))}
			for i, n := range c.inflight {
				if n == absent {
					continue
				}
				w := &writeStream{ended: make(chan struct{})}
				if n == ended {
					close(w.ended)
				} else {
					w.inflight.Store(n)
				}
				s.streams[i].Store(w)
			}
			slot, w := s.pick()
			if slot != c.slot || (w != nil) != c.open {
				t.Fatalf("pick = slot %d, stream %v; want slot %d, open %t", slot, w != nil, c.slot, c.open)
			}
		})
	}
}
