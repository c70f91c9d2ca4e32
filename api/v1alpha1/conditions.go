package v1alpha1

// Condition types reported in SutraCluster.status.conditions.
const (
	// ConditionAvailable is True when the leader pod is ready and not
	// terminating, so the cluster accepts writes.
	ConditionAvailable = "Available"
	// ConditionProgressing is True while the operator is still moving the
	// cluster towards its spec: StatefulSets rolling out, pods being created
	// or removed after a scale.
	ConditionProgressing = "Progressing"
	// ConditionDegraded is True when the cluster serves but not at full
	// strength: a pod is not ready, a replica is not streaming or lags, or the
	// operator cannot read the leader's replication table.
	ConditionDegraded = "Degraded"
	// ConditionReplicationHealthy is True when every desired replica is
	// streaming from the leader within spec.replication.lagThresholdMs.
	ConditionReplicationHealthy = "ReplicationHealthy"
	// ConditionVolumeExpansion is True when every PersistentVolumeClaim of
	// the cluster requests spec.storage.size, and False when one cannot be
	// expanded to it.
	ConditionVolumeExpansion = "VolumeExpansion"
	// ConditionFailoverBlocked is True when the leader failed and no
	// replica is safe to promote; the message says why.
	ConditionFailoverBlocked = "FailoverBlocked"
	// ConditionFenced is True while the storage.sutra.io/fenced annotation
	// holds the leader's writes.
	ConditionFenced = "Fenced"
	// ConditionRolloutBlocked is True when an updated pod did not become
	// ready, or did not catch up, so the rollout stopped with the leader
	// untouched.
	ConditionRolloutBlocked = "RolloutBlocked"
)

// Condition reasons. Each names the cause a person acts on; the condition's
// message names the object (pod, replica) concerned.
const (
	// ReasonLeaderReady: the leader pod is ready.
	ReasonLeaderReady = "LeaderReady"
	// ReasonLeaderNotReady: the leader pod does not exist or is not ready.
	ReasonLeaderNotReady = "LeaderNotReady"
	// ReasonLeaderTerminating: the leader pod has a deletionTimestamp; it
	// stops accepting writes before its StatefulSet's ready count drops.
	ReasonLeaderTerminating = "LeaderTerminating"

	// ReasonRollingOut: a StatefulSet has not yet rolled its pods to the
	// current template.
	ReasonRollingOut = "RollingOut"
	// ReasonScaling: the number of ready pods differs from the desired number.
	ReasonScaling = "Scaling"
	// ReasonReconciled: every child object matches the spec and every pod is
	// ready and current.
	ReasonReconciled = "Reconciled"

	// ReasonAllReplicasStreaming: every desired replica streams within the lag
	// threshold (ReplicationHealthy=True).
	ReasonAllReplicasStreaming = "AllReplicasStreaming"
	// ReasonNoReplicas: spec.replicas is 0; there is nothing to replicate to.
	ReasonNoReplicas = "NoReplicas"
	// ReasonReplicaNotStreaming: a desired replica is absent from the leader's
	// replication table or is not in the streaming state.
	ReasonReplicaNotStreaming = "ReplicaNotStreaming"
	// ReasonReplicaDiverged: a desired replica's log forked from the
	// leader's, so the leader refuses to stream into it. It takes precedence
	// over ReasonReplicaNotStreaming: the replica does not recover by
	// itself; a person decides whether its divergent records are set aside
	// (it follows the leader again) or hold writes that must be kept.
	ReasonReplicaDiverged = "ReplicaDiverged"
	// ReasonReplicaLagging: a replica streams but lags more than
	// spec.replication.lagThresholdMs behind the leader.
	ReasonReplicaLagging = "ReplicaLagging"
	// ReasonLeaderUnreachable: the operator could not read the leader's
	// replication status (connection refused, timeout, DNS).
	ReasonLeaderUnreachable = "LeaderUnreachable"

	// ReasonLeaderMismatch: the status endpoint answered, but as a replica or
	// as a node of another cluster.
	ReasonLeaderMismatch = "LeaderMismatch"

	// ReasonCreating: the cluster has not been fully available yet
	// (Degraded=False while the phase is Pending or Creating).
	ReasonCreating = "Creating"
	// ReasonPodsNotReady: some pods of the cluster are not ready.
	ReasonPodsNotReady = "PodsNotReady"
	// ReasonHealthy: nothing is degraded (Degraded=False).
	ReasonHealthy = "Healthy"

	// ReasonVolumesAtSize: every claim requests spec.storage.size
	// (VolumeExpansion=True).
	ReasonVolumesAtSize = "VolumesAtSize"
	// ReasonExpansionNotSupported: the claims' StorageClass does not set
	// allowVolumeExpansion: true; the message names it and the claims.
	ReasonExpansionNotSupported = "ExpansionNotSupported"
	// ReasonExpansionFailed: the API server refused the larger request.
	ReasonExpansionFailed = "ExpansionFailed"
)

// Event reasons recorded on the SutraCluster.
const (
	EventCreated              = "Created"
	EventScaled               = "Scaled"
	EventReplicationHealthy   = "ReplicationHealthy"
	EventReplicationUnhealthy = "ReplicationUnhealthy"
	EventLeaderUnreachable    = "LeaderUnreachable"
	EventReplicaDiverged      = "ReplicaDiverged"
	// EventBootstrapping (Normal): the cluster has never been fully up and
	// its replicas do not stream yet.
	EventBootstrapping = "Bootstrapping"
	// EventReplicaJoining (Normal): replicas added by raising spec.replicas
	// do not stream yet.
	EventReplicaJoining = "ReplicaJoining"
	// EventVolumeExpansionFailed (Warning) and EventVolumesExpanded (Normal)
	// tell changes of the VolumeExpansion condition.
	EventVolumeExpansionFailed = "VolumeExpansionFailed"
	EventVolumesExpanded       = "VolumesExpanded"
	// EventInstanceFailing (Warning): a storage pod entered ErrImagePull,
	// ImagePullBackOff, CrashLoopBackOff or Unschedulable; the message names
	// the pod, the reason and Kubernetes' message.
	EventInstanceFailing = "InstanceFailing"
	// EventFailoverStarted (Warning): the leader failed and the operator
	// chose status.targetLeader. EventFailoverBlocked (Warning): no replica
	// is safe to promote. EventLeaderChanged (Normal): the new leader
	// answered in its epoch (after a failover or a switchover).
	EventFailoverStarted = "FailoverStarted"
	EventFailoverBlocked = "FailoverBlocked"
	EventLeaderChanged   = "LeaderChanged"
	// EventSwitchoverStarted (Normal): a planned change of leader began.
	EventSwitchoverStarted = "SwitchoverStarted"
	// EventInstanceUpdated (Normal): a pod was recreated with the current
	// template. EventRolloutBlocked (Warning): the rollout stopped.
	EventInstanceUpdated = "InstanceUpdated"
	EventRolloutBlocked  = "RolloutBlocked"
	// EventPodMonitorUnavailable (Warning): spec.monitoring.enablePodMonitor
	// is true but the API server does not serve monitoring.coreos.com/v1
	// PodMonitor (the Prometheus Operator is not installed). Told once per
	// cluster; the reconcile goes on without the PodMonitor.
	EventPodMonitorUnavailable = "PodMonitorUnavailable"
)

// Failover reasons of status.lastFailover.reason.
const (
	FailoverReasonFailover   = "Failover"
	FailoverReasonSwitchover = "Switchover"
)

// Annotations the operator reads on a SutraCluster.
const (
	// AnnotationRestartedAt (set by kubectl sutra restart) is copied into
	// the pod template, so changing it rolls every pod in order: replicas
	// first, the leader last.
	AnnotationRestartedAt = "storage.sutra.io/restartedAt"
	// AnnotationFenced set to "true" (kubectl sutra fence) makes the
	// operator fence the leader: writes are refused, reads go on, and no
	// failover, switchover or rollout happens. Removing it lets the leader
	// take writes again, in a new epoch.
	AnnotationFenced = "storage.sutra.io/fenced"
	// AnnotationReconcile set to ReconcilePaused stops the operator for
	// this cluster: while "paused" it changes nothing (no child objects,
	// no failover, no rollout) and writes no status. For maintenance and
	// upgrades; removing the annotation resumes at once.
	AnnotationReconcile = "storage.sutra.io/reconcile"
	// ReconcilePaused is the value of AnnotationReconcile that pauses.
	ReconcilePaused = "paused"
)

// Instance reasons of status.instances[] the operator sets itself; the
// others are the kubelet's container waiting reasons.
const (
	// InstanceUnschedulable: the pod's PodScheduled condition is False with
	// reason Unschedulable.
	InstanceUnschedulable = "Unschedulable"
	// InstanceTerminating: the pod has a deletionTimestamp.
	InstanceTerminating = "Terminating"
)

// TLS conditions, reasons and events.
const (
	// ConditionCertificatesReady is True when spec.tls.mode is Enabled and
	// the CA, the client Secret and every instance's Secret hold valid
	// certificates; False when the CA cannot be used (the message says
	// why). Absent when TLS is disabled.
	ConditionCertificatesReady = "CertificatesReady"
	// ReasonCertificatesIssued: every certificate is in place and current.
	ReasonCertificatesIssued = "CertificatesIssued"
	// ReasonCASecretInvalid: spec.tls.caSecret names a Secret that does not
	// exist, lacks tls.crt or tls.key, or does not hold a CA. No pod is
	// created until it is fixed.
	ReasonCASecretInvalid = "CASecretInvalid"

	// EventCertificateIssued (Normal): a certificate Secret was created or
	// renewed; the message names it and why.
	EventCertificateIssued = "CertificateIssued"
	// EventCASecretInvalid (Warning): told when CertificatesReady turns
	// False with ReasonCASecretInvalid.
	EventCASecretInvalid = "CASecretInvalid"
	// EventTLSKeptDisabled (Warning): a cluster that left spec.tls.mode
	// unset and already ran without TLS got spec.tls.mode Disabled.
	EventTLSKeptDisabled = "TLSKeptDisabled"
)
