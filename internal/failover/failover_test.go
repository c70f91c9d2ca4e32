package failover

import (
	"strings"
	"testing"
	"time"
)

func up(name string, epoch, durable uint64) Instance {
	return Instance{Name: name, Pod: true, Ready: true, UpToDate: true, Reachable: true, Role: "replica",
		Epoch: epoch, Durable: durable, Streaming: true}
}

func with(in Instance, f func(*Instance)) Instance { f(&in); return in }

func TestUnavailable(t *testing.T) {
	cut := with(up("c-2", 1, 1), func(i *Instance) { i.Streaming = false })
	for _, tc := range []struct {
		name   string
		leader Instance
		others []Instance
		want   bool
	}{
		{"answers", Instance{Name: "l", Pod: true, Ready: true, Reachable: true}, nil, false},
		{"answers, pod not ready", Instance{Name: "l", Pod: true, Reachable: true}, nil, false},
		{"silent, pod ready, replicas stream", Instance{Name: "l", Pod: true, Ready: true}, []Instance{up("c-2", 1, 1), cut}, false},
		{"silent, pod ready, no replica answers", Instance{Name: "l", Pod: true, Ready: true}, []Instance{{Name: "c-2"}}, false},
		{"silent, pod ready, no replica streams", Instance{Name: "l", Pod: true, Ready: true}, []Instance{cut, with(cut, func(i *Instance) { i.Name = "c-3" })}, true},
		{"silent, pod not ready", Instance{Name: "l", Pod: true}, nil, true},
		{"no pod", Instance{Name: "l"}, nil, true},
		{"terminating, still answers", Instance{Name: "l", Pod: true, Ready: true, Reachable: true, Terminating: true}, nil, true},
	} {
		got, why := Unavailable(tc.leader, tc.others)
		if got != tc.want || got != (why != "") {
			t.Errorf("%s: Unavailable = %v %q, want %v", tc.name, got, why, tc.want)
		}
	}
}

func TestChoose(t *testing.T) {
	leader := Instance{Name: "c-1", Pod: true}
	async, required := Sync{}, Sync{Replicas: 1, Required: true}
	for _, tc := range []struct {
		name      string
		instances []Instance
		sync      Sync
		target    string
		blocked   string // substring
		mayLose   bool
	}{
		{"most advanced wins", []Instance{leader, up("c-2", 1, 90), up("c-3", 1, 100)}, async, "c-3", "", true},
		{"newer epoch beats longer log", []Instance{leader, up("c-2", 2, 50), up("c-3", 1, 100)}, async, "c-2", "", true},
		{"tie: ready first", []Instance{leader, with(up("c-2", 1, 100), func(i *Instance) { i.Ready = false }), up("c-3", 1, 100)}, async, "c-3", "", true},
		{"tie: up to date first", []Instance{leader, with(up("c-2", 1, 100), func(i *Instance) { i.UpToDate = false }), up("c-3", 1, 100)}, async, "c-3", "", true},
		{"tie: first name", []Instance{leader, up("c-3", 1, 100), up("c-2", 1, 100)}, async, "c-2", "", true},
		{"silent replica skipped", []Instance{leader, with(up("c-2", 1, 200), func(i *Instance) { i.Reachable = false }), up("c-3", 1, 100)}, async, "c-3", "", true},
		{"diverged replica skipped", []Instance{leader, with(up("c-2", 1, 200), func(i *Instance) { i.Diverged = true }), up("c-3", 1, 100)}, async, "c-3", "", true},
		{"terminating replica skipped", []Instance{leader, with(up("c-2", 1, 200), func(i *Instance) { i.Terminating = true }), up("c-3", 1, 100)}, async, "c-3", "", true},
		{"no replicas", []Instance{leader}, async, "", "has no replicas", false},
		{"none answers", []Instance{leader, with(up("c-2", 1, 1), func(i *Instance) { i.Reachable = false })}, async, "", "c-2 (does not answer)", false},
		{"required, all answer", []Instance{leader, up("c-2", 1, 100), up("c-3", 1, 90)}, required, "c-2", "", false},
		{"required k=1 of 2, one silent", []Instance{leader, up("c-2", 1, 100), with(up("c-3", 1, 1), func(i *Instance) { i.Reachable = false })}, required, "", "needs 2 of the 2 replicas", false},
		{"required k=2 of 3, one silent", []Instance{leader, up("c-2", 1, 100), up("c-3", 1, 90), with(up("c-4", 1, 1), func(i *Instance) { i.Reachable = false })}, Sync{Replicas: 2, Required: true}, "c-2", "", false},
		{"preferred, one silent", []Instance{leader, up("c-2", 1, 100), with(up("c-3", 1, 1), func(i *Instance) { i.Reachable = false })}, Sync{Replicas: 1}, "c-2", "", true},
		{"a node answering as leader is no candidate", []Instance{leader, with(up("c-2", 1, 100), func(i *Instance) { i.Role = "leader" })}, async, "", "answers as leader", false},
	} {
		got := Choose("c-1", tc.instances, tc.sync)
		if got.Target != tc.target || got.MayLoseWrites != tc.mayLose || (tc.blocked == "") != (got.Blocked == "") || !strings.Contains(got.Blocked, tc.blocked) {
			t.Errorf("%s: Choose = %+v, want target %q blocked %q mayLose %v", tc.name, got, tc.target, tc.blocked, tc.mayLose)
		}
	}
}

func TestWait(t *testing.T) {
	t0 := time.Unix(1000, 0)
	if got := Wait(t0, t0.Add(2*time.Second), 5*time.Second); got != 3*time.Second {
		t.Errorf("Wait = %v, want 3s", got)
	}
	if got := Wait(t0, t0.Add(6*time.Second), 5*time.Second); got != 0 {
		t.Errorf("Wait = %v, want 0", got)
	}
	if got := Wait(t0, t0, 0); got != 0 {
		t.Errorf("Wait with no delay = %v", got)
	}
}

func TestSwitchover(t *testing.T) {
	leaderIn := with(up("c-1", 1, 100), func(i *Instance) { i.Role = "leader" })
	stale := with(up("c-2", 1, 100), func(i *Instance) { i.UpToDate = false })
	notStreaming := with(up("c-3", 1, 100), func(i *Instance) { i.Streaming = false })
	all := []Instance{leaderIn, stale, notStreaming, up("c-4", 1, 99)}
	if got := SwitchoverTarget("c-1", all, false); got != "c-2" {
		t.Errorf("SwitchoverTarget = %q, want c-2", got)
	}
	if got := SwitchoverTarget("c-1", all, true); got != "c-4" {
		t.Errorf("SwitchoverTarget up to date = %q, want c-4", got)
	}
	if got := SwitchoverTarget("c-1", []Instance{leaderIn, notStreaming}, false); got != "" {
		t.Errorf("SwitchoverTarget = %q, want none", got)
	}
	for _, tc := range []struct{ target, want string }{
		{"c-4", ""},
		{"c-1", "already leads"},
		{"c-3", "does not stream"},
		{"c-9", "not an instance"},
	} {
		if got := CanSwitchTo("c-1", tc.target, all); (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("CanSwitchTo(%s) = %q, want %q", tc.target, got, tc.want)
		}
	}
}
