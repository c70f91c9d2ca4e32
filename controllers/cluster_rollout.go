package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/failover"
	"github.com/sutra/sutra-operator/internal/resources"
)

// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch

// rollout is what reconcileRollout saw, for status.
type rollout struct {
	outdated []string // instances whose pod runs an older template
	waiting  string   // why the next step waits, for the phase
	blocked  string   // RolloutBlocked message; empty when not blocked
}

// reconcileRollout moves pods to the current template, and the leader off
// a cordoned node, one step per reconcile and only while the cluster is
// whole (every pod ready, every replica streaming within the lag
// threshold, no change of leader under way):
//
//   - the leader's node is cordoned (a drain): switch over to a replica on
//     a node that is not cordoned; the leader's PodDisruptionBudget holds
//     the eviction until then (and for as long as there is none);
//   - an outdated replica: its pod is deleted and made again from the
//     current template, one at a time;
//   - only the leader outdated: with leaderUpdateMethod switchover (the
//     default) switch over to the most advanced updated replica, whose pod
//     the next steps then update as a replica; with restart delete the
//     leader's pod.
//
// An updated pod that fails (ErrImagePull, CrashLoopBackOff,
// Unschedulable) stops the rollout with RolloutBlocked; the leader is not
// touched until a spec change fixes it.
func (r *SutraClusterReconciler) reconcileRollout(ctx context.Context, s *scope) error {
	c, ls, ro := s.cluster, &s.leadership, &s.rollout
	obs := observed(s)
	for _, in := range obs {
		if in.Pod && !in.UpToDate {
			ro.outdated = append(ro.outdated, in.Name)
		}
	}
	if ls.record || ls.target != ls.current || r.Admin == nil || s.fenced {
		return nil
	}
	for _, in := range obs {
		pod := s.pods[in.Name]
		if pod == nil || !in.UpToDate || in.Ready {
			continue
		}
		if st := instanceStatus(c, pod); failingReasons[st.Reason] != "" && len(ro.outdated) > 0 {
			ro.blocked = fmt.Sprintf("updated pod %s does not start: %s: %s; the leader %s is not touched until the spec is fixed", in.Name, st.Reason, st.Message, ls.current)
			if !meta.IsStatusConditionTrue(c.Status.Conditions, sutrav1.ConditionRolloutBlocked) {
				r.event(c, pod, corev1.EventTypeWarning, sutrav1.EventRolloutBlocked, "Rollout", "%s", ro.blocked)
			}
			return nil
		}
	}
	// An outdated replica that does not serve is replaced at once: nothing
	// depends on it (this is how a reverted bad image recovers).
	for _, in := range obs {
		if !in.UpToDate && in.Pod && !in.Ready && !in.Terminating && in.Name != ls.current {
			return r.recreate(ctx, s, in.Name)
		}
	}
	if why := notWhole(s, obs); why != "" {
		ro.waiting = why
		return nil
	}
	if node := r.cordoned(ctx, s.pods[ls.current]); node != "" {
		target := failover.SwitchoverTarget(ls.current, r.awayFromCordoned(ctx, obs, s.pods), false)
		if target == "" {
			ro.waiting = fmt.Sprintf("node %s of leader %s is cordoned, and no replica on an uncordoned node can take over", node, ls.current)
			return nil
		}
		ls.target, ls.record = target, true
		return nil
	}
	if len(ro.outdated) == 0 {
		return nil
	}
	for _, name := range ro.outdated {
		if name != ls.current {
			return r.recreate(ctx, s, name)
		}
	}
	if c.Spec.LeaderUpdateMethod == sutrav1.LeaderUpdateRestart {
		return r.recreate(ctx, s, ls.current)
	}
	if target := failover.SwitchoverTarget(ls.current, obs, true); target != "" {
		ls.target, ls.record = target, true
		return nil
	}
	ro.waiting = "no updated replica is ready to take over from the leader"
	return nil
}

// notWhole says why the cluster is not whole enough for the next rollout
// step, or "".
func notWhole(s *scope, obs []failover.Instance) string {
	var why []string
	for _, in := range obs {
		switch {
		case !in.Pod || in.Terminating || !in.Ready:
			why = append(why, in.Name+" is not ready")
		case !in.Reachable:
			why = append(why, in.Name+" does not answer")
		case in.Name != s.leadership.current && !in.Streaming:
			why = append(why, in.Name+" does not stream from the leader")
		}
	}
	if s.replication == nil {
		why = append(why, "the leader's replication table cannot be read")
	} else {
		threshold := resources.LagThresholdMs(s.cluster)
		for _, rep := range s.replication.Replicas {
			if int64(rep.LagMs) > threshold {
				why = append(why, fmt.Sprintf("%s lags %dms", rep.ID, rep.LagMs))
			}
		}
	}
	return strings.Join(why, ", ")
}

// recreate deletes an instance's pod; reconcileInstances makes it again
// from the current template.
func (r *SutraClusterReconciler) recreate(ctx context.Context, s *scope, name string) error {
	pod := s.pods[name]
	if err := r.Delete(ctx, pod, client.Preconditions{UID: &pod.UID}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete pod %s for the rollout: %w", name, err)
	}
	r.event(s.cluster, pod, corev1.EventTypeNormal, sutrav1.EventInstanceUpdated, "Rollout",
		"Recreating pod %s (%s) with the current pod template", name, roleFor(name, s.leadership.current))
	s.requeue(time.Second)
	return nil
}

// cordoned is the name of pod's node when that node is unschedulable.
func (r *SutraClusterReconciler) cordoned(ctx context.Context, pod *corev1.Pod) string {
	if pod == nil || pod.Spec.NodeName == "" {
		return ""
	}
	node := &corev1.Node{}
	if err := r.Get(ctx, client.ObjectKey{Name: pod.Spec.NodeName}, node); err != nil || !node.Spec.Unschedulable {
		return ""
	}
	return node.Name
}

// awayFromCordoned leaves out the instances whose pod runs on a cordoned
// node: the leader's, and any other being drained too (a switchover there
// would only have to move the leader again).
func (r *SutraClusterReconciler) awayFromCordoned(ctx context.Context, obs []failover.Instance, pods map[string]*corev1.Pod) []failover.Instance {
	var out []failover.Instance
	for _, in := range obs {
		if r.cordoned(ctx, pods[in.Name]) == "" {
			out = append(out, in)
		}
	}
	return out
}

// clustersOnNode maps a Node to the clusters whose leader runs on it, so a
// cordon (the start of a drain) is acted on at once.
func (r *SutraClusterReconciler) clustersOnNode(ctx context.Context, o client.Object) []reconcile.Request {
	list := &sutrav1.SutraClusterList{}
	if err := r.List(ctx, list); err != nil {
		return nil
	}
	var out []reconcile.Request
	for _, c := range list.Items {
		for _, in := range c.Status.Instances {
			if in.Node == o.GetName() && in.Name == c.Status.CurrentLeader {
				out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&c)})
			}
		}
	}
	return out
}
