package resources

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

// LeaderStatefulSet builds NAME-leader: one pod that accepts writes and
// streams its log to the replicas listed in the topology ConfigMap. Its pod
// template does not depend on spec.replicas, so scaling never restarts the
// leader.
func LeaderStatefulSet(c *sutrav1.SutraCluster) *appsv1.StatefulSet {
	return statefulSet(c, LeaderStatefulSetName(c), RoleLeader, 1)
}

// ReplicaStatefulSet builds NAME-replica: spec.replicas pods that stream from
// the leader pod and serve reads.
func ReplicaStatefulSet(c *sutrav1.SutraCluster) *appsv1.StatefulSet {
	return statefulSet(c, ReplicaStatefulSetName(c), RoleReplica, Replicas(c))
}

func statefulSet(c *sutrav1.SutraCluster, name, role string, replicas int32) *appsv1.StatefulSet {
	roleLabels := map[string]string{LabelRole: role}
	return &appsv1.StatefulSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: objectMeta(c, name, roleLabels),
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(replicas),
			ServiceName:         PeersServiceName(c),
			Selector:            &metav1.LabelSelector{MatchLabels: RoleSelectorLabels(c, role)},
			PodManagementPolicy: appsv1.ParallelPodManagement,
			UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: pvcPolicy(c.Spec.PVCRetentionPolicy.WhenDeleted),
				WhenScaled:  pvcPolicy(c.Spec.PVCRetentionPolicy.WhenScaled),
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: mergeLabels(ClusterLabels(c), roleLabels)},
				Spec:       podSpec(c, role),
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{VolumeClaimTemplate(c, role)},
		},
	}
}

// VolumeClaimTemplate is the "data" claim every node gets.
func VolumeClaimTemplate(c *sutrav1.SutraCluster, role string) corev1.PersistentVolumeClaim {
	return corev1.PersistentVolumeClaim{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{
			Name:   DataVolume,
			Labels: mergeLabels(ClusterLabels(c), map[string]string{LabelRole: role}),
		},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: c.Spec.Storage.StorageClassName,
			VolumeMode:       ptr.To(corev1.PersistentVolumeFilesystem),
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: StorageSize(c)},
			},
		},
	}
}

func podSpec(c *sutrav1.SutraCluster, role string) corev1.PodSpec {
	grpc := GRPCPort(c)
	probe := func(period, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: grpc}},
			PeriodSeconds:    period,
			TimeoutSeconds:   2,
			FailureThreshold: failures,
		}
	}
	affinity := c.Spec.Affinity.DeepCopy()
	if affinity == nil {
		affinity = spreadAcrossNodes(c)
	}
	return corev1.PodSpec{
		Containers: []corev1.Container{{
			Name:            ContainerName,
			Image:           c.Spec.Image,
			ImagePullPolicy: pullPolicy(c.Spec.ImagePullPolicy),
			Command:         []string{ServerCommand},
			Env:             Env(c, role),
			Ports: []corev1.ContainerPort{
				{Name: GRPCPortName, ContainerPort: grpc, Protocol: corev1.ProtocolTCP},
				{Name: MetricsPortName, ContainerPort: MetricsPort(c), Protocol: corev1.ProtocolTCP},
			},
			Resources: *c.Spec.Resources.DeepCopy(),
			// The startup probe gives a node time to replay its log; the
			// liveness probe only starts after it.
			StartupProbe:   probe(5, 60),
			ReadinessProbe: probe(5, 3),
			LivenessProbe:  probe(10, 6),
			VolumeMounts: []corev1.VolumeMount{
				{Name: DataVolume, MountPath: DataDir},
				{Name: TopologyVolume, MountPath: TopologyDir, ReadOnly: true},
			},
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false),
				ReadOnlyRootFilesystem:   ptr.To(true),
				RunAsNonRoot:             ptr.To(true),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			},
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		}},
		Volumes: []corev1.Volume{{
			// Mounted on every node so a future promotion needs no template
			// change; only the leader is told to read it.
			Name: TopologyVolume,
			VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: TopologyConfigMapName(c)},
			}},
		}},
		SecurityContext: &corev1.PodSecurityContext{
			RunAsUser:      ptr.To(RunAsUser),
			RunAsGroup:     ptr.To(RunAsUser),
			FSGroup:        ptr.To(RunAsUser),
			RunAsNonRoot:   ptr.To(true),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		TerminationGracePeriodSeconds: ptr.To[int64](30),
		EnableServiceLinks:            ptr.To(false),
		Affinity:                      affinity,
		Tolerations:                   deepCopyTolerations(c.Spec.Tolerations),
		NodeSelector:                  copyMap(c.Spec.NodeSelector),
		TopologySpreadConstraints:     deepCopySpread(c.Spec.TopologySpreadConstraints),
	}
}

// Env is the storage server's configuration for one role. The order matters:
// SUTRA_ADVERTISE_ADDRESS expands $(SUTRA_NODE_ID), defined before it.
func Env(c *sutrav1.SutraCluster, role string) []corev1.EnvVar {
	grpc := GRPCPort(c)
	retention := RetentionBytes(c)
	env := []corev1.EnvVar{
		{Name: "SUTRA_NODE_ROLE", Value: role},
		{Name: "SUTRA_NODE_ID", ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"},
		}},
		{Name: "SUTRA_CLUSTER_ID", Value: ClusterID(c)},
		{Name: "SUTRA_STORAGE_SERVER", Value: fmt.Sprintf("0.0.0.0:%d", grpc)},
		{Name: "SUTRA_ADVERTISE_ADDRESS", Value: fmt.Sprintf("$(SUTRA_NODE_ID).%s:%d", PeerDomain(c), grpc)},
		{Name: "SUTRA_METRICS_ADDR", Value: fmt.Sprintf("0.0.0.0:%d", MetricsPort(c))},
		{Name: "SUTRA_DATA_DIR", Value: DataDir},
		{Name: "SUTRA_WAL_RETENTION_BYTES", Value: strconv.FormatInt(retention.Value(), 10)},
		{Name: "SUTRA_HEARTBEAT_INTERVAL_MS", Value: strconv.FormatInt(HeartbeatIntervalMs(c), 10)},
		{Name: "SUTRA_LAG_THRESHOLD_MS", Value: strconv.FormatInt(LagThresholdMs(c), 10)},
	}
	if limit, ok := c.Spec.Resources.Limits[corev1.ResourceMemory]; ok && limit.Value() > 0 {
		// The store lives on the Go heap: keep the collector under the
		// container's limit, with 10% for stacks and buffers.
		env = append(env, corev1.EnvVar{Name: "SUTRA_MEMORY_LIMIT", Value: strconv.FormatInt(limit.Value()/10*9, 10)})
	}
	if sync := c.Spec.Replication.Synchronous; sync != nil {
		// Only the leader waits for confirmations, but every node gets the
		// setting: a replica promoted at runtime leads with it, and both
		// StatefulSets change together when it does.
		env = append(env,
			corev1.EnvVar{Name: "SUTRA_SYNC_REPLICAS", Value: strconv.FormatInt(int64(sync.Replicas), 10)},
			corev1.EnvVar{Name: "SUTRA_SYNC_MODE", Value: string(DataDurability(c))},
		)
	}
	switch role {
	case RoleLeader:
		env = append(env, corev1.EnvVar{Name: "SUTRA_REPLICAS_FILE", Value: ReplicasFile})
	case RoleReplica:
		env = append(env, corev1.EnvVar{Name: "SUTRA_LEADER", Value: LeaderPodAddress(c)})
	}
	return env
}

// spreadAcrossNodes is the default affinity: nodes of one cluster prefer
// different Kubernetes nodes, so one node failure takes at most one copy.
func spreadAcrossNodes(c *sutrav1.SutraCluster) *corev1.Affinity {
	return &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
			Weight: 100,
			PodAffinityTerm: corev1.PodAffinityTerm{
				LabelSelector: &metav1.LabelSelector{MatchLabels: SelectorLabels(c)},
				TopologyKey:   corev1.LabelHostname,
			},
		}},
	}}
}

func pvcPolicy(p sutrav1.PVCRetentionPolicyType) appsv1.PersistentVolumeClaimRetentionPolicyType {
	if p == sutrav1.PVCDelete {
		return appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	}
	return appsv1.RetainPersistentVolumeClaimRetentionPolicyType
}

func pullPolicy(p corev1.PullPolicy) corev1.PullPolicy {
	if p == "" {
		return corev1.PullIfNotPresent
	}
	return p
}

func mergeLabels(a, b map[string]string) map[string]string {
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	return mergeLabels(m, nil)
}

func deepCopyTolerations(in []corev1.Toleration) []corev1.Toleration {
	if in == nil {
		return nil
	}
	out := make([]corev1.Toleration, len(in))
	for i := range in {
		in[i].DeepCopyInto(&out[i])
	}
	return out
}

func deepCopySpread(in []corev1.TopologySpreadConstraint) []corev1.TopologySpreadConstraint {
	if in == nil {
		return nil
	}
	out := make([]corev1.TopologySpreadConstraint, len(in))
	for i := range in {
		in[i].DeepCopyInto(&out[i])
	}
	return out
}
