package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/failover"
	"github.com/sutra/sutra-operator/internal/resources"
)

// leadership is what reconcileLeadership decided, written to status.
type leadership struct {
	current, target  string
	unavailableSince *metav1.Time
	last             *sutrav1.FailoverStatus
	// blocked is the FailoverBlocked message; empty when not blocked.
	blocked string
	// record: the decision must reach status before the operator acts on
	// it (a new targetLeader); the reconcile ends after the status write
	// and the next one acts.
	record bool
}

// catchUpWait bounds how long one reconcile waits for a switchover's
// target to reach the fenced leader's last write before it requeues.
const catchUpWait = 5 * time.Second

// reconcileLeadership keeps one leader:
//   - a change recorded in status.targetLeader (a failover chosen earlier,
//     kubectl sutra promote, a rollout, a drain) is carried out;
//   - a leader unavailable for spec.failoverDelay is replaced by the replica
//     failover.Choose picks, recorded first as the target;
//   - otherwise every other node is made to follow the leader.
func (r *SutraClusterReconciler) reconcileLeadership(ctx context.Context, s *scope) error {
	c := s.cluster
	ls := &s.leadership
	ls.current, ls.target = s.leaderName, s.targetName
	ls.unavailableSince, ls.last = c.Status.LeaderUnavailableSince, c.Status.LastFailover
	if r.Admin == nil {
		return nil
	}
	obs := observed(s)
	if ls.target != ls.current {
		return r.changeLeader(ctx, s, obs)
	}
	if c.Annotations[sutrav1.AnnotationFenced] == "true" {
		return r.holdFence(ctx, s, obs)
	}
	if err := r.liftFence(ctx, s, obs); err != nil {
		return err
	}
	down, why := failover.Unavailable(instanceByName(obs, ls.current), obs)
	if !down {
		ls.unavailableSince, ls.blocked = nil, ""
		return r.converge(ctx, s, obs)
	}
	if ls.unavailableSince == nil {
		ls.unavailableSince = ptr.To(metav1.NewTime(s.now).Rfc3339Copy())
	}
	// status keeps whole seconds: the leader may have been unavailable
	// since up to a second after the time recorded, so wait that second too.
	if wait := failover.Wait(ls.unavailableSince.Add(time.Second), s.now, failoverDelay(c)); wait > 0 {
		s.requeue(wait)
		return nil
	}
	choice := failover.Choose(ls.current, obs, syncOf(c))
	if choice.Target == "" {
		ls.blocked = why + "; " + choice.Blocked
		if !meta.IsStatusConditionTrue(c.Status.Conditions, sutrav1.ConditionFailoverBlocked) {
			r.event(c, c, corev1.EventTypeWarning, sutrav1.EventFailoverBlocked, "Failover", "%s", ls.blocked)
		}
		s.requeue(2 * time.Second)
		return nil
	}
	ls.blocked = ""
	ls.target, ls.record = choice.Target, true
	r.event(c, c, corev1.EventTypeWarning, sutrav1.EventFailoverStarted, "Failover",
		"%s; promoting %s", why, choice.Target)
	return nil
}

// holdFence keeps the leader fenced while the cluster carries
// storage.sutra.io/fenced: "true": no failover or switchover then, and
// the other nodes keep following it.
func (r *SutraClusterReconciler) holdFence(ctx context.Context, s *scope, obs []failover.Instance) error {
	c, ls := s.cluster, &s.leadership
	s.fenced, ls.unavailableSince, ls.blocked = true, nil, ""
	leader := instanceByName(obs, ls.current)
	if leader.Reachable && leader.Role == resources.RoleLeader && !leader.Fenced {
		if _, err := r.Admin.Fence(ctx, r.podEndpoint(c, ls.current), leader.Epoch); err != nil {
			return fmt.Errorf("fence %s: %w", ls.current, err)
		}
		r.event(c, c, corev1.EventTypeWarning, sutrav1.ConditionFenced, "Fence",
			"%s refuses writes: the cluster is annotated %s=true", ls.current, sutrav1.AnnotationFenced)
	}
	return r.converge(ctx, s, obs)
}

// liftFence lets a leader that an admin fence holds, with no change of
// leader under way and no fence asked for, take writes again: it is
// promoted in a new epoch (a node leaves a fence only by a role change).
// A self-fenced leader lifts its own fence once it hears from the
// operator or a replica.
func (r *SutraClusterReconciler) liftFence(ctx context.Context, s *scope, obs []failover.Instance) error {
	c, ls := s.cluster, &s.leadership
	leader := instanceByName(obs, ls.current)
	n := s.nodes[ls.current].node
	if !leader.Reachable || leader.Role != resources.RoleLeader || !leader.Fenced || strings.HasPrefix(n.FenceReason, "self-fenced") {
		return nil
	}
	epoch, err := r.promoteAgain(ctx, s, obs)
	if err != nil {
		return fmt.Errorf("lift the fence of %s: %w", ls.current, err)
	}
	r.event(c, c, corev1.EventTypeNormal, sutrav1.ConditionFenced, "Unfence", "%s takes writes again, in epoch %d", ls.current, epoch)
	return nil
}

// promoteAgain ends an admin fence on the current leader the only way a
// node leaves one: a Promote, in an epoch above every epoch seen.
func (r *SutraClusterReconciler) promoteAgain(ctx context.Context, s *scope, obs []failover.Instance) (uint64, error) {
	epoch := maxEpoch(obs, "") + 1
	_, err := r.Admin.Promote(ctx, r.podEndpoint(s.cluster, s.leadership.current), epoch)
	return epoch, err
}

// changeLeader moves the leadership from ls.current to ls.target. Each
// step is safe to repeat, so a restarted operator resumes where it stopped:
//
//  1. if the old leader answers, it is fenced and the target must reach its
//     last durable write (a switchover: nothing acknowledged is lost);
//  2. the role labels move (NAME-rw follows the target) and the old
//     leader's pod is told to follow the target when it restarts;
//  3. the target is promoted in an epoch above every epoch seen;
//  4. every other node that answers is told to follow it;
//  5. status.currentLeader becomes the target once it leads in that epoch.
func (r *SutraClusterReconciler) changeLeader(ctx context.Context, s *scope, obs []failover.Instance) error {
	c, ls := s.cluster, &s.leadership
	log := ctrl.LoggerFrom(ctx)
	old, target := instanceByName(obs, ls.current), instanceByName(obs, ls.target)
	// The target leads in an epoch newer than the last one read from the
	// old leader: an earlier reconcile promoted it.
	promoted := target.Reachable && target.Role == resources.RoleLeader && !target.Fenced && target.Epoch > uint64(c.Status.Epoch)
	switchover := old.Reachable && old.Role == resources.RoleLeader && !old.Terminating
	if !promoted && switchover && !old.Fenced {
		if why := failover.CanSwitchTo(ls.current, ls.target, obs); why != "" {
			// A switchover that has not started yet: refuse it, keep the leader.
			r.event(c, c, corev1.EventTypeWarning, sutrav1.EventFailoverBlocked, "Switchover",
				"switchover to %s refused: %s", ls.target, why)
			ls.target = ls.current
			return nil
		}
		r.event(c, c, corev1.EventTypeNormal, sutrav1.EventSwitchoverStarted, "Switchover",
			"switching over from %s to %s", ls.current, ls.target)
	}
	if !promoted {
		if !target.Reachable && switchover {
			return r.abandonSwitchover(ctx, s, obs, old)
		}
		if !target.Reachable {
			ls.blocked = fmt.Sprintf("target leader %s does not answer", ls.target)
			s.requeue(time.Second)
			return nil
		}
		switch {
		case switchover:
			caughtUp, err := r.fenceAndCatchUp(ctx, s, old)
			if err != nil || !caughtUp {
				s.requeue(200 * time.Millisecond)
				return err
			}
		case old.Reachable:
			// A terminating leader may still take writes for a moment.
			if _, err := r.Admin.Fence(ctx, r.podEndpoint(c, ls.current), old.Epoch); err != nil {
				log.Info("Cannot fence the old leader", "pod", ls.current, "err", err.Error())
			}
		}
		if err := r.setRoles(ctx, s, ls.target); err != nil {
			return err
		}
		epoch := maxEpoch(obs, "") + 1
		n, err := r.Admin.Promote(ctx, r.podEndpoint(c, ls.target), epoch)
		if err != nil {
			s.requeue(time.Second)
			return fmt.Errorf("promote %s in epoch %d: %w", ls.target, epoch, err)
		}
		log.Info("Promoted", "pod", ls.target, "epoch", n.Epoch)
		target.Role, target.Epoch, target.Durable = n.Role, n.Epoch, n.Durable
	} else if err := r.setRoles(ctx, s, ls.target); err != nil {
		return err
	}
	r.followAll(ctx, s, obs, ls.target, target.Epoch)

	reason, lost := sutrav1.FailoverReasonFailover, int64(0)
	if switchover {
		reason = sutrav1.FailoverReasonSwitchover
	} else if syncOf(c).MayLoseWrites() {
		lost = max(0, c.Status.LeaderSequence-int64(target.Durable))
	}
	ls.last = &sutrav1.FailoverStatus{Time: metav1.NewTime(s.now).Rfc3339Copy(), From: ls.current, To: ls.target,
		Reason: reason, Epoch: int64(target.Epoch), EntriesLost: lost}
	r.event(c, c, corev1.EventTypeNormal, sutrav1.EventLeaderChanged, reason,
		"%s leads in epoch %d (was %s); entries lost: %d", ls.target, target.Epoch, ls.current, lost)
	ls.current, ls.unavailableSince, ls.blocked = ls.target, nil, ""
	s.leaderName = ls.target
	return nil
}

// abandonSwitchover gives up a switchover whose target stopped answering
// before it was promoted: the leader, fenced for the switchover, leads
// again, in a new epoch (a node leaves a fence only by a role change).
func (r *SutraClusterReconciler) abandonSwitchover(ctx context.Context, s *scope, obs []failover.Instance, old failover.Instance) error {
	c, ls := s.cluster, &s.leadership
	epoch := old.Epoch
	if old.Fenced {
		var err error
		if epoch, err = r.promoteAgain(ctx, s, obs); err != nil {
			s.requeue(time.Second)
			return fmt.Errorf("unfence %s after an abandoned switchover: %w", ls.current, err)
		}
	}
	r.event(c, c, corev1.EventTypeWarning, sutrav1.EventFailoverBlocked, "Switchover",
		"switchover to %s abandoned: it does not answer; %s leads again in epoch %d", ls.target, ls.current, epoch)
	ls.target = ls.current
	return nil
}

// fenceAndCatchUp fences the old leader and waits, up to catchUpWait,
// until the target has made durable everything the old leader had.
func (r *SutraClusterReconciler) fenceAndCatchUp(ctx context.Context, s *scope, old failover.Instance) (bool, error) {
	c, ls := s.cluster, &s.leadership
	fenced, err := r.Admin.Fence(ctx, r.podEndpoint(c, ls.current), old.Epoch)
	if err != nil {
		return false, fmt.Errorf("fence %s: %w", ls.current, err)
	}
	deadline := time.Now().Add(catchUpWait)
	for {
		n, err := r.Admin.NodeStatus(ctx, r.podEndpoint(c, ls.target))
		if err == nil && n.Durable >= fenced.Durable {
			return true, nil
		}
		if time.Now().After(deadline) {
			ls.blocked = fmt.Sprintf("switchover: %s has not yet reached %s's last write (sequence %d, has %d)", ls.target, ls.current, fenced.Durable, n.Durable)
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// converge makes every node that answers follow the leader: a node that
// still leads in an older epoch (an old leader back from a partition), a
// replica that follows another address, and the previous leader when it
// diverged (its records past the fork were never replicated; they are set
// aside). Pod labels are put right too.
func (r *SutraClusterReconciler) converge(ctx context.Context, s *scope, obs []failover.Instance) error {
	ls := &s.leadership
	if err := r.setRoles(ctx, s, ls.current); err != nil {
		return err
	}
	leader := instanceByName(obs, ls.current)
	if leader.Reachable && leader.Role == resources.RoleLeader {
		r.followAll(ctx, s, obs, ls.current, leader.Epoch)
	}
	return nil
}

// followAll tells every other node that answers and does not yet follow
// leader in epoch to do so. Failures are logged and retried on the next
// reconcile.
func (r *SutraClusterReconciler) followAll(ctx context.Context, s *scope, obs []failover.Instance, leader string, epoch uint64) {
	c := s.cluster
	addr := r.podEndpoint(c, leader)
	for _, in := range obs {
		if in.Name == leader || !in.Reachable {
			continue
		}
		n := s.nodes[in.Name].node
		wrong := in.Role == resources.RoleLeader || n.Leader != addr || in.Epoch < epoch
		divergedOld := in.Diverged && s.leadership.last != nil && s.leadership.last.From == in.Name
		if !wrong && !divergedOld {
			continue
		}
		got, err := r.Admin.Follow(ctx, r.podEndpoint(c, in.Name), addr, epoch)
		if err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Cannot make a node follow the leader", "pod", in.Name, "leader", leader)
			continue
		}
		if got.SetAside > n.SetAside {
			r.event(c, c, corev1.EventTypeWarning, sutrav1.EventReplicaDiverged, "Follow",
				"%s set aside %d records that %s never had, and follows it", in.Name, got.SetAside-n.SetAside, leader)
		}
	}
}

// setRoles labels leader's pod role=leader and every other pod
// role=replica with the leader's address, so the Services select the right
// pods and a pod that restarts comes back in its role.
func (r *SutraClusterReconciler) setRoles(ctx context.Context, s *scope, leader string) error {
	c := s.cluster
	// Demote first: NAME-rw never selects two pods.
	for _, pass := range []bool{false, true} {
		for _, name := range s.instances {
			pod := s.pods[name]
			if pod == nil || (name == leader) != pass {
				continue
			}
			role, addr := roleFor(name, leader), followAddress(c, name, leader)
			if pod.Labels[resources.LabelRole] == role && pod.Annotations[resources.AnnotationLeader] == addr {
				continue
			}
			patched := pod.DeepCopy()
			patched.Labels[resources.LabelRole] = role
			if patched.Annotations == nil {
				patched.Annotations = map[string]string{}
			}
			if addr == "" {
				delete(patched.Annotations, resources.AnnotationLeader)
			} else {
				patched.Annotations[resources.AnnotationLeader] = addr
			}
			if err := r.Patch(ctx, patched, client.MergeFrom(pod)); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("label pod %s %s: %w", name, role, err)
			}
			s.pods[name] = patched
		}
	}
	return nil
}

// maxEpoch is the highest epoch any answering node other than except
// reports.
func maxEpoch(obs []failover.Instance, except string) uint64 {
	var m uint64
	for _, in := range obs {
		if in.Reachable && in.Name != except {
			m = max(m, in.Epoch)
		}
	}
	return m
}

func failoverDelay(c *sutrav1.SutraCluster) time.Duration {
	if c.Spec.FailoverDelay == nil {
		d, _ := time.ParseDuration(sutrav1.DefaultFailoverDelay)
		return d
	}
	return c.Spec.FailoverDelay.Duration
}

func syncOf(c *sutrav1.SutraCluster) failover.Sync {
	sync := c.Spec.Replication.Synchronous
	if sync == nil {
		return failover.Sync{}
	}
	return failover.Sync{Replicas: int(sync.Replicas), Required: resources.DataDurability(c) == sutrav1.DataDurabilityRequired}
}
