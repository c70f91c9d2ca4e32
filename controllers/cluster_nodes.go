package controllers

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/failover"
	"github.com/sutra/sutra-operator/internal/resources"
	"github.com/sutra/sutra-operator/internal/statusclient"
)

// NodeAdmin calls a storage node's admin service
// (sutra.admin.AdminService); main wires *statusclient.Client. Calls are
// bounded in time; an error means the node did not answer or refused.
type NodeAdmin interface {
	NodeStatus(ctx context.Context, endpoint string) (statusclient.Node, error)
	Promote(ctx context.Context, endpoint string, epoch uint64) (statusclient.Node, error)
	Follow(ctx context.Context, endpoint, leader string, epoch uint64) (statusclient.Node, error)
	Fence(ctx context.Context, endpoint string, epoch uint64) (statusclient.Node, error)
}

// nodeState is one instance's admin answer in this reconcile.
type nodeState struct {
	node statusclient.Node
	err  error
}

// podEndpoint is where the operator reaches an instance's node: its peer
// DNS name, or what the PodEndpoint hook says.
func (r *SutraClusterReconciler) podEndpoint(c *sutrav1.SutraCluster, instance string) string {
	if r.PodEndpoint != nil {
		return r.PodEndpoint(c, instance)
	}
	return resources.PodAddress(c, instance)
}

// observeNodes asks every instance that has a pod for its status, all at
// once. A node that does not answer, or answers for another cluster or
// under another name, is recorded with an error.
func (r *SutraClusterReconciler) observeNodes(ctx context.Context, s *scope) {
	s.nodes = map[string]nodeState{}
	if r.Admin == nil {
		return
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, in := range s.instances {
		if s.pods[in] == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := r.Admin.NodeStatus(ctx, r.podEndpoint(s.cluster, in))
			if err == nil && (n.NodeID != in || n.ClusterID != resources.ClusterID(s.cluster)) {
				err = fmt.Errorf("%s answered as node %q of cluster %q", in, n.NodeID, n.ClusterID)
			}
			mu.Lock()
			s.nodes[in] = nodeState{node: n, err: err}
			mu.Unlock()
		}()
	}
	wg.Wait()
}

// observed is the failover package's view of every instance.
func observed(s *scope) []failover.Instance {
	out := make([]failover.Instance, 0, len(s.instances))
	for _, name := range s.instances {
		in := failover.Instance{Name: name}
		if pod := s.pods[name]; pod != nil {
			in.Pod = true
			in.Ready = podCondition(pod, corev1.PodReady) == corev1.ConditionTrue
			in.Terminating = pod.DeletionTimestamp != nil
			in.UpToDate = resources.PodUpToDate(s.cluster, pod)
		}
		if ns, ok := s.nodes[name]; ok && ns.err == nil {
			n := ns.node
			in.Reachable, in.Role, in.Epoch, in.Durable = true, n.Role, n.Epoch, n.Durable
			in.Diverged, in.Fenced, in.Streaming = n.Diverged, n.Fenced, n.Connected
		}
		out = append(out, in)
	}
	return out
}

func instanceByName(list []failover.Instance, name string) failover.Instance {
	for _, in := range list {
		if in.Name == name {
			return in
		}
	}
	return failover.Instance{Name: name}
}
