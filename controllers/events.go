package controllers

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

// Event reasons, re-exported from the API package for brevity.
const (
	EventCreatedReason = sutrav1.EventCreated
	EventScaledReason  = sutrav1.EventScaled
)

func (r *SutraClusterReconciler) event(c *sutrav1.SutraCluster, related runtime.Object, eventType, reason, action, note string, args ...any) {
	if r.Recorder == nil {
		return
	}
	r.Recorder.Eventf(c, related, eventType, reason, action, note, args...)
}

// recordTransitions emits events for changes between the old and new status
// that a person should hear about: a replica diverging from the leader's log
// (once per replica and transition), replication turning unhealthy or
// healthy again, and the leader becoming unreachable.
//
// Replicas that are expected not to stream yet are told as Normal events:
// while the cluster bootstraps (it has never been fully up), Bootstrapping;
// when every replica that does not stream is new in the table (spec.replicas
// was raised), ReplicaJoining. Only a replica that streamed before and
// stopped, or a leader that was up and became unreachable, is a Warning.
//
// The caller calls it once per status write that succeeded, so one
// transition gives one event.
func (r *SutraClusterReconciler) recordTransitions(c *sutrav1.SutraCluster, before, after *sutrav1.SutraClusterStatus) {
	r.recordVolumeExpansion(c, before, after)
	r.recordCertificates(c, before, after)
	r.recordInstances(c, before, after)
	newlyDiverged := r.recordDiverged(c, before, after)
	was := meta.FindStatusCondition(before.Conditions, sutrav1.ConditionReplicationHealthy)
	now := meta.FindStatusCondition(after.Conditions, sutrav1.ConditionReplicationHealthy)
	if now == nil {
		return
	}
	changed := was == nil || was.Status != now.Status || was.Reason != now.Reason
	if !changed {
		return
	}
	switch {
	case now.Reason == sutrav1.ReasonReplicaDiverged && newlyDiverged:
		// The ReplicaDiverged events above already say it.
	case now.Status != metav1.ConditionTrue && now.Reason != sutrav1.ReasonReplicaDiverged && bootstrapping(before, after):
		r.event(c, nil, corev1.EventTypeNormal, sutrav1.EventBootstrapping, "ReadStatus", "%s", now.Message)
	case now.Reason == sutrav1.ReasonLeaderUnreachable:
		r.event(c, nil, corev1.EventTypeWarning, sutrav1.EventLeaderUnreachable, "ReadStatus", "%s", now.Message)
	case now.Status == metav1.ConditionFalse && onlyJoining(before, after):
		r.event(c, nil, corev1.EventTypeNormal, sutrav1.EventReplicaJoining, "ReadStatus", "%s", now.Message)
	case now.Status == metav1.ConditionFalse:
		r.event(c, nil, corev1.EventTypeWarning, sutrav1.EventReplicationUnhealthy, "ReadStatus", "%s", now.Message)
	case now.Status == metav1.ConditionTrue && was != nil && was.Status != metav1.ConditionTrue:
		r.event(c, nil, corev1.EventTypeNormal, sutrav1.EventReplicationHealthy, "ReadStatus", "%s", now.Message)
	}
}

// bootstrapping reports whether the cluster has never been fully up: the
// phase was and is Pending or Creating.
func bootstrapping(before, after *sutrav1.SutraClusterStatus) bool {
	creating := func(p sutrav1.ClusterPhase) bool {
		return p == "" || p == sutrav1.PhasePending || p == sutrav1.PhaseCreating
	}
	return creating(before.Phase) && creating(after.Phase)
}

// onlyJoining reports whether every unhealthy replica in after is new: it
// had no row in before, so it was added by a scale-up and has not streamed
// yet. Diverged replicas are never joining.
func onlyJoining(before, after *sutrav1.SutraClusterStatus) bool {
	known := make(map[string]bool, len(before.ReplicaStatuses))
	for _, rs := range before.ReplicaStatuses {
		known[rs.Name] = true
	}
	joining := false
	for _, rs := range after.ReplicaStatuses {
		if rs.Healthy {
			continue
		}
		if known[rs.Name] || rs.State == StateDiverged {
			return false
		}
		joining = true
	}
	return joining
}

// recordDiverged emits a Warning for every replica that is diverged in after
// and was not in before, and reports whether it emitted any. A status kept
// from an earlier reconcile repeats nothing, and neither does a row that was
// unknown (the leader unreachable): the condition's change tells it then.
func (r *SutraClusterReconciler) recordDiverged(c *sutrav1.SutraCluster, before, after *sutrav1.SutraClusterStatus) bool {
	was := make(map[string]bool, len(before.ReplicaStatuses))
	for _, rs := range before.ReplicaStatuses {
		was[rs.Name] = rs.State == StateDiverged || rs.State == StateUnknown
	}
	emitted := false
	for _, rs := range after.ReplicaStatuses {
		if rs.State != StateDiverged || was[rs.Name] {
			continue
		}
		r.event(c, nil, corev1.EventTypeWarning, sutrav1.EventReplicaDiverged, "ReadStatus",
			"replica %s diverged from the leader's log after sequence %d; the leader refuses to stream into it; see %s",
			rs.Name, rs.ForkSequence, divergedDoc)
		emitted = true
	}
	return emitted
}

// recordVolumeExpansion tells a change of the VolumeExpansion condition
// (status, reason or message: the claims or class concerned) once: a Warning
// when expansion fails, a Normal event when it works again.
func (r *SutraClusterReconciler) recordVolumeExpansion(c *sutrav1.SutraCluster, before, after *sutrav1.SutraClusterStatus) {
	was := meta.FindStatusCondition(before.Conditions, sutrav1.ConditionVolumeExpansion)
	now := meta.FindStatusCondition(after.Conditions, sutrav1.ConditionVolumeExpansion)
	if now == nil || (was != nil && was.Status == now.Status && was.Reason == now.Reason && was.Message == now.Message) {
		return
	}
	switch {
	case now.Status == metav1.ConditionFalse:
		r.event(c, nil, corev1.EventTypeWarning, sutrav1.EventVolumeExpansionFailed, "Expand", "%s", now.Message)
	case was != nil && was.Status == metav1.ConditionFalse:
		r.event(c, nil, corev1.EventTypeNormal, sutrav1.EventVolumesExpanded, "Expand", "%s", now.Message)
	}
}
