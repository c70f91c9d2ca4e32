package controllers

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/resources"
	"github.com/sutra/sutra-operator/internal/statusclient"
)

// fakeAdmin answers admin calls from a table and records Promote calls.
type fakeAdmin struct {
	nodes    map[string]statusclient.Node // by endpoint; missing: no answer
	promoted map[string]uint64
}

func (f *fakeAdmin) answer(ep string) (statusclient.Node, error) {
	if n, ok := f.nodes[ep]; ok {
		return n, nil
	}
	return statusclient.Node{}, errors.New("connection refused")
}
func (f *fakeAdmin) NodeStatus(_ context.Context, ep string) (statusclient.Node, error) {
	return f.answer(ep)
}
func (f *fakeAdmin) Promote(_ context.Context, ep string, epoch uint64) (statusclient.Node, error) {
	n, err := f.answer(ep)
	if err == nil {
		f.promoted[ep] = epoch
		n.Role, n.Epoch, n.Fenced = resources.RoleLeader, epoch, false
		f.nodes[ep] = n
	}
	return n, err
}
func (f *fakeAdmin) Follow(_ context.Context, ep, _ string, _ uint64) (statusclient.Node, error) {
	return f.answer(ep)
}
func (f *fakeAdmin) Fence(_ context.Context, ep string, _ uint64) (statusclient.Node, error) {
	return f.answer(ep)
}

// TestSwitchoverToASilentTargetIsAbandoned: the leader was fenced for a
// switchover whose target then stopped answering; the operator gives the
// leadership back to it in a new epoch instead of leaving writes fenced.
func TestSwitchoverToASilentTargetIsAbandoned(t *testing.T) {
	c := &sutrav1.SutraCluster{ObjectMeta: metav1.ObjectMeta{Name: "sw", Namespace: "default"},
		Spec: sutrav1.SutraClusterSpec{Image: "x"}}
	c.Status.CurrentLeader, c.Status.TargetLeader, c.Status.Epoch = "sw-1", "sw-2", 3
	pods := map[string]*corev1.Pod{}
	for _, in := range []string{"sw-1", "sw-2", "sw-3"} {
		pods[in] = resources.Pod(c, in, roleFor(in, "sw-1"), followAddress(c, in, "sw-1"))
		pods[in].Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	}
	admin := &fakeAdmin{promoted: map[string]uint64{}, nodes: map[string]statusclient.Node{
		"sw-1": {NodeID: "sw-1", ClusterID: "default.sw", Role: resources.RoleLeader, Fenced: true, Epoch: 3, Durable: 100},
		"sw-3": {NodeID: "sw-3", ClusterID: "default.sw", Role: resources.RoleReplica, Epoch: 3, Durable: 100, Connected: true},
	}}
	scheme := runtime.NewScheme()
	if err := sutrav1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	r := &SutraClusterReconciler{Client: fake.NewClientBuilder().WithScheme(scheme).Build(), Admin: admin,
		PodEndpoint: func(_ *sutrav1.SutraCluster, in string) string { return in }}
	s := newScope(c, time.Now())
	s.instances, s.pods, s.leaderName, s.targetName = []string{"sw-1", "sw-2", "sw-3"}, pods, "sw-1", "sw-2"
	r.observeNodes(context.Background(), s)
	s.leadership.current, s.leadership.target = "sw-1", "sw-2"
	if err := r.changeLeader(context.Background(), s, observed(s)); err != nil {
		t.Fatal(err)
	}
	if s.leadership.target != "sw-1" || s.leadership.current != "sw-1" {
		t.Fatalf("leadership after abandoning: current %s target %s", s.leadership.current, s.leadership.target)
	}
	if got := admin.promoted["sw-1"]; got != 4 {
		t.Fatalf("the fenced leader was promoted in epoch %d, want 4 (and unfenced)", got)
	}
	if len(admin.promoted) != 1 {
		t.Fatalf("promoted %v, want only the old leader", admin.promoted)
	}
}
