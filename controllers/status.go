package controllers

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
	ls := s.leadership
	if ls.current == "" { // the leadership step did not run
		ls.current, ls.target = s.leaderName, s.targetName
		ls.unavailableSince, ls.last, ls.blocked = c.Status.LeaderUnavailableSince, c.Status.LastFailover, ""
	}
	if ls.current != "" {
		st.CurrentLeader, st.TargetLeader = ls.current, ls.target
		st.LeaderUnavailableSince, st.LastFailover = ls.unavailableSince, ls.last
	}
	st.Leader = &sutrav1.LeaderStatus{Pod: st.CurrentLeader, Endpoint: resources.LeaderEndpoint(c)}
	pods := summarize(s)
	if pods.known {
		st.Replicas, st.ReadyReplicas = pods.replicas, pods.readyReplicas
	}

	names := replicaNames(s, st.CurrentLeader)
	replication := replicationCondition(c, names, s.endpoint, s.replication, s.replicationErr)
	if prev := meta.FindStatusCondition(c.Status.Conditions, sutrav1.ConditionReplicationHealthy); prev != nil && s.replication == nil && s.replicationErr == nil {
		// Not read in this reconcile (an earlier step failed): keep what
		// was last known.
		replication = *prev
	}
	if s.replication != nil {
		st.Epoch = int64(s.replication.Epoch)
		st.LeaderSequence = int64(s.replication.LeaderSequence)
		if replication.Status != metav1.ConditionUnknown {
			st.ReplicaStatuses = replicaStatuses(c, names, s.replication)
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
		st.ReplicaStatuses = unknownRows(names, st.ReplicaStatuses)
	}

	available := availableCondition(st.CurrentLeader, pods.leader)
	if s.fenced {
		available.Status, available.Reason = metav1.ConditionFalse, "Fenced"
		available.Message = fmt.Sprintf("leader %s refuses writes: the cluster is annotated %s=true", st.CurrentLeader, sutrav1.AnnotationFenced)
	}
	progressing := progressingCondition(c, pods, s.rollout.waiting)
	st.Phase = phaseOf(c, s, pods, available, replication)
	degraded := degradedCondition(st.Phase, available, replication, c, pods)

	conds := []metav1.Condition{available, progressing, degraded, replication,
		blockedCondition(sutrav1.ConditionFailoverBlocked, "NoSafeReplica", "LeaderAvailable", ls.blocked),
		blockedCondition(sutrav1.ConditionRolloutBlocked, "InstanceFailing", "RolloutProceeds", s.rollout.blocked),
		fencedCondition(s)}
	if s.volumes != nil {
		st.Storage = &sutrav1.StorageStatus{PVCSize: s.volumes.pvcSize}
		conds = append(conds, s.volumes.condition)
	}
	switch {
	case s.certs != nil:
		st.Certificates = sortCertificates(s.certs.certificates)
		conds = append(conds, s.certs.condition)
	case !resources.TLSEnabled(c):
		st.Certificates = nil
		meta.RemoveStatusCondition(&st.Conditions, sutrav1.ConditionCertificatesReady)
	}
	for _, cond := range conds {
		cond.ObservedGeneration = c.Generation
		cond.LastTransitionTime = now
		meta.SetStatusCondition(&st.Conditions, cond)
	}
	return st
}

// podSummary counts the instances' pods.
type podSummary struct {
	known                   bool // the instances were listed in this reconcile
	leader                  *corev1.Pod
	replicas, readyReplicas int32
	missing, notReady       []string
	outdated                []string
}

func summarize(s *scope) podSummary {
	p := podSummary{known: s.instances != nil}
	leader := s.leadership.current
	if leader == "" {
		leader = s.leaderName
	}
	for _, name := range s.instances {
		pod := s.pods[name]
		if pod == nil {
			p.missing = append(p.missing, name)
			continue
		}
		ready := pod.DeletionTimestamp == nil && podCondition(pod, corev1.PodReady) == corev1.ConditionTrue
		if name == leader {
			p.leader = pod
		} else {
			p.replicas++
			if ready {
				p.readyReplicas++
			}
		}
		if !ready {
			p.notReady = append(p.notReady, name)
		}
		if !resources.PodUpToDate(s.cluster, pod) {
			p.outdated = append(p.outdated, name)
		}
	}
	return p
}

func (p podSummary) allReady() bool {
	return p.known && len(p.missing) == 0 && len(p.notReady) == 0
}

// replicaNames are the instances other than leader; before the instances
// are known, the previous rows' names.
func replicaNames(s *scope, leader string) []string {
	if s.instances == nil {
		var names []string
		for _, r := range s.cluster.Status.ReplicaStatuses {
			names = append(names, r.Name)
		}
		return names
	}
	var names []string
	for _, in := range s.instances {
		if in != leader {
			names = append(names, in)
		}
	}
	return names
}

// fencedCondition is True while the fenced annotation holds the leader.
func fencedCondition(s *scope) metav1.Condition {
	if s.fenced {
		return metav1.Condition{Type: sutrav1.ConditionFenced, Status: metav1.ConditionTrue, Reason: "FenceRequested",
			Message: fmt.Sprintf("the leader refuses writes while the cluster is annotated %s=true (kubectl sutra fence NAME --off lifts it); no failover, switchover or rollout meanwhile", sutrav1.AnnotationFenced)}
	}
	return metav1.Condition{Type: sutrav1.ConditionFenced, Status: metav1.ConditionFalse, Reason: "NotFenced", Message: "the leader takes writes"}
}

// blockedCondition is True with message, or False.
func blockedCondition(t, trueReason, falseReason, message string) metav1.Condition {
	if message == "" {
		return metav1.Condition{Type: t, Status: metav1.ConditionFalse, Reason: falseReason, Message: "nothing is blocked"}
	}
	return metav1.Condition{Type: t, Status: metav1.ConditionTrue, Reason: trueReason, Message: message}
}

// replicaStatuses lists every desired replica in ordinal order, as the leader
// sees it. A replica absent from the leader's table is StateMissing.
func replicaStatuses(c *sutrav1.SutraCluster, names []string, snap *statusclient.Snapshot) []sutrav1.ReplicaStatus {
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
	for _, name := range names {
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
			LastDurableSequence: int64(r.DurableSequence),
			FlushLagMs:          int64(r.FlushLagMs),
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
func unknownRows(names []string, prev []sutrav1.ReplicaStatus) []sutrav1.ReplicaStatus {
	if len(prev) == 0 {
		return nil
	}
	byName := make(map[string]sutrav1.ReplicaStatus, len(prev))
	for _, rs := range prev {
		byName[rs.Name] = rs
	}
	var out []sutrav1.ReplicaStatus
	for _, name := range names {
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
func replicationCondition(c *sutrav1.SutraCluster, names []string, endpoint string, snap *statusclient.Snapshot, err error) metav1.Condition {
	cond := metav1.Condition{Type: sutrav1.ConditionReplicationHealthy}
	switch {
	case err != nil:
		cond.Status, cond.Reason = metav1.ConditionUnknown, sutrav1.ReasonLeaderUnreachable
		cond.Message = fmt.Sprintf("cannot read replication status from %s: %v", endpoint, err)
		return cond
	case snap == nil:
		cond.Status, cond.Reason = metav1.ConditionUnknown, sutrav1.ReasonLeaderUnreachable
		cond.Message = "replication status has not been read yet"
		return cond
	case snap.Role != "" && snap.Role != resources.RoleLeader:
		cond.Status, cond.Reason = metav1.ConditionUnknown, sutrav1.ReasonLeaderMismatch
		cond.Message = fmt.Sprintf("%s answered as node %s with role %q, not the leader", endpoint, snap.NodeID, snap.Role)
		return cond
	case snap.ClusterID != "" && snap.ClusterID != resources.ClusterID(c):
		cond.Status, cond.Reason = metav1.ConditionUnknown, sutrav1.ReasonLeaderMismatch
		cond.Message = fmt.Sprintf("%s belongs to cluster %q, not %q", endpoint, snap.ClusterID, resources.ClusterID(c))
		return cond
	case len(names) == 0:
		cond.Status, cond.Reason = metav1.ConditionTrue, sutrav1.ReasonNoReplicas
		cond.Message = "spec.replicas is 0: the leader has no replicas"
		return cond
	}

	var diverged, notStreaming, lagging []string
	threshold := resources.LagThresholdMs(c)
	statuses := replicaStatuses(c, names, snap)
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

// availableCondition: the cluster accepts writes when its leader pod is ready
// and not terminating.
func availableCondition(leader string, pod *corev1.Pod) metav1.Condition {
	cond := metav1.Condition{Type: sutrav1.ConditionAvailable, Status: metav1.ConditionFalse}
	switch {
	case pod == nil:
		cond.Reason, cond.Message = sutrav1.ReasonLeaderNotReady, fmt.Sprintf("leader pod %s does not exist", leader)
	case pod.DeletionTimestamp != nil:
		cond.Reason = sutrav1.ReasonLeaderTerminating
		cond.Message = fmt.Sprintf("leader pod %s is terminating (deleted at %s)", pod.Name, pod.DeletionTimestamp.UTC().Format(time.RFC3339))
	case podCondition(pod, corev1.PodReady) == corev1.ConditionTrue:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, sutrav1.ReasonLeaderReady, fmt.Sprintf("leader pod %s is ready", pod.Name)
	default:
		cond.Reason, cond.Message = sutrav1.ReasonLeaderNotReady, fmt.Sprintf("leader pod %s is not ready", pod.Name)
	}
	return cond
}

// progressingCondition is True while pods are missing, not ready or run an
// older template.
func progressingCondition(c *sutrav1.SutraCluster, p podSummary, waiting string) metav1.Condition {
	cond := metav1.Condition{Type: sutrav1.ConditionProgressing, Status: metav1.ConditionTrue}
	switch {
	case !p.known:
		cond.Reason, cond.Message = sutrav1.ReasonScaling, "instances are being created"
	case len(p.outdated) > 0:
		cond.Reason = sutrav1.ReasonRollingOut
		cond.Message = fmt.Sprintf("rolling out the current pod template, replicas first: %s to update", strings.Join(p.outdated, ", "))
		if waiting != "" {
			cond.Message += "; waiting: " + waiting
		}
	case len(p.missing) > 0 || len(p.notReady) > 0:
		cond.Reason = sutrav1.ReasonScaling
		cond.Message = fmt.Sprintf("waiting for pods: %s", strings.Join(append(append([]string(nil), p.missing...), p.notReady...), ", "))
	default:
		cond.Status, cond.Reason = metav1.ConditionFalse, sutrav1.ReasonReconciled
		cond.Message = fmt.Sprintf("leader and %d replicas are ready and current", resources.Replicas(c))
	}
	return cond
}

// phaseOf summarises: Pending before the instances exist; Creating until
// the cluster is first fully healthy; then Running, Degraded (serving, not
// at full strength), Upgrading or WaitingForInstances (a rollout is under
// way, or waits for pods), FailingOver or SwitchingOver (a change of leader
// is under way) or Failed (leader down, no change under way).
func phaseOf(c *sutrav1.SutraCluster, s *scope, p podSummary, available, replication metav1.Condition) sutrav1.ClusterPhase {
	wasUp := c.Status.Phase != "" && c.Status.Phase != sutrav1.PhasePending && c.Status.Phase != sutrav1.PhaseCreating
	ls := s.leadership
	switch {
	case !p.known && !wasUp:
		return sutrav1.PhasePending
	case ls.target != "" && ls.target != ls.current && ls.unavailableSince != nil:
		return sutrav1.PhaseFailingOver
	case ls.target != "" && ls.target != ls.current:
		return sutrav1.PhaseSwitchingOver
	case available.Status != metav1.ConditionTrue:
		if wasUp {
			return sutrav1.PhaseFailed
		}
		return sutrav1.PhaseCreating
	case wasUp && len(p.outdated) > 0 && s.rollout.waiting != "" && !p.allReady():
		return sutrav1.PhaseWaitingForInstances
	case wasUp && len(p.outdated) > 0:
		return sutrav1.PhaseUpgrading
	case p.allReady() && replication.Status == metav1.ConditionTrue:
		return sutrav1.PhaseRunning
	case wasUp:
		return sutrav1.PhaseDegraded
	default:
		return sutrav1.PhaseCreating
	}
}

// degradedCondition is True in every phase of a cluster that was up
// except Running, with the first cause as reason.
func degradedCondition(phase sutrav1.ClusterPhase, available, replication metav1.Condition, c *sutrav1.SutraCluster, p podSummary) metav1.Condition {
	cond := metav1.Condition{Type: sutrav1.ConditionDegraded, Status: metav1.ConditionTrue}
	switch phase {
	case sutrav1.PhaseRunning:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, sutrav1.ReasonHealthy, "leader and replicas are healthy"
		return cond
	case sutrav1.PhasePending, sutrav1.PhaseCreating:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, sutrav1.ReasonCreating, "the cluster has not been fully available yet"
		return cond
	}
	switch {
	case available.Status != metav1.ConditionTrue:
		cond.Reason, cond.Message = available.Reason, available.Message
	case replication.Status != metav1.ConditionTrue:
		cond.Reason, cond.Message = replication.Reason, replication.Message
	default:
		cond.Reason = sutrav1.ReasonPodsNotReady
		cond.Message = fmt.Sprintf("%d of %d replica pods are ready", p.readyReplicas, resources.Replicas(c))
	}
	return cond
}
