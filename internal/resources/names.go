package resources

import (
	"fmt"
	"strconv"
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
	// LabelInstanceName names the instance a pod or claim belongs to.
	LabelInstanceName = "storage.sutra.io/instance"
	// AnnotationLeader, on a replica's pod, is the address of the leader it
	// follows when its container starts (SUTRA_LEADER).
	AnnotationLeader = "storage.sutra.io/leader"
	// AnnotationSpecHash, on a pod, is PodSpecHash of the spec it was made
	// from.
	AnnotationSpecHash = "storage.sutra.io/spec-hash"

	AppName   = "sutra"
	ManagedBy = "sutra-operator"

	RoleLeader  = "leader"
	RoleReplica = "replica"
)

// Container layout shared by every instance.
const (
	ContainerName   = "storage"
	ServerCommand   = "/storage-server"
	DataVolume      = "data"
	DataDir         = "/var/lib/sutra"
	TopologyVolume  = "topology"
	TopologyDir     = "/etc/sutra"
	TopologyKey     = "replicas"
	ReplicasFile    = TopologyDir + "/" + TopologyKey
	GRPCPortName    = "grpc"
	MetricsPortName = "metrics"
	// HealthzPath and ReadyzPath are the storage server's health endpoints
	// on the metrics port: live while it serves, ready while its gRPC
	// health status is SERVING.
	HealthzPath = "/healthz"
	ReadyzPath  = "/readyz"
	// RunAsUser is the unprivileged user the storage server runs as.
	RunAsUser int64 = 65532
)

// LegacyLeaderStatefulSetName and LegacyReplicaStatefulSetName are the
// StatefulSets of clusters made by operator versions before instances:
// NAME-leader (pod NAME-leader-0) and NAME-replica (NAME-replica-K). The
// operator adopts their pods and claims and deletes them.
func LegacyLeaderStatefulSetName(c *sutrav1.SutraCluster) string { return c.Name + "-leader" }

// LegacyReplicaStatefulSetName is NAME-replica.
func LegacyReplicaStatefulSetName(c *sutrav1.SutraCluster) string { return c.Name + "-replica" }

// InstanceName is NAME-SERIAL, the pod (and node id) of a new instance.
func InstanceName(c *sutrav1.SutraCluster, serial int) string {
	return fmt.Sprintf("%s-%d", c.Name, serial)
}

// InstanceSerial is the serial of an instance named NAME-SERIAL; false for
// other names (instances adopted from the legacy layout).
func InstanceSerial(c *sutrav1.SutraCluster, instance string) (int, bool) {
	rest, ok := strings.CutPrefix(instance, c.Name+"-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n <= 0 || strconv.Itoa(n) != rest {
		return 0, false
	}
	return n, true
}

// ClaimName is data-INSTANCE, the instance's volume claim (the name a
// StatefulSet gives its pods' claims, so legacy claims keep theirs).
func ClaimName(instance string) string { return DataVolume + "-" + instance }

// InstanceOfClaim is the instance a claim named data-INSTANCE belongs to.
func InstanceOfClaim(claim string) (string, bool) {
	return strings.CutPrefix(claim, DataVolume+"-")
}

// PeersServiceName is NAME-peers, the headless Service that gives every pod
// a stable DNS name.
func PeersServiceName(c *sutrav1.SutraCluster) string { return c.Name + "-peers" }

// ReadWriteServiceName is NAME-rw, the leader: writes.
func ReadWriteServiceName(c *sutrav1.SutraCluster) string { return c.Name + "-rw" }

// ReadOnlyServiceName is NAME-ro, the ready replicas: reads.
func ReadOnlyServiceName(c *sutrav1.SutraCluster) string { return c.Name + "-ro" }

// ReadServiceName is NAME-r, every ready instance: reads.
func ReadServiceName(c *sutrav1.SutraCluster) string { return c.Name + "-r" }

// LeaderServiceName is NAME-leader, the same as NAME-rw, kept for clients
// of earlier versions.
func LeaderServiceName(c *sutrav1.SutraCluster) string { return c.Name + "-leader" }

// ReplicasServiceName is NAME-replicas, the same as NAME-ro, kept for
// clients of earlier versions.
func ReplicasServiceName(c *sutrav1.SutraCluster) string { return c.Name + "-replicas" }

// TopologyConfigMapName is NAME-topology.
func TopologyConfigMapName(c *sutrav1.SutraCluster) string { return c.Name + "-topology" }

// PodDisruptionBudgetName is NAME, the replicas' budget.
func PodDisruptionBudgetName(c *sutrav1.SutraCluster) string { return c.Name }

// LeaderDisruptionBudgetName is NAME-leader, the leader's budget.
func LeaderDisruptionBudgetName(c *sutrav1.SutraCluster) string { return c.Name + "-leader" }

// LegacyLeaderPodName is NAME-leader-0, the leader of a legacy cluster.
func LegacyLeaderPodName(c *sutrav1.SutraCluster) string {
	return LegacyLeaderStatefulSetName(c) + "-0"
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

// LeaderEndpoint is the read-write Service address, NAME-rw.NS.svc:GRPCPORT:
// where clients write.
func LeaderEndpoint(c *sutrav1.SutraCluster) string {
	return fmt.Sprintf("%s.%s.svc:%d", ReadWriteServiceName(c), c.Namespace, GRPCPort(c))
}

// TopologyReplicas is the topology ConfigMap's "replicas" value: every
// instance's address, comma-separated. Whichever leads streams to the others
// (a node leaves its own address out).
func TopologyReplicas(c *sutrav1.SutraCluster, instances []string) string {
	addrs := make([]string, len(instances))
	for i, in := range instances {
		addrs[i] = PodAddress(c, in)
	}
	return strings.Join(addrs, ",")
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

// SelectorLabels select every pod and claim of the cluster.
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
