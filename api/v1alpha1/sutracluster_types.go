package v1alpha1

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Defaults applied by the API server (through the CRD schema) and mirrored
// here for code that handles objects that bypassed it (unit tests, fakes).
const (
	DefaultReplicas            int32 = 2
	MaxReplicas                int32 = 15
	DefaultGRPCPort            int32 = 50051
	DefaultMetricsPort         int32 = 9090
	DefaultLagThresholdMs      int64 = 1000
	DefaultHeartbeatIntervalMs int64 = 250
	DefaultStorageSize               = "1Gi"
	DefaultRetentionBytes            = "1Gi"
	DefaultFailoverDelay             = "5s"
)

// SutraClusterSpec is the desired state of a Sutra storage cluster: one leader
// that accepts writes and spec.replicas read replicas that stream its
// write-ahead log.
// +kubebuilder:validation:XValidation:rule="!has(self.replication) || !has(self.replication.synchronous) || self.replication.synchronous.replicas <= (has(self.replicas) ? self.replicas : 2)",message="replication.synchronous.replicas must be at most spec.replicas: a write cannot be confirmed by more replicas than the cluster has"
type SutraClusterSpec struct {
	// Replicas is the number of read replicas, 0 to 15. The leader is always
	// one extra pod and is not counted here. This is the field the scale
	// subresource (`kubectl scale`) changes.
	// +kubebuilder:default=2
	// +kubebuilder:validation:XValidation:rule="self >= 0",message="replicas must not be negative"
	// +kubebuilder:validation:XValidation:rule="self <= 15",message="replicas must be at most 15 (the leader is extra)"
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// Image is the container image that holds /storage-server. Required.
	// +kubebuilder:validation:MinLength=1
	// +required
	Image string `json:"image"`

	// ImagePullPolicy for the storage containers.
	// +kubebuilder:validation:Enum=Always;Never;IfNotPresent
	// +kubebuilder:default=IfNotPresent
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// Storage is the persistent volume each instance (leader and every
	// replica) gets: its claim data-INSTANCE.
	// +kubebuilder:default={size: "1Gi"}
	// +optional
	Storage StorageSpec `json:"storage,omitzero"`

	// Resources of the storage container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitzero"`

	// Affinity of the storage pods. When unset, pods of one cluster prefer
	// different nodes.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
	// Tolerations of the storage pods.
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// NodeSelector of the storage pods.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// TopologySpreadConstraints of the storage pods.
	// +optional
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`

	// Ports the storage server listens on.
	// +kubebuilder:default={grpc: 50051, metrics: 9090}
	// +optional
	Ports PortsSpec `json:"ports,omitzero"`

	// Replication tunes log retention and lag reporting.
	// +kubebuilder:default={retentionBytes: "1Gi", lagThresholdMs: 1000, heartbeatIntervalMs: 250}
	// +optional
	Replication ReplicationSpec `json:"replication,omitzero"`

	// PVCRetentionPolicy says what happens to the nodes' volumes when the
	// cluster is deleted or scaled down. Both default to Retain.
	// +kubebuilder:default={whenDeleted: Retain, whenScaled: Retain}
	// +optional
	PVCRetentionPolicy PVCRetentionPolicy `json:"pvcRetentionPolicy,omitzero"`

	// StatusPollInterval is how often the operator reads the leader's
	// replication table into status, at least 1s.
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="statusPollInterval must be a duration of at least 1s, such as 10s or 1m"
	// +optional
	StatusPollInterval metav1.Duration `json:"statusPollInterval,omitzero"`

	// FailoverDelay is how long the leader must be both unreachable from
	// the operator and not ready (or terminating) before the operator
	// promotes a replica. 0s fails over at the first such observation.
	// +kubebuilder:default="5s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s')",message="failoverDelay must be a duration such as 5s or 1m, not negative"
	// +optional
	FailoverDelay *metav1.Duration `json:"failoverDelay,omitempty"`

	// LeaderUpdateMethod is how the leader gets a new pod template once
	// every replica has it: switchover (default) promotes an updated replica
	// first, so writes pause for about a second; restart restarts the
	// leader in place, so writes stop until it is ready again.
	// +kubebuilder:default=switchover
	// +optional
	LeaderUpdateMethod LeaderUpdateMethod `json:"leaderUpdateMethod,omitempty"`

	// Monitoring configures Prometheus Operator integration.
	// +optional
	Monitoring MonitoringSpec `json:"monitoring,omitzero"`

	// Network bounds who may connect to the storage pods: the operator
	// keeps a NetworkPolicy named after the cluster (docs/security-network.md).
	// +kubebuilder:default={policy: Enabled}
	// +optional
	Network NetworkSpec `json:"network,omitzero"`

	// TLS secures every gRPC connection of the cluster (clients, the
	// operator, replication between nodes) with mutual TLS, with
	// certificates the operator issues and renews. Enabled for new
	// clusters (see TLSSpec.Mode).
	// +kubebuilder:default={duration: "2160h"}
	// +optional
	TLS TLSSpec `json:"tls,omitzero"`
}

// NetworkPolicyMode is Enabled or Disabled.
// +kubebuilder:validation:Enum=Enabled;Disabled
type NetworkPolicyMode string

const (
	// NetworkPolicyEnabled: the operator applies the cluster's NetworkPolicy.
	NetworkPolicyEnabled NetworkPolicyMode = "Enabled"
	// NetworkPolicyDisabled: the operator makes none and deletes the one it
	// made.
	NetworkPolicyDisabled NetworkPolicyMode = "Disabled"
)

// NetworkSpec is the cluster's networking.k8s.io/v1 NetworkPolicy. It admits
// ingress to the storage pods only on their two ports: the gRPC port from
// the cluster's own pods, the operator's pods and ClientFrom; the metrics
// port (Prometheus, HTTP health probes) from anywhere.
//
// The gRPC port carries client (StorageService), replication and admin
// calls alike, so the policy cannot tell them apart: it bounds who can
// connect at all. Which calls a connection may make is decided by the
// node from its client's mTLS identity (reader, writer, node, admin).
// Enforcement needs a CNI that implements NetworkPolicy (Calico, Cilium);
// on others the policy exists and has no effect.
type NetworkSpec struct {
	// Policy is Enabled (default): the operator applies a NetworkPolicy
	// named after the cluster; or Disabled: it makes none and deletes the
	// one it made.
	// +kubebuilder:default=Enabled
	// +optional
	Policy NetworkPolicyMode `json:"policy,omitempty"`
	// ClientFrom are the peers, besides the cluster's own pods and the
	// operator, that may connect to the gRPC port, in NetworkPolicy peer
	// syntax (podSelector, namespaceSelector, ipBlock). Unset or empty:
	// every pod in the cluster's namespace. To admit no one else, name the
	// cluster's own pods (podSelector matchLabels
	// storage.sutra.io/cluster: NAME).
	// +optional
	ClientFrom []networkingv1.NetworkPolicyPeer `json:"clientFrom,omitempty"`
}

// LeaderUpdateMethod is switchover or restart.
// +kubebuilder:validation:Enum=switchover;restart
type LeaderUpdateMethod string

const (
	// LeaderUpdateSwitchover promotes an updated replica, then updates the
	// old leader as a replica.
	LeaderUpdateSwitchover LeaderUpdateMethod = "switchover"
	// LeaderUpdateRestart deletes the leader pod; it comes back as leader.
	LeaderUpdateRestart LeaderUpdateMethod = "restart"
)

// TLSMode is Enabled or Disabled.
// +kubebuilder:validation:Enum=Enabled;Disabled
type TLSMode string

const (
	// TLSEnabled: nodes serve and dial with mutual TLS; the operator
	// issues every certificate.
	TLSEnabled TLSMode = "Enabled"
	// TLSDisabled: plaintext gRPC without authentication
	// (SUTRA_INSECURE=true); no certificates are made.
	TLSDisabled TLSMode = "Disabled"
)

// DefaultCertificateDuration is spec.tls.duration's default: 90 days.
const DefaultCertificateDuration = 2160 * time.Hour

// TLSSpec configures the cluster's certificates.
type TLSSpec struct {
	// Mode is Enabled or Disabled. Left unset, the operator sets it once,
	// at the cluster's first reconcile: Enabled for a new cluster,
	// Disabled for one whose pods already run without TLS (made by an
	// operator version before TLS), because nodes on either side of the
	// change cannot replicate to each other during a rolling restart.
	// Changing it rolls every pod, with that same gap.
	// +optional
	Mode TLSMode `json:"mode,omitempty"`

	// CASecret names a Secret in the cluster's namespace holding a CA as
	// tls.crt and tls.key (for example one cert-manager made from a
	// Certificate with isCA: true). The operator then signs every leaf
	// with it instead of making its own CA (the Secret NAME-ca). The
	// operator reads it but never writes it.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	CASecret string `json:"caSecret,omitempty"`

	// Duration is the lifetime of every leaf certificate (nodes, the
	// client Secret, the operator's own), at least 1h; default 2160h (90
	// days). Leaves are renewed when a third of it is left.
	// +kubebuilder:default="2160h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h')",message="tls.duration must be a duration of at least 1h, such as 2160h"
	// +optional
	Duration *metav1.Duration `json:"duration,omitempty"`
}

// MonitoringSpec is the cluster's Prometheus Operator integration.
type MonitoringSpec struct {
	// EnablePodMonitor creates a monitoring.coreos.com/v1 PodMonitor named
	// after the cluster that scrapes every storage pod's metrics port.
	// +optional
	EnablePodMonitor bool `json:"enablePodMonitor,omitempty"`
}

// StorageSpec describes the volume of every node.
// +kubebuilder:validation:XValidation:rule="has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)",message="storage.storageClassName is immutable: volume claim templates cannot change; create a new SutraCluster to use another storage class"
type StorageSpec struct {
	// Size of each node's volume. It may grow (volumes are expanded in place
	// when the storage class allows it) but never shrink.
	// +kubebuilder:default="1Gi"
	// +kubebuilder:validation:XValidation:rule="isQuantity(string(self)) && quantity(string(self)).isGreaterThan(quantity('0'))",message="storage.size must be a positive quantity such as 1Gi or 500Mi"
	// +optional
	Size resource.Quantity `json:"size,omitzero"`

	// StorageClassName of the volumes; empty means the cluster's default
	// class. Immutable.
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`
}

// PortsSpec holds the storage server's ports.
// +kubebuilder:validation:XValidation:rule="self.grpc != self.metrics",message="ports.grpc and ports.metrics must differ"
type PortsSpec struct {
	// GRPC is the port of the storage, replication and health gRPC services.
	// +kubebuilder:default=50051
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	GRPC int32 `json:"grpc,omitempty"`
	// Metrics is the port of the Prometheus /metrics endpoint.
	// +kubebuilder:default=9090
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Metrics int32 `json:"metrics,omitempty"`
}

// ReplicationSpec tunes replication on every node.
// +kubebuilder:validation:XValidation:rule="self.heartbeatIntervalMs < self.lagThresholdMs",message="replication.heartbeatIntervalMs must be below replication.lagThresholdMs, or idle replicas would look lagging"
type ReplicationSpec struct {
	// RetentionBytes caps how much write-ahead log the leader keeps for
	// replicas that fall behind; a replica further behind must resync from a
	// snapshot.
	// +kubebuilder:default="1Gi"
	// +kubebuilder:validation:XValidation:rule="isQuantity(string(self)) && quantity(string(self)).isGreaterThan(quantity('0'))",message="replication.retentionBytes must be a positive quantity such as 1Gi or 512Mi"
	// +optional
	RetentionBytes resource.Quantity `json:"retentionBytes,omitzero"`
	// LagThresholdMs is the lag above which a replica counts as unhealthy.
	// +kubebuilder:default=1000
	// +kubebuilder:validation:Minimum=1
	// +optional
	LagThresholdMs int64 `json:"lagThresholdMs,omitempty"`
	// HeartbeatIntervalMs is how often the leader sends heartbeats on idle
	// replication streams.
	// +kubebuilder:default=250
	// +kubebuilder:validation:Minimum=10
	// +optional
	HeartbeatIntervalMs int64 `json:"heartbeatIntervalMs,omitempty"`
	// Synchronous makes the leader acknowledge a write only once
	// synchronous.replicas replicas made it durable. Absent: replication is
	// asynchronous and a write is acknowledged once the leader made it
	// durable.
	// +optional
	Synchronous *SynchronousSpec `json:"synchronous,omitempty"`
}

// SynchronousSpec is synchronous replication: becomes SUTRA_SYNC_REPLICAS and
// SUTRA_SYNC_MODE on every node.
type SynchronousSpec struct {
	// Replicas is how many replicas must make a write durable before the
	// leader acknowledges it (any k of them), at least 1 and at most
	// spec.replicas.
	// +kubebuilder:validation:Minimum=1
	// +required
	Replicas int32 `json:"replicas"`
	// DataDurability is what the leader does when fewer than replicas
	// replicas confirm a write in time. required: the write fails with
	// UNAVAILABLE (it is durable on the leader but not confirmed).
	// preferred: the leader waits only for the replicas that stream and
	// acknowledges the write, logging a warning.
	// +kubebuilder:default=required
	// +optional
	DataDurability DataDurability `json:"dataDurability,omitempty"`
}

// DataDurability is required or preferred.
// +kubebuilder:validation:Enum=required;preferred
type DataDurability string

const (
	// DataDurabilityRequired fails writes that too few replicas confirm.
	DataDurabilityRequired DataDurability = "required"
	// DataDurabilityPreferred acknowledges them once the streaming replicas
	// confirmed.
	DataDurabilityPreferred DataDurability = "preferred"
)

// PVCRetentionPolicyType is Retain or Delete.
// +kubebuilder:validation:Enum=Retain;Delete
type PVCRetentionPolicyType string

const (
	// PVCRetain keeps the volumes.
	PVCRetain PVCRetentionPolicyType = "Retain"
	// PVCDelete deletes the volumes.
	PVCDelete PVCRetentionPolicyType = "Delete"
)

// PVCRetentionPolicy says which instance claims outlive what. Delete on
// whenDeleted makes the SutraCluster own the claims; Delete on whenScaled
// deletes a removed replica's claim, Retain keeps it out of the instances
// (a later scale up makes new instances with new claims).
type PVCRetentionPolicy struct {
	// WhenDeleted applies when the SutraCluster is deleted.
	// +kubebuilder:default=Retain
	// +optional
	WhenDeleted PVCRetentionPolicyType `json:"whenDeleted,omitempty"`
	// WhenScaled applies to the volumes of replicas removed by a scale down.
	// +kubebuilder:default=Retain
	// +optional
	WhenScaled PVCRetentionPolicyType `json:"whenScaled,omitempty"`
}

// ClusterPhase is a one-word summary of the cluster for people; automation
// should read the conditions.
// +kubebuilder:validation:Enum=Pending;Creating;WaitingForInstances;Running;Degraded;FailingOver;SwitchingOver;Upgrading;Failed
type ClusterPhase string

const (
	// PhasePending: the operator has not yet created the cluster's objects.
	PhasePending ClusterPhase = "Pending"
	// PhaseCreating: objects exist, the leader has never been available yet.
	PhaseCreating ClusterPhase = "Creating"
	// PhaseRunning: the leader is available, every pod ready, replication healthy.
	PhaseRunning ClusterPhase = "Running"
	// PhaseDegraded: the leader is available but something is not healthy.
	PhaseDegraded ClusterPhase = "Degraded"
	// PhaseFailed: the cluster was available before and its leader is not now,
	// so writes fail, and no failover is under way.
	PhaseFailed ClusterPhase = "Failed"
	// PhaseWaitingForInstances: the cluster was available before and some
	// of its pods do not exist or are not ready, so nothing can proceed
	// (a rollout waits for them).
	PhaseWaitingForInstances ClusterPhase = "WaitingForInstances"
	// PhaseFailingOver: the leader failed and the operator is promoting
	// status.targetLeader.
	PhaseFailingOver ClusterPhase = "FailingOver"
	// PhaseSwitchingOver: a planned change of leader to status.targetLeader
	// (kubectl sutra promote, a drain, a leader update) is under way.
	PhaseSwitchingOver ClusterPhase = "SwitchingOver"
	// PhaseUpgrading: pods are being moved to a new pod template, replicas
	// first, one at a time.
	PhaseUpgrading ClusterPhase = "Upgrading"
)

// FailoverStatus records the last change of leader.
type FailoverStatus struct {
	// Time the new leader answered in its new epoch.
	Time metav1.Time `json:"time"`
	// From is the pod that led before.
	From string `json:"from"`
	// To is the pod that leads now.
	To string `json:"to"`
	// Reason is Failover (the leader failed) or Switchover (planned).
	Reason string `json:"reason"`
	// Epoch is the new leader's epoch.
	// +optional
	Epoch int64 `json:"epoch,omitempty"`
	// EntriesLost is, for a failover without a synchronous replica, how
	// many log entries the old leader was last seen to hold beyond what the
	// new leader had (an estimate from the last replication table read). 0
	// for switchovers and synchronous failovers.
	// +optional
	EntriesLost int64 `json:"entriesLost"`
}

// LeaderStatus names the node that accepts writes.
type LeaderStatus struct {
	// Pod is the leader pod's name, which is also its node id.
	Pod string `json:"pod,omitempty"`
	// Endpoint is the gRPC address clients write to (the leader Service).
	Endpoint string `json:"endpoint,omitempty"`
}

// ReplicaStatus is one desired replica as the leader sees it.
type ReplicaStatus struct {
	// Name is the replica pod's name and node id.
	Name string `json:"name"`
	// LastAppliedSequence is the last log sequence the replica applied.
	// +optional
	LastAppliedSequence int64 `json:"lastAppliedSequence"`
	// LagEntries is how many log entries the replica is behind the leader.
	// +optional
	LagEntries int64 `json:"lagEntries"`
	// LagMs is the replica's lag in milliseconds as the leader measures it:
	// how long ago the leader wrote the oldest entry the replica has not
	// applied (its replay lag).
	// +optional
	LagMs int64 `json:"lagMs"`
	// LastDurableSequence is the last log sequence the replica's own log
	// made durable: what it keeps if it crashes. A replica applies a batch
	// on receipt while its log syncs it, so this trails
	// lastAppliedSequence by up to one sync.
	// +optional
	LastDurableSequence int64 `json:"lastDurableSequence"`
	// FlushLagMs is lagMs for lastDurableSequence: how long ago the leader
	// wrote the oldest entry the replica has not made durable.
	// +optional
	FlushLagMs int64 `json:"flushLagMs"`
	// Healthy is true when the replica streams within the lag threshold.
	Healthy bool `json:"healthy"`
	// State is the replication state the leader reports: streaming,
	// catchup, snapshot, disconnected, configured or diverged; "missing"
	// when the leader does not list the replica at all; "unknown" when the
	// operator cannot read the leader's table (the other fields are then
	// the last known values). diverged: its log
	// forked from the leader's after forkSequence; the leader refuses to
	// stream into it until it follows the leader again (its divergent
	// records are set aside).
	// +optional
	State string `json:"state,omitempty"`
	// ForkSequence is the highest log sequence the replica shares with the
	// leader. Set when the state is diverged.
	// +optional
	ForkSequence int64 `json:"forkSequence,omitempty"`
	// SyncState is "sync" when the leader replicates synchronously and this
	// replica's acks count towards confirming writes, "async" otherwise.
	// +optional
	SyncState string `json:"syncState,omitempty"`
	// LastHeartbeat is when the leader last heard from the replica.
	// +optional
	LastHeartbeat *metav1.Time `json:"lastHeartbeat,omitempty"`
}

// SynchronousStatus is spec.replication.synchronous and what the leader's
// replication table says of it.
type SynchronousStatus struct {
	// Replicas is how many replicas must confirm a write.
	Replicas int32 `json:"replicas"`
	// DataDurability is required or preferred.
	// +optional
	DataDurability DataDurability `json:"dataDurability,omitempty"`
	// SyncReplicas is how many replicas the leader's table lists with
	// syncState sync, as of lastStatusTime. Below replicas, required writes
	// fail and preferred writes are confirmed by fewer replicas.
	// +optional
	SyncReplicas int32 `json:"syncReplicas"`
}

// SutraClusterStatus is the observed state of a SutraCluster.
type SutraClusterStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Phase summarises the conditions in one word.
	// +optional
	Phase ClusterPhase `json:"phase,omitempty"`
	// Leader is the node that accepts writes.
	// +optional
	Leader *LeaderStatus `json:"leader,omitempty"`
	// CurrentLeader is the pod that leads now: the operator set it once the
	// pod answered as leader in its epoch.
	// +optional
	CurrentLeader string `json:"currentLeader,omitempty"`
	// TargetLeader is the pod that should lead. It differs from
	// currentLeader while a failover or switchover is under way: the
	// operator records its choice here before acting, so a restarted
	// operator finishes the change instead of choosing again. kubectl sutra
	// promote sets it to ask for a switchover.
	// +optional
	TargetLeader string `json:"targetLeader,omitempty"`
	// LeaderUnavailableSince is when the operator first saw the current
	// leader both unreachable and not ready; failover starts
	// spec.failoverDelay after it.
	// +optional
	LeaderUnavailableSince *metav1.Time `json:"leaderUnavailableSince,omitempty"`
	// LastFailover is the last change of leader.
	// +optional
	LastFailover *FailoverStatus `json:"lastFailover,omitempty"`
	// Replicas is the number of replica pods that exist (scale subresource).
	Replicas int32 `json:"replicas"`
	// ReadyReplicas is the number of replica pods that are ready.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas"`
	// Selector selects the replica pods (scale subresource, for autoscalers).
	// +optional
	Selector string `json:"selector,omitempty"`
	// Epoch is the leader's epoch; it grows on every change of leader.
	// +optional
	Epoch int64 `json:"epoch,omitempty"`
	// LeaderSequence is the last log sequence the leader wrote.
	// +optional
	LeaderSequence int64 `json:"leaderSequence,omitempty"`
	// ReplicaStatuses lists every desired replica, in ordinal order.
	// +optional
	// +listType=map
	// +listMapKey=name
	ReplicaStatuses []ReplicaStatus `json:"replicaStatuses,omitempty"`
	// MaxLagMs is the largest lag among the replicas the leader reports.
	// +optional
	MaxLagMs int64 `json:"maxLagMs"`
	// MaxLag is MaxLagMs for people, such as "12ms" or "1.5s".
	// +optional
	MaxLag string `json:"maxLag,omitempty"`
	// Synchronous is the synchronous replication setting the nodes were
	// given, with how many replicas the leader counts as synchronous now.
	// Absent when replication is asynchronous.
	// +optional
	Synchronous *SynchronousStatus `json:"synchronous,omitempty"`
	// LastStatusTime is when the operator last read the leader's replication
	// table successfully.
	// +optional
	LastStatusTime *metav1.Time `json:"lastStatusTime,omitempty"`
	// Conditions: Available, Progressing, Degraded, ReplicationHealthy.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Storage is what the nodes' volumes have now.
	// +optional
	Storage *StorageStatus `json:"storage,omitempty"`

	// Instances lists every storage pod of the cluster (leader and
	// replicas), sorted by name, as the operator's cache sees it.
	// +optional
	// +listType=map
	// +listMapKey=name
	Instances []InstanceStatus `json:"instances,omitempty"`

	// Certificates lists the certificates the cluster's TLS uses, with
	// their expiry: the CA first, then the client Secret and every
	// instance's, by Secret name. Empty when spec.tls.mode is Disabled.
	// +optional
	// +listType=map
	// +listMapKey=secretName
	Certificates []CertificateStatus `json:"certificates,omitempty"`
}

// CertificateStatus is one certificate the operator issued or uses.
type CertificateStatus struct {
	// SecretName is the Secret that holds it.
	SecretName string `json:"secretName"`
	// Identity is the certificate's URI SAN, such as
	// urn:sutra:node:NAME-1 or urn:sutra:writer:NAME; empty for the CA.
	// +optional
	Identity string `json:"identity,omitempty"`
	// CA is true for the certificate authority that signs the others.
	// +optional
	CA bool `json:"ca,omitempty"`
	// NotAfter is when the certificate expires.
	NotAfter metav1.Time `json:"notAfter"`
	// RenewalTime is when the operator replaces it (a third of its
	// lifetime before notAfter). Absent for a CA the operator does not
	// own (spec.tls.caSecret): whoever made it renews it.
	// +optional
	RenewalTime *metav1.Time `json:"renewalTime,omitempty"`
}

// InstanceStatus is one storage pod as Kubernetes reports it.
type InstanceStatus struct {
	// Name is the pod's name.
	Name string `json:"name"`
	// Role is leader or replica.
	// +optional
	Role string `json:"role,omitempty"`
	// UpToDate is true when the pod runs the current pod template.
	// +optional
	UpToDate bool `json:"upToDate"`
	// Node is the node the pod is scheduled on; empty while unscheduled.
	// +optional
	Node string `json:"node,omitempty"`
	// Image is the storage container's image.
	// +optional
	Image string `json:"image,omitempty"`
	// Ready is the pod's Ready condition.
	Ready bool `json:"ready"`
	// Restarts is the storage container's restart count.
	// +optional
	Restarts int32 `json:"restarts"`
	// Phase is the pod's phase.
	// +optional
	Phase corev1.PodPhase `json:"phase,omitempty"`
	// Reason says why a pod that is not ready is not: the storage
	// container's waiting reason (ErrImagePull, ImagePullBackOff,
	// CrashLoopBackOff, ...), Unschedulable, or Terminating.
	// +optional
	Reason string `json:"reason,omitempty"`
	// Message is the detail of Reason: the kubelet's or scheduler's message,
	// and for a crashing container its last exit code and termination
	// message.
	// +optional
	Message string `json:"message,omitempty"`
}

// StorageStatus reports the nodes' PersistentVolumeClaims.
type StorageStatus struct {
	// PVCSize is the largest storage request among the cluster's
	// PersistentVolumeClaims. spec.storage.size may go down to it (undoing an
	// expansion the storage class refused) but not below.
	// +optional
	PVCSize *resource.Quantity `json:"pvcSize,omitempty"`
}

// SutraCluster is a replicated Sutra storage cluster: one leader, spec.replicas
// read replicas, their volumes, Services and topology.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:validation:XValidation:rule="!has(self.spec.storage) || !has(self.spec.storage.size) || !has(oldSelf.spec.storage) || !has(oldSelf.spec.storage.size) || !isQuantity(string(self.spec.storage.size)) || !isQuantity(string(oldSelf.spec.storage.size)) || quantity(string(self.spec.storage.size)).compareTo(quantity(string(oldSelf.spec.storage.size))) >= 0 || (has(self.status) && has(self.status.storage) && has(self.status.storage.pvcSize) && isQuantity(string(self.status.storage.pvcSize)) && quantity(string(self.spec.storage.size)).compareTo(quantity(string(self.status.storage.pvcSize))) >= 0)",message="storage.size may not shrink below the volumes' current size (status.storage.pvcSize): volumes can only be expanded"
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.replicas,selectorpath=.status.selector
// +kubebuilder:resource:shortName=sutra,categories=sutra
// +kubebuilder:printcolumn:name="Leader",type=string,JSONPath=`.status.currentLeader`
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.spec.replicas`
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.readyReplicas`
// +kubebuilder:printcolumn:name="Max Lag",type=string,JSONPath=`.status.maxLag`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SutraCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitzero"`

	Spec   SutraClusterSpec   `json:"spec"`
	Status SutraClusterStatus `json:"status,omitzero"`
}

// SutraClusterList is a list of SutraClusters.
//
// +kubebuilder:object:root=true
type SutraClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []SutraCluster `json:"items"`
}
