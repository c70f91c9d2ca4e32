package discovery

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestChooseLeader(t *testing.T) {
	down := errors.New("connection refused")
	for _, c := range []struct {
		name string
		sts  []Status
		want string
	}{
		{"none", nil, ""},
		{"one leader", []Status{{Addr: "a", Role: "replica", Epoch: 1, Leader: "b"}, {Addr: "b", Role: "leader", Epoch: 1}}, "b"},
		{"highest epoch wins", []Status{{Addr: "a", Role: "leader", Epoch: 2}, {Addr: "b", Role: "leader", Epoch: 5}, {Addr: "c", Role: "leader", Epoch: 3}}, "b"},
		{"tie: first listed", []Status{{Addr: "a", Role: "leader", Epoch: 4}, {Addr: "b", Role: "leader", Epoch: 4}}, "a"},
		{"failed answers ignored", []Status{{Addr: "a", Role: "leader", Epoch: 9, Err: down}, {Addr: "b", Role: "leader", Epoch: 1}}, "b"},
		{"leader beats a replica's hint", []Status{{Addr: "a", Role: "replica", Epoch: 7, Leader: "x"}, {Addr: "b", Role: "leader", Epoch: 7}}, "b"},
		{"only replicas: their leader", []Status{{Addr: "a", Role: "replica", Epoch: 1, Leader: "old"}, {Addr: "b", Role: "replica", Epoch: 2, Leader: "new"}}, "new"},
		{"replica without a leader", []Status{{Addr: "a", Role: "replica", Epoch: 1}}, ""},
		{"nobody answers", []Status{{Addr: "a", Err: down}, {Addr: "b", Err: down}}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Choose(c.sts); got != c.want {
				t.Errorf("Choose = %q, want %q", got, c.want)
			}
		})
	}
}

func TestLeaderHint(t *testing.T) {
	for _, c := range []struct {
		err    error
		hint   string
		hinted bool
	}{
		{status.Error(codes.FailedPrecondition, "not the leader; leader=10.0.0.1:50051"), "10.0.0.1:50051", true},
		{status.Error(codes.FailedPrecondition, "not the leader; leader="), "", true},
		{status.Error(codes.FailedPrecondition, "node is fenced"), "", false},
		{status.Error(codes.Unavailable, "leader=10.0.0.1:50051"), "", false},
		{fmt.Errorf("plain: leader=x"), "", false},
		{nil, "", false},
	} {
		hint, ok := LeaderHint(c.err)
		if hint != c.hint || ok != c.hinted {
			t.Errorf("LeaderHint(%v) = %q, %t; want %q, %t", c.err, hint, ok, c.hint, c.hinted)
		}
	}
}

func TestDelayGrowsAndIsCapped(t *testing.T) {
	cfg := RetryBackoff
	lo := func(d time.Duration) time.Duration { return time.Duration(float64(d) * (1 - cfg.Jitter)) }
	hi := func(d time.Duration) time.Duration { return time.Duration(float64(d) * (1 + cfg.Jitter)) }
	for retries, base := range map[int]time.Duration{0: cfg.BaseDelay, 1: 80 * time.Millisecond, 30: cfg.MaxDelay} {
		for range 20 {
			if d := Delay(retries); d < lo(base)-time.Millisecond || d > hi(base)+time.Millisecond {
				t.Fatalf("retry %d: %v, want %v ±%.0f%%", retries, d, base, cfg.Jitter*100)
			}
		}
	}
}
