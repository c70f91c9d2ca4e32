package controllers

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
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
// that a person should hear about: replication turning unhealthy or healthy
// again, and the leader becoming unreachable.
func (r *SutraClusterReconciler) recordTransitions(c *sutrav1.SutraCluster, before, after *sutrav1.SutraClusterStatus) {
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
	case now.Reason == sutrav1.ReasonLeaderUnreachable:
		r.event(c, nil, corev1.EventTypeWarning, sutrav1.EventLeaderUnreachable, "ReadStatus", "%s", now.Message)
	case now.Status == "False":
		r.event(c, nil, corev1.EventTypeWarning, sutrav1.EventReplicationUnhealthy, "ReadStatus", "%s", now.Message)
	case now.Status == "True" && was != nil && was.Status != "True":
		r.event(c, nil, corev1.EventTypeNormal, sutrav1.EventReplicationHealthy, "ReadStatus", "%s", now.Message)
	}
}
