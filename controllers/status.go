package controllers

import (
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/resources"
	"github.com/sutra/sutra-operator/internal/statusclient"
)

// Replica states the operator acts on. StateMissing the operator writes
// itself; the others come from the leader.
const (
	// StateStreaming is the leader's state of a replica on the live tail.
	StateStreaming = "streaming"
	// StateDiverged is the leader's state of a replica whose log forked
	// from its own; the leader refuses to stream into it.
	StateDiverged = "diverged"
	// StateMissing marks a desired replica the leader does not list.
	StateMissing = "missing"
	// StateUnknown marks a row whose source, the leader's table, could not
	// be read (or came from a node that is not this cluster's leader). The
	// row keeps its last known sequence and heartbeat.
	StateUnknown = "unknown"
)

// computeStatus derives the whole status from the scope. It is pure: the
// same scope gives the same status, and times come from s.now. Values the
// reconcile could not observe (an unreachable leader) keep their previous
// value, so status shows the last known numbers with an old lastStatusTime;
// the rows' state is then StateUnknown.
func computeStatus(s *scope) *sutrav1.SutraClusterStatus {
	c := s.cluster
	st := c.Status.DeepCopy()
	now := metav1.NewTime(s.now).Rfc3339Copy()

	if s.childErr == nil {
		st.ObservedGeneration = c.Generation
	}
	st.Selector = resources.ReplicaSelector(c)
	st.Leader = &sutrav1.LeaderStatus{Pod: resources.LeaderPodName(c), Endpoint: resources.LeaderEndpoint(c)}
	if s.replicas != nil {
		st.Replicas = s.replicas.Status.Replicas
		st.ReadyReplicas = s.replicas.Status.ReadyReplicas
	}

	replication := replicationCondition(c, s.endpoint, s.replication, s.replicationErr)
	if s.replication != nil {
		if s.replication.NodeID != "" {
			st.Leader.Pod = s.replication.NodeID
		}
		st.Epoch = int64(s.replication.Epoch)
		st.LeaderSequence = int64(s.replication.LeaderSequence)
		if replication.Status != metav1.ConditionUnknown {
			st.ReplicaStatuses = replicaStatuses(c, s.replication)
		}
		st.MaxLagMs = maxLagMs(st.ReplicaStatuses)
		st.MaxLag = formatLag(st.MaxLagMs)
		st.LastStatusTime = &now
	}
	st.Synchronous = synchronousStatus(c, st.ReplicaStatuses)
	if s.pods != nil {
		st.Instances = instanceStatuses(c, s.pods)
	}

	if replication.Status == metav1.ConditionUnknown {
		st.ReplicaStatuses = unknownRows(c, st.ReplicaStatuses)
	}

	available := availableCondition(c, s.leader, s.leaderPod)
	progressing := progressingCondition(c, s.leader, s.replicas)
	st.Phase = phaseOf(c, s.leader, available, replication, allPodsReady(c, s.leader, s.replicas))
	degraded := degradedCondition(st.Phase, available, replication, c, s.replicas)

	conds := []metav1.Condition{available, progressing, degraded, replication}
	if s.volumes != nil {
		st.Storage = &sutrav1.StorageStatus{PVCSize: s.volumes.pvcSize}
		conds = append(conds, s.volumes.condition)
	}
	for _, cond := range conds {
		cond.ObservedGeneration = c.Generation
		cond.LastTransitionTime = now
		meta.SetStatusCondition(&st.Conditions, cond)
	}
	return st
}

// replicaStatuses lists every desired replica in ordinal order, as the leader
// sees it. A replica absent from the leader's table is StateMissing.
func replicaStatuses(c *sutrav1.SutraCluster, snap *statusclient.Snapshot) []sutrav1.ReplicaStatus {
	// The leader keys rows by replica id (the pod name) once a replica has
	// connected, and by its configured address (from the topology file)
	// before that.
	byID := make(map[string]statusclient.Replica, len(snap.Replicas))
	byAddr := make(map[string]statusclient.Replica, len(snap.Replicas))
	for _, r := range snap.Replicas {
		byID[r.ID] = r
		byAddr[r.ID] = r
		if r.Address != "" {
			byAddr[r.Address] = r
		}
	}
	threshold := resources.LagThresholdMs(c)
	var out []sutrav1.ReplicaStatus
	for _, name := range resources.ReplicaPodNames(c) {
		r, ok := byID[name]
		if !ok {
			r, ok = byAddr[resources.PodAddress(c, name)]
		}
		if !ok {
			out = append(out, sutrav1.ReplicaStatus{Name: name, State: StateMissing})
			continue
		}
		rs := sutrav1.ReplicaStatus{
			Name:                name,
			LastAppliedSequence: int64(r.LastAppliedSequence),
			LagEntries:          int64(r.LagEntries),
			LagMs:               int64(r.LagMs),
			State:               r.State,
			SyncState:           r.SyncState,
			Healthy:             r.Healthy && r.State == StateStreaming && int64(r.LagMs) <= threshold,
		}
		if r.State == StateDiverged {
			rs.ForkSequence = int64(r.ForkSequence)
		}
		if !r.LastHeartbeat.IsZero() {
			hb := metav1.NewTime(r.LastHeartbeat).Rfc3339Copy()
			rs.LastHeartbeat = &hb
		}
		out = append(out, rs)
	}
	return out
}

// unknownRows lists every desired replica as StateUnknown and not healthy,
// keeping what the previous rows last knew of it. Without previous rows (the
// table was never read) there are none.
func unknownRows(c *sutrav1.SutraCluster, prev []sutrav1.ReplicaStatus) []sutrav1.ReplicaStatus {
	if len(prev) == 0 {
		return nil
	}
	byName := make(map[string]sutrav1.ReplicaStatus, len(prev))
	for _, rs := range prev {
		byName[rs.Name] = rs
	}
	var out []sutrav1.ReplicaStatus
	for _, name := range resources.ReplicaPodNames(c) {
		rs, ok := byName[name]
		if !ok {
			rs = sutrav1.ReplicaStatus{Name: name}
		}
		rs.State, rs.Healthy, rs.SyncState = StateUnknown, false, ""
		out = append(out, rs)
	}
	return out
}

func maxLagMs(rs []sutrav1.ReplicaStatus) int64 {
	var m int64
	for _, r := range rs {
		m = max(m, r.LagMs)
	}
	return m
}

// formatLag renders milliseconds for the Max Lag column: "12ms", "1.5s".
func formatLag(ms int64) string {
	if ms < 1000 {
		return fmt.Sprintf("%dms", ms)
	}
	return (time.Duration(ms) * time.Millisecond).String()
}

// divergedDoc is the troubleshooting section for a diverged replica.
const divergedDoc = "docs/troubleshooting.md#sutrareplicadiverged"

// replicationCondition is ReplicationHealthy: True when every desired replica
// streams within the lag threshold; False naming the replicas that do not,
// with diverged replicas first (they need a person); Unknown when the
// leader's table could not be read.
func replicationCondition(c *sutrav1.SutraCluster, endpoint string, snap *statusclient.Snapshot, err error) metav1.Condition {
	cond := metav1.Condition{Type: sutrav1.ConditionReplicationHealthy}
	switch {
	case err != nil:
		cond.Status, cond.Reason = metav1.ConditionUnknown, sutrav1.ReasonLeaderUnreachable
		cond.Message = fmt.Sprintf("cannot read replication status from %s: %v", endpoint, err)
		return cond
	case snap.Role != "" && snap.Role != resources.RoleLeader:
		cond.Status, cond.Reason = metav1.ConditionUnknown, sutrav1.ReasonLeaderMismatch
		cond.Message = fmt.Sprintf("%s answered as node %s with role %q, not the leader", endpoint, snap.NodeID, snap.Role)
		return cond
	case snap.ClusterID != "" && snap.ClusterID != resources.ClusterID(c):
		cond.Status, cond.Reason = metav1.ConditionUnknown, sutrav1.ReasonLeaderMismatch
		cond.Message = fmt.Sprintf("%s belongs to cluster %q, not %q", endpoint, snap.ClusterID, resources.ClusterID(c))
		return cond
	case resources.Replicas(c) == 0:
		cond.Status, cond.Reason = metav1.ConditionTrue, sutrav1.ReasonNoReplicas
		cond.Message = "spec.replicas is 0: the leader has no replicas"
		return cond
	}

	var diverged, notStreaming, lagging []string
	threshold := resources.LagThresholdMs(c)
	statuses := replicaStatuses(c, snap)
	for _, r := range statuses {
		switch {
		case r.State == StateDiverged:
			diverged = append(diverged, fmt.Sprintf("%s (shares up to sequence %d)", r.Name, r.ForkSequence))
		case r.State != StateStreaming:
			notStreaming = append(notStreaming, fmt.Sprintf("%s (%s)", r.Name, r.State))
		case r.LagMs > threshold:
			lagging = append(lagging, fmt.Sprintf("%s (%dms)", r.Name, r.LagMs))
		case !r.Healthy:
			notStreaming = append(notStreaming, fmt.Sprintf("%s (unhealthy)", r.Name))
		}
	}
	switch {
	case len(diverged) > 0:
		cond.Status, cond.Reason = metav1.ConditionFalse, sutrav1.ReasonReplicaDiverged
		cond.Message = fmt.Sprintf("%s from the leader's log: %s; see %s", plural(len(diverged), "replica diverged", "replicas diverged"), strings.Join(diverged, ", "), divergedDoc)
		if len(notStreaming) > 0 {
			cond.Message += "; not streaming: " + strings.Join(notStreaming, ", ")
		}
		if len(lagging) > 0 {
			cond.Message += fmt.Sprintf("; lagging over %dms: %s", threshold, strings.Join(lagging, ", "))
		}
	case len(notStreaming) > 0:
		cond.Status, cond.Reason = metav1.ConditionFalse, sutrav1.ReasonReplicaNotStreaming
		cond.Message = fmt.Sprintf("%s not streaming from the leader: %s", plural(len(notStreaming), "replica is", "replicas are"), strings.Join(notStreaming, ", "))
		if len(lagging) > 0 {
			cond.Message += fmt.Sprintf("; lagging over %dms: %s", threshold, strings.Join(lagging, ", "))
		}
	case len(lagging) > 0:
		cond.Status, cond.Reason = metav1.ConditionFalse, sutrav1.ReasonReplicaLagging
		cond.Message = fmt.Sprintf("%s lagging over the %dms threshold: %s", plural(len(lagging), "replica is", "replicas are"), threshold, strings.Join(lagging, ", "))
	default:
		cond.Status, cond.Reason = metav1.ConditionTrue, sutrav1.ReasonAllReplicasStreaming
		cond.Message = fmt.Sprintf("%d of %d replicas streaming, max lag %s", len(statuses), len(statuses), formatLag(maxLagMs(statuses)))
	}
	return cond
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func leaderReady(leader *appsv1.StatefulSet) bool {
	return leader != nil && leader.Status.ReadyReplicas >= 1
}

func allPodsReady(c *sutrav1.SutraCluster, leader, replicas *appsv1.StatefulSet) bool {
	return leaderReady(leader) && replicas != nil && replicas.Status.ReadyReplicas >= resources.Replicas(c)
}

// availableCondition: the cluster accepts writes when its leader pod is ready
// and not terminating. pod is the leader pod when the operator could read it.
func availableCondition(c *sutrav1.SutraCluster, leader *appsv1.StatefulSet, pod *corev1.Pod) metav1.Condition {
	if pod != nil && pod.DeletionTimestamp != nil {
		return metav1.Condition{Type: sutrav1.ConditionAvailable, Status: metav1.ConditionFalse, Reason: sutrav1.ReasonLeaderTerminating,
			Message: fmt.Sprintf("leader pod %s is terminating (deleted at %s)", pod.Name, pod.DeletionTimestamp.UTC().Format(time.RFC3339))}
	}
	if leaderReady(leader) {
		return metav1.Condition{Type: sutrav1.ConditionAvailable, Status: metav1.ConditionTrue, Reason: sutrav1.ReasonLeaderReady,
			Message: fmt.Sprintf("leader pod %s is ready", resources.LeaderPodName(c))}
	}
	return metav1.Condition{Type: sutrav1.ConditionAvailable, Status: metav1.ConditionFalse, Reason: sutrav1.ReasonLeaderNotReady,
		Message: fmt.Sprintf("leader pod %s is not ready", resources.LeaderPodName(c))}
}

// progressingCondition is True while a StatefulSet rolls out a new template
// or the number of ready pods differs from the desired number.
func progressingCondition(c *sutrav1.SutraCluster, leader, replicas *appsv1.StatefulSet) metav1.Condition {
	cond := metav1.Condition{Type: sutrav1.ConditionProgressing, Status: metav1.ConditionTrue}
	for _, sts := range []*appsv1.StatefulSet{leader, replicas} {
		if sts == nil {
			cond.Reason, cond.Message = sutrav1.ReasonScaling, "StatefulSets are being created"
			return cond
		}
		if rollingOut(sts) {
			cond.Reason = sutrav1.ReasonRollingOut
			cond.Message = fmt.Sprintf("StatefulSet %s is rolling out: %d of %d pods updated", sts.Name, sts.Status.UpdatedReplicas, ptr.Deref(sts.Spec.Replicas, 0))
			return cond
		}
	}
	for _, sts := range []*appsv1.StatefulSet{leader, replicas} {
		want := ptr.Deref(sts.Spec.Replicas, 0)
		if sts.Status.Replicas != want || sts.Status.ReadyReplicas != want {
			cond.Reason = sutrav1.ReasonScaling
			cond.Message = fmt.Sprintf("StatefulSet %s has %d of %d pods ready", sts.Name, sts.Status.ReadyReplicas, want)
			return cond
		}
	}
	cond.Status, cond.Reason = metav1.ConditionFalse, sutrav1.ReasonReconciled
	cond.Message = fmt.Sprintf("leader and %d replicas are ready and current", resources.Replicas(c))
	return cond
}

func rollingOut(sts *appsv1.StatefulSet) bool {
	if sts.Status.ObservedGeneration < sts.Generation {
		return true
	}
	if sts.Status.UpdateRevision != "" && sts.Status.CurrentRevision != sts.Status.UpdateRevision {
		return true
	}
	return sts.Status.UpdatedReplicas < min(sts.Status.Replicas, ptr.Deref(sts.Spec.Replicas, 0))
}

// phaseOf summarises: Pending before the StatefulSets exist; Creating until
// the cluster is first fully healthy; then Running, Degraded (serving, not at
// full strength) or Failed (leader down).
func phaseOf(c *sutrav1.SutraCluster, leader *appsv1.StatefulSet, available, replication metav1.Condition, podsReady bool) sutrav1.ClusterPhase {
	wasUp := c.Status.Phase == sutrav1.PhaseRunning || c.Status.Phase == sutrav1.PhaseDegraded || c.Status.Phase == sutrav1.PhaseFailed
	switch {
	case leader == nil:
		return sutrav1.PhasePending
	case available.Status != metav1.ConditionTrue:
		if wasUp {
			return sutrav1.PhaseFailed
		}
		return sutrav1.PhaseCreating
	case podsReady && replication.Status == metav1.ConditionTrue:
		return sutrav1.PhaseRunning
	case wasUp:
		return sutrav1.PhaseDegraded
	default:
		return sutrav1.PhaseCreating
	}
}

// degradedCondition is True in the Degraded and Failed phases, with the
// first cause as reason.
func degradedCondition(phase sutrav1.ClusterPhase, available, replication metav1.Condition, c *sutrav1.SutraCluster, replicas *appsv1.StatefulSet) metav1.Condition {
	cond := metav1.Condition{Type: sutrav1.ConditionDegraded, Status: metav1.ConditionTrue}
	switch phase {
	case sutrav1.PhaseDegraded, sutrav1.PhaseFailed:
	case sutrav1.PhaseRunning:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, sutrav1.ReasonHealthy, "leader and replicas are healthy"
		return cond
	default:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, sutrav1.ReasonCreating, "the cluster has not been fully available yet"
		return cond
	}
	switch {
	case available.Status != metav1.ConditionTrue:
		cond.Reason, cond.Message = available.Reason, available.Message
	case replication.Status != metav1.ConditionTrue:
		cond.Reason, cond.Message = replication.Reason, replication.Message
	default:
		ready := int32(0)
		if replicas != nil {
			ready = replicas.Status.ReadyReplicas
		}
		cond.Reason = sutrav1.ReasonPodsNotReady
		cond.Message = fmt.Sprintf("%d of %d replica pods are ready", ready, resources.Replicas(c))
	}
	return cond
}
