package controllers

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

func planCluster() *sutrav1.SutraCluster {
	return &sutrav1.SutraCluster{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"}}
}

func TestPlanInstances(t *testing.T) {
	legacy := []string{"s-leader-0", "s-replica-0", "s-replica-1"}
	tests := []struct {
		name               string
		have               []string
		taken              []string
		leader             string
		want               int
		keep, add, remove  []string
		instancesAfterPlan []string
	}{
		{name: "new cluster: the leader first", leader: "s-1", want: 3,
			add: []string{"s-1", "s-2", "s-3"}, instancesAfterPlan: []string{"s-1", "s-2", "s-3"}},
		{name: "new cluster without replicas", leader: "s-1", want: 1,
			add: []string{"s-1"}, instancesAfterPlan: []string{"s-1"}},
		{name: "steady", have: []string{"s-3", "s-1", "s-2"}, leader: "s-1", want: 3,
			keep: []string{"s-1", "s-2", "s-3"}, instancesAfterPlan: []string{"s-1", "s-2", "s-3"}},
		{name: "scale up after s-1..s-3", have: []string{"s-1", "s-2", "s-3"}, leader: "s-1", want: 4,
			keep: []string{"s-1", "s-2", "s-3"}, add: []string{"s-4"}, instancesAfterPlan: []string{"s-1", "s-2", "s-3", "s-4"}},
		{name: "scale up continues after the highest serial, not into gaps", have: []string{"s-1", "s-3"}, leader: "s-1", want: 4,
			keep: []string{"s-1", "s-3"}, add: []string{"s-4", "s-5"}, instancesAfterPlan: []string{"s-1", "s-3", "s-4", "s-5"}},
		{name: "scale down removes the newest replicas", have: []string{"s-1", "s-2", "s-3", "s-4"}, leader: "s-1", want: 2,
			keep: []string{"s-1", "s-2"}, remove: []string{"s-3", "s-4"}, instancesAfterPlan: []string{"s-1", "s-2"}},
		{name: "scale down never removes the leader", have: []string{"s-1", "s-2", "s-3", "s-4"}, leader: "s-4", want: 2,
			keep: []string{"s-1", "s-4"}, remove: []string{"s-2", "s-3"}, instancesAfterPlan: []string{"s-1", "s-4"}},
		{name: "scale down to the leader alone", have: []string{"s-1", "s-2", "s-3"}, leader: "s-2", want: 1,
			keep: []string{"s-2"}, remove: []string{"s-1", "s-3"}, instancesAfterPlan: []string{"s-2"}},
		{name: "serials sort numerically", have: []string{"s-9", "s-10", "s-2"}, leader: "s-2", want: 2,
			keep: []string{"s-2", "s-9"}, remove: []string{"s-10"}, instancesAfterPlan: []string{"s-2", "s-9"}},
		{name: "legacy names are kept", have: legacy, leader: "s-leader-0", want: 3,
			keep: legacy, instancesAfterPlan: legacy},
		{name: "legacy scale up: new serials start at 1 after them", have: legacy, leader: "s-leader-0", want: 5,
			keep: legacy, add: []string{"s-1", "s-2"}, instancesAfterPlan: []string{"s-leader-0", "s-replica-0", "s-replica-1", "s-1", "s-2"}},
		{name: "legacy scale down removes the newest, the legacy leader stays", have: []string{"s-leader-0", "s-replica-0", "s-replica-1", "s-1"}, leader: "s-leader-0", want: 2,
			keep: []string{"s-leader-0", "s-replica-0"}, remove: []string{"s-1", "s-replica-1"}, instancesAfterPlan: []string{"s-leader-0", "s-replica-0"}},
		{name: "serials of retained claims are not reused", have: []string{"s-1", "s-2"}, taken: []string{"s-1", "s-2", "s-3", "s-4"}, leader: "s-1", want: 3,
			keep: []string{"s-1", "s-2"}, add: []string{"s-5"}, instancesAfterPlan: []string{"s-1", "s-2", "s-5"}},
		{name: "lost leader claim is made again with its name", have: []string{"s-2", "s-3"}, leader: "s-1", want: 3,
			keep: []string{"s-2", "s-3"}, add: []string{"s-1"}, instancesAfterPlan: []string{"s-1", "s-2", "s-3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := planCluster()
			have := slices.Clone(tc.have)
			keep, add, remove := planInstances(c, have, tc.taken, tc.leader, tc.want)
			if !slices.Equal(keep, tc.keep) || !slices.Equal(add, tc.add) || !slices.Equal(remove, tc.remove) {
				t.Errorf("planInstances(%v, leader %s, %d):\n keep %v add %v remove %v\nwant keep %v add %v remove %v",
					tc.have, tc.leader, tc.want, keep, add, remove, tc.keep, tc.add, tc.remove)
			}
			if len(keep)+len(add) != tc.want {
				t.Errorf("%d instances after the plan, want %d", len(keep)+len(add), tc.want)
			}
			if after := sortInstances(c, append(slices.Clone(keep), add...)); !slices.Equal(after, tc.instancesAfterPlan) {
				t.Errorf("instances after the plan = %v, want %v", after, tc.instancesAfterPlan)
			}
			if slices.Contains(remove, tc.leader) {
				t.Errorf("plan removes the leader %s", tc.leader)
			}
			if !slices.Equal(have, tc.have) {
				t.Errorf("planInstances changed its input: %v", have)
			}
		})
	}
}

func TestSortInstances(t *testing.T) {
	c := planCluster()
	tests := []struct{ in, want []string }{
		{nil, nil},
		{[]string{"s-3", "s-1", "s-2"}, []string{"s-1", "s-2", "s-3"}},
		{[]string{"s-10", "s-9", "s-1"}, []string{"s-1", "s-9", "s-10"}},
		{[]string{"s-2", "s-replica-1", "s-leader-0", "s-1", "s-replica-0"}, []string{"s-leader-0", "s-replica-0", "s-replica-1", "s-1", "s-2"}},
		// Names that are not serials (s-03) sort with the legacy names.
		{[]string{"s-1", "s-03"}, []string{"s-03", "s-1"}},
	}
	for _, tc := range tests {
		in := slices.Clone(tc.in)
		got := sortInstances(c, in)
		if !slices.Equal(got, tc.want) {
			t.Errorf("sortInstances(%v) = %v, want %v", tc.in, got, tc.want)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("sortInstances sorted its input in place: %v", in)
		}
	}
}

func TestLeaderNames(t *testing.T) {
	tests := []struct {
		name                 string
		current, target      string // status
		have                 []string
		wantCurrent, wantTgt string
	}{
		{name: "new cluster: s-1", wantCurrent: "s-1", wantTgt: "s-1"},
		{name: "status empty, s-1 exists", have: []string{"s-1", "s-2"}, wantCurrent: "s-1", wantTgt: "s-1"},
		{name: "legacy leader claim adopted", have: []string{"s-replica-0", "s-leader-0", "s-replica-1"}, wantCurrent: "s-leader-0", wantTgt: "s-leader-0"},
		{name: "status empty, no s-1 and no legacy leader: the first instance", have: []string{"s-3", "s-2"}, wantCurrent: "s-2", wantTgt: "s-2"},
		{name: "status currentLeader wins", current: "s-3", have: []string{"s-1", "s-2", "s-3"}, wantCurrent: "s-3", wantTgt: "s-3"},
		{name: "status currentLeader wins over the legacy leader", current: "s-replica-1", have: []string{"s-leader-0", "s-replica-0", "s-replica-1"},
			wantCurrent: "s-replica-1", wantTgt: "s-replica-1"},
		{name: "target from status", current: "s-1", target: "s-2", have: []string{"s-1", "s-2"}, wantCurrent: "s-1", wantTgt: "s-2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := planCluster()
			c.Status.CurrentLeader, c.Status.TargetLeader = tc.current, tc.target
			cur, tgt := leaderNames(c, tc.have)
			if cur != tc.wantCurrent || tgt != tc.wantTgt {
				t.Errorf("leaderNames = %q, %q; want %q, %q", cur, tgt, tc.wantCurrent, tc.wantTgt)
			}
		})
	}
}

func TestRoleAndFollowAddress(t *testing.T) {
	c := planCluster()
	if roleFor("s-1", "s-1") != "leader" || roleFor("s-2", "s-1") != "replica" {
		t.Error("roleFor")
	}
	if got := followAddress(c, "s-1", "s-1"); got != "" {
		t.Errorf("leader follows %q, want nobody", got)
	}
	if got := followAddress(c, "s-2", "s-1"); got != "s-1.s-peers.ns.svc:50051" {
		t.Errorf("replica follows %q", got)
	}
}
