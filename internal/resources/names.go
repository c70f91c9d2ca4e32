package resources

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

// Label keys and values on every object and pod of a cluster.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelComponent = "app.kubernetes.io/component"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// LabelCluster names the SutraCluster a pod belongs to.
	LabelCluster = "storage.sutra.io/cluster"
	// LabelRole is "leader" or "replica". The leader and replicas Services
	// select on it, so moving the label moves traffic (see
	// docs/architecture.md on role changes).
	LabelRole = "storage.sutra.io/role"

	AppName   = "sutra"
	ManagedBy = "sutra-operator"

	RoleLeader  = "leader"
	RoleReplica = "replica"
)

// Container layout shared by both StatefulSets.
const (
	ContainerName   = "storage"
	ServerCommand   = "/storage-server"
	DataVolume      = "data"
	DataDir         = "/var/lib/sutra"
	TopologyVolume  = "topology"
	TopologyDir     = "/etc/sutra"
	TopologyKey     = "replicas"
	TopologyLeader  = "leader"
	ReplicasFile    = TopologyDir + "/" + TopologyKey
	GRPCPortName    = "grpc"
	MetricsPortName = "metrics"
	// RunAsUser is the unprivileged user the storage server runs as.
	RunAsUser int64 = 65532
)

// LeaderStatefulSetName is NAME-leader.
func LeaderStatefulSetName(c *sutrav1.SutraCluster) string { return c.Name + "-leader" }

// ReplicaStatefulSetName is NAME-replica.
func ReplicaStatefulSetName(c *sutrav1.SutraCluster) string { return c.Name + "-replica" }

// PeersServiceName is NAME-peers, the headless Service that gives every pod
// a stable DNS name.
func PeersServiceName(c *sutrav1.SutraCluster) string { return c.Name + "-peers" }

// LeaderServiceName is NAME-leader.
func LeaderServiceName(c *sutrav1.SutraCluster) string { return c.Name + "-leader" }

// ReplicasServiceName is NAME-replicas.
func ReplicasServiceName(c *sutrav1.SutraCluster) string { return c.Name + "-replicas" }

// TopologyConfigMapName is NAME-topology.
func TopologyConfigMapName(c *sutrav1.SutraCluster) string { return c.Name + "-topology" }

// PodDisruptionBudgetName is NAME.
func PodDisruptionBudgetName(c *sutrav1.SutraCluster) string { return c.Name }

// LeaderPodName is the only pod of the leader StatefulSet.
func LeaderPodName(c *sutrav1.SutraCluster) string { return LeaderStatefulSetName(c) + "-0" }

// ReplicaPodNames lists the desired replica pods in ordinal order.
func ReplicaPodNames(c *sutrav1.SutraCluster) []string {
	n := Replicas(c)
	names := make([]string, 0, n)
	for i := int32(0); i < n; i++ {
		names = append(names, fmt.Sprintf("%s-%d", ReplicaStatefulSetName(c), i))
	}
	return names
}

// ClusterID is NS.NAME, the id every node of the cluster shares.
func ClusterID(c *sutrav1.SutraCluster) string { return c.Namespace + "." + c.Name }

// PeerDomain is NAME-peers.NS.svc, the DNS suffix of every node.
func PeerDomain(c *sutrav1.SutraCluster) string {
	return fmt.Sprintf("%s.%s.svc", PeersServiceName(c), c.Namespace)
}

// PodAddress is POD.NAME-peers.NS.svc:GRPCPORT.
func PodAddress(c *sutrav1.SutraCluster, pod string) string {
	return fmt.Sprintf("%s.%s:%d", pod, PeerDomain(c), GRPCPort(c))
}

// LeaderPodAddress is the leader pod's own address, which replicas stream from.
func LeaderPodAddress(c *sutrav1.SutraCluster) string { return PodAddress(c, LeaderPodName(c)) }

// LeaderEndpoint is the leader Service address, NAME-leader.NS.svc:GRPCPORT:
// where clients write and where the operator reads replication status.
func LeaderEndpoint(c *sutrav1.SutraCluster) string {
	return fmt.Sprintf("%s.%s.svc:%d", LeaderServiceName(c), c.Namespace, GRPCPort(c))
}

// ReplicaAddresses lists the desired replicas' addresses in ordinal order.
func ReplicaAddresses(c *sutrav1.SutraCluster) []string {
	pods := ReplicaPodNames(c)
	addrs := make([]string, len(pods))
	for i, p := range pods {
		addrs[i] = PodAddress(c, p)
	}
	return addrs
}

// TopologyReplicas is the topology ConfigMap's "replicas" value.
func TopologyReplicas(c *sutrav1.SutraCluster) string {
	return strings.Join(ReplicaAddresses(c), ",")
}

// ClusterLabels are on every object and pod of the cluster.
func ClusterLabels(c *sutrav1.SutraCluster) map[string]string {
	return map[string]string{
		LabelName:      AppName,
		LabelInstance:  c.Name,
		LabelComponent: "storage",
		LabelManagedBy: ManagedBy,
		LabelCluster:   c.Name,
	}
}

// SelectorLabels select every pod of the cluster (both roles).
func SelectorLabels(c *sutrav1.SutraCluster) map[string]string {
	return map[string]string{LabelName: AppName, LabelCluster: c.Name}
}

// RoleSelectorLabels select the pods of one role.
func RoleSelectorLabels(c *sutrav1.SutraCluster, role string) map[string]string {
	l := SelectorLabels(c)
	l[LabelRole] = role
	return l
}

// ReplicaSelector is status.selector, the scale subresource's label selector:
// the replica pods, which spec.replicas counts.
func ReplicaSelector(c *sutrav1.SutraCluster) string {
	return labels.SelectorFromSet(RoleSelectorLabels(c, RoleReplica)).String()
}

// Replicas is spec.replicas or its default.
func Replicas(c *sutrav1.SutraCluster) int32 {
	if c.Spec.Replicas == nil {
		return sutrav1.DefaultReplicas
	}
	return *c.Spec.Replicas
}

// GRPCPort is spec.ports.grpc or its default.
func GRPCPort(c *sutrav1.SutraCluster) int32 {
	return orDefault(c.Spec.Ports.GRPC, sutrav1.DefaultGRPCPort)
}

// MetricsPort is spec.ports.metrics or its default.
func MetricsPort(c *sutrav1.SutraCluster) int32 {
	return orDefault(c.Spec.Ports.Metrics, sutrav1.DefaultMetricsPort)
}

// LagThresholdMs is spec.replication.lagThresholdMs or its default.
func LagThresholdMs(c *sutrav1.SutraCluster) int64 {
	return orDefault(c.Spec.Replication.LagThresholdMs, sutrav1.DefaultLagThresholdMs)
}

// HeartbeatIntervalMs is spec.replication.heartbeatIntervalMs or its default.
func HeartbeatIntervalMs(c *sutrav1.SutraCluster) int64 {
	return orDefault(c.Spec.Replication.HeartbeatIntervalMs, sutrav1.DefaultHeartbeatIntervalMs)
}

// DataDurability is spec.replication.synchronous.dataDurability or its
// default, required. Empty when replication is asynchronous.
func DataDurability(c *sutrav1.SutraCluster) sutrav1.DataDurability {
	sync := c.Spec.Replication.Synchronous
	switch {
	case sync == nil:
		return ""
	case sync.DataDurability == "":
		return sutrav1.DataDurabilityRequired
	}
	return sync.DataDurability
}

// StorageSize is spec.storage.size or its default.
func StorageSize(c *sutrav1.SutraCluster) resource.Quantity {
	return quantityOr(c.Spec.Storage.Size, sutrav1.DefaultStorageSize)
}

// RetentionBytes is spec.replication.retentionBytes or its default.
func RetentionBytes(c *sutrav1.SutraCluster) resource.Quantity {
	return quantityOr(c.Spec.Replication.RetentionBytes, sutrav1.DefaultRetentionBytes)
}

// DefaultStatusPollInterval is used when spec.statusPollInterval is unset.
const DefaultStatusPollInterval = 10 * time.Second

// StatusPollInterval is spec.statusPollInterval or its default.
func StatusPollInterval(c *sutrav1.SutraCluster) time.Duration {
	if c.Spec.StatusPollInterval.Duration <= 0 {
		return DefaultStatusPollInterval
	}
	return c.Spec.StatusPollInterval.Duration
}

// OwnerReference makes c the controller of an object.
func OwnerReference(c *sutrav1.SutraCluster) metav1.OwnerReference {
	return *metav1.NewControllerRef(c, sutrav1.GroupVersion.WithKind("SutraCluster"))
}

func objectMeta(c *sutrav1.SutraCluster, name string, extra map[string]string) metav1.ObjectMeta {
	l := ClusterLabels(c)
	for k, v := range extra {
		l[k] = v
	}
	return metav1.ObjectMeta{
		Name:            name,
		Namespace:       c.Namespace,
		Labels:          l,
		OwnerReferences: []metav1.OwnerReference{OwnerReference(c)},
	}
}

func orDefault[T int32 | int64](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

func quantityOr(q resource.Quantity, def string) resource.Quantity {
	if q.IsZero() {
		return resource.MustParse(def)
	}
	return q.DeepCopy()
}
