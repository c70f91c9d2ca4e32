package resources

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

// Pod builds the pod of one instance. Its spec does not depend on the
// instance's role: the storage server reads its role from the pod's
// storage.sutra.io/role label and its leader from the storage.sutra.io/leader
// annotation (environment variables from the downward API, resolved each
// time the container starts), so the operator changes roles by labelling
// pods and calling the admin API, never by restarting them. leaderAddr is
// empty for the leader.
//
// The pod carries AnnotationSpecHash, the hash of everything in it that a
// spec change can alter; a pod whose hash differs from PodSpecHash is out of
// date and is recreated by the rollout.
func Pod(c *sutrav1.SutraCluster, instance, role, leaderAddr string) *corev1.Pod {
	annotations := map[string]string{AnnotationSpecHash: PodSpecHash(c)}
	if leaderAddr != "" {
		annotations[AnnotationLeader] = leaderAddr
	}
	meta := objectMeta(c, instance, InstanceLabels(instance, role))
	meta.Annotations = annotations
	spec := podSpec(c)
	spec.Hostname = instance
	spec.Volumes[0].PersistentVolumeClaim.ClaimName = ClaimName(instance)
	setInstanceSecret(&spec, instance)
	spec.Subdomain = PeersServiceName(c)
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: meta,
		Spec:       spec,
	}
}

// PodUpToDate reports whether pod was made from c's current pod spec.
func PodUpToDate(c *sutrav1.SutraCluster, pod *corev1.Pod) bool {
	return pod.Annotations[AnnotationSpecHash] == PodSpecHash(c)
}

// InstanceLabels are the labels that tell an instance's name and role.
func InstanceLabels(instance, role string) map[string]string {
	return map[string]string{LabelInstanceName: instance, LabelRole: role}
}

// PodSpecHash hashes the pod spec every instance gets and the cluster's
// restartedAt annotation (kubectl sutra restart), as 16 hex digits.
func PodSpecHash(c *sutrav1.SutraCluster) string {
	b, err := json.Marshal(podSpec(c))
	if err != nil { // a PodSpec always marshals
		panic(err)
	}
	h := fnv.New64a()
	_, _ = h.Write(b)
	_, _ = h.Write([]byte(c.Annotations[sutrav1.AnnotationRestartedAt]))
	return fmt.Sprintf("%016x", h.Sum64())
}

// Claim builds data-INSTANCE, the instance's volume. With
// spec.pvcRetentionPolicy.whenDeleted Delete the cluster owns it, so it goes
// with the cluster; with Retain it has no owner and stays.
func Claim(c *sutrav1.SutraCluster, instance string) *corev1.PersistentVolumeClaim {
	meta := objectMeta(c, ClaimName(instance), map[string]string{LabelInstanceName: instance})
	if c.Spec.PVCRetentionPolicy.WhenDeleted != sutrav1.PVCDelete {
		meta.OwnerReferences = nil
	}
	return &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: meta,
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: copyPtr(c.Spec.Storage.StorageClassName),
			VolumeMode:       ptr.To(corev1.PersistentVolumeFilesystem),
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: StorageSize(c)},
			},
		},
	}
}

func podSpec(c *sutrav1.SutraCluster) corev1.PodSpec {
	grpc := GRPCPort(c)
	// The kubelet's gRPC probe cannot speak TLS: with TLS the probes ask
	// the metrics port (plain HTTP), where /healthz answers while the
	// process serves and /readyz reflects the gRPC health status. Without
	// TLS they stay gRPC health checks, which storage servers from before
	// /readyz also answer.
	probe := func(path string, period, failures int32) *corev1.Probe {
		handler := corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: path, Port: intstr.FromInt32(MetricsPort(c)), Scheme: corev1.URISchemeHTTP}}
		if !TLSEnabled(c) {
			handler = corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: grpc}}
		}
		return &corev1.Probe{
			ProbeHandler:     handler,
			PeriodSeconds:    period,
			TimeoutSeconds:   1,
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
			Env:             Env(c),
			Ports: []corev1.ContainerPort{
				{Name: GRPCPortName, ContainerPort: grpc, Protocol: corev1.ProtocolTCP},
				{Name: MetricsPortName, ContainerPort: MetricsPort(c), Protocol: corev1.ProtocolTCP},
			},
			Resources: *c.Spec.Resources.DeepCopy(),
			// The startup probe gives a node time to replay its log; the
			// liveness probe only starts after it. Readiness is quick to
			// drop (4 s) because the operator's failover waits for it.
			StartupProbe:   probe(ReadyzPath, 2, 150),
			ReadinessProbe: probe(ReadyzPath, 2, 2),
			LivenessProbe:  probe(HealthzPath, 10, 6),
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
		Volumes: []corev1.Volume{
			{Name: DataVolume, VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
				ClaimName: "", // the instance's: set by Pod
			}}},
			configVolume(c),
		},
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

// Env is the storage server's configuration, the same for every instance.
// The order matters: SUTRA_ADVERTISE_ADDRESS expands $(SUTRA_NODE_ID),
// defined before it. Role and leader come from the pod's label and
// annotation.
func Env(c *sutrav1.SutraCluster) []corev1.EnvVar {
	grpc := GRPCPort(c)
	retention := RetentionBytes(c)
	field := func(path string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path}}
	}
	env := []corev1.EnvVar{
		{Name: "SUTRA_NODE_ROLE", ValueFrom: field("metadata.labels['" + LabelRole + "']")},
		{Name: "SUTRA_LEADER", ValueFrom: field("metadata.annotations['" + AnnotationLeader + "']")},
		{Name: "SUTRA_NODE_ID", ValueFrom: field("metadata.name")},
		{Name: "SUTRA_CLUSTER_ID", Value: ClusterID(c)},
		{Name: "SUTRA_STORAGE_SERVER", Value: fmt.Sprintf("0.0.0.0:%d", grpc)},
		{Name: "SUTRA_ADVERTISE_ADDRESS", Value: fmt.Sprintf("$(SUTRA_NODE_ID).%s:%d", PeerDomain(c), grpc)},
		{Name: "SUTRA_METRICS_ADDR", Value: fmt.Sprintf("0.0.0.0:%d", MetricsPort(c))},
		{Name: "SUTRA_DATA_DIR", Value: DataDir},
		{Name: "SUTRA_REPLICAS_FILE", Value: ReplicasFile},
		{Name: "SUTRA_WAL_RETENTION_BYTES", Value: strconv.FormatInt(retention.Value(), 10)},
		{Name: "SUTRA_HEARTBEAT_INTERVAL_MS", Value: strconv.FormatInt(HeartbeatIntervalMs(c), 10)},
		{Name: "SUTRA_LAG_THRESHOLD_MS", Value: strconv.FormatInt(LagThresholdMs(c), 10)},
	}
	env = append(env, tlsEnv(c)...)
	if limit, ok := c.Spec.Resources.Limits[corev1.ResourceMemory]; ok && limit.Value() > 0 {
		// The store lives on the Go heap: keep the collector under the
		// container's limit, with 10% for stacks and buffers.
		env = append(env, corev1.EnvVar{Name: "SUTRA_MEMORY_LIMIT", Value: strconv.FormatInt(limit.Value()/10*9, 10)})
	}
	if Replicas(c) > 0 {
		// A leader cut off from every replica and from the operator stops
		// taking writes: by then the operator may have promoted a replica.
		// The operator calls every node at least once per poll interval.
		env = append(env, corev1.EnvVar{Name: "SUTRA_SELF_FENCE_AFTER_MS", Value: strconv.FormatInt(SelfFenceAfter(c).Milliseconds(), 10)})
	}
	if sync := c.Spec.Replication.Synchronous; sync != nil {
		// Only the leader waits for confirmations, but every node gets the
		// setting: whichever is promoted leads with it.
		env = append(env,
			corev1.EnvVar{Name: "SUTRA_SYNC_REPLICAS", Value: strconv.FormatInt(int64(sync.Replicas), 10)},
			corev1.EnvVar{Name: "SUTRA_SYNC_MODE", Value: string(DataDurability(c))},
		)
	}
	return env
}

// SelfFenceAfter is twice the status poll interval, at least 10 s: how long
// a leader of a cluster with replicas keeps taking writes while it hears
// from no replica and not from the operator.
func SelfFenceAfter(c *sutrav1.SutraCluster) time.Duration {
	return max(2*StatusPollInterval(c), 10*time.Second)
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

func copyPtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
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
