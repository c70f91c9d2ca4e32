package client

import (
	"context"
	"errors"
	"net"
	"strings"
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
// naming what the nodes said, and never as an unknown outcome.
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
	if took < 300*time.Millisecond || took > 5*time.Second {
		t.Fatalf("gave up after %v, want about LeaderWait (500ms)", took)
	}
}

// The caller's context bounds the search for a leader too.
func TestWriteStopsWithItsContext(t *testing.T) {
	c, err := New(Config{Addrs: []string{deadAddr(t)}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = c.Write(ctx, DeleteConcept(make([]byte, 16)))
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("write with an ending context: %v, want DEADLINE_EXCEEDED", err)
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
