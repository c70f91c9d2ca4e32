package resources

import (
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

func cluster(mut ...func(*sutrav1.SutraCluster)) *sutrav1.SutraCluster {
	c := &sutrav1.SutraCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "prod", UID: "uid-1"},
		Spec:       sutrav1.SutraClusterSpec{Image: "sutra:1.0"},
	}
	for _, m := range mut {
		m(c)
	}
	return c
}

func envMap(env []corev1.EnvVar) map[string]string {
	m := map[string]string{}
	for _, e := range env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			m[e.Name] = "fieldRef:" + e.ValueFrom.FieldRef.FieldPath
			continue
		}
		m[e.Name] = e.Value
	}
	return m
}

func TestNamesAndAddresses(t *testing.T) {
	c := cluster(func(c *sutrav1.SutraCluster) { c.Spec.Replicas = ptr.To[int32](3); c.Spec.Ports.GRPC = 7000 })
	checks := []struct{ name, got, want string }{
		{"leader sts", LeaderStatefulSetName(c), "demo-leader"},
		{"replica sts", ReplicaStatefulSetName(c), "demo-replica"},
		{"peers", PeersServiceName(c), "demo-peers"},
		{"leader pod", LeaderPodName(c), "demo-leader-0"},
		{"leader pod address", LeaderPodAddress(c), "demo-leader-0.demo-peers.prod.svc:7000"},
		{"leader endpoint", LeaderEndpoint(c), "demo-leader.prod.svc:7000"},
		{"cluster id", ClusterID(c), "prod.demo"},
		{"topology", TopologyReplicas(c), "demo-replica-0.demo-peers.prod.svc:7000,demo-replica-1.demo-peers.prod.svc:7000,demo-replica-2.demo-peers.prod.svc:7000"},
		{"selector", ReplicaSelector(c), "app.kubernetes.io/name=sutra,storage.sutra.io/cluster=demo,storage.sutra.io/role=replica"},
	}
	for _, tc := range checks {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

func TestDefaults(t *testing.T) {
	c := cluster()
	if Replicas(c) != 2 || GRPCPort(c) != 50051 || MetricsPort(c) != 9090 || LagThresholdMs(c) != 1000 || HeartbeatIntervalMs(c) != 250 {
		t.Errorf("defaults: replicas %d grpc %d metrics %d lag %d hb %d", Replicas(c), GRPCPort(c), MetricsPort(c), LagThresholdMs(c), HeartbeatIntervalMs(c))
	}
	if s := StorageSize(c); s.String() != "1Gi" {
		t.Errorf("storage size = %s", s.String())
	}
	if StatusPollInterval(c) != 10*time.Second {
		t.Errorf("poll interval = %v", StatusPollInterval(c))
	}
	if got := TopologyReplicas(cluster(func(c *sutrav1.SutraCluster) { c.Spec.Replicas = ptr.To[int32](0) })); got != "" {
		t.Errorf("zero replicas topology = %q, want empty", got)
	}
}

func TestStatefulSets(t *testing.T) {
	tests := []struct {
		name     string
		cluster  *sutrav1.SutraCluster
		build    func(*sutrav1.SutraCluster) *appsv1.StatefulSet
		replicas int32
		role     string
		env      map[string]string // subset that must match
		noEnv    []string
	}{
		{
			name:     "leader",
			cluster:  cluster(func(c *sutrav1.SutraCluster) { c.Spec.Replicas = ptr.To[int32](5) }),
			build:    LeaderStatefulSet,
			replicas: 1,
			role:     RoleLeader,
			env: map[string]string{
				"SUTRA_NODE_ROLE":             "leader",
				"SUTRA_REPLICAS_FILE":         "/etc/sutra/replicas",
				"SUTRA_STORAGE_SERVER":        "0.0.0.0:50051",
				"SUTRA_DATA_DIR":              "/var/lib/sutra",
				"SUTRA_NODE_ID":               "fieldRef:metadata.name",
				"SUTRA_CLUSTER_ID":            "prod.demo",
				"SUTRA_ADVERTISE_ADDRESS":     "$(SUTRA_NODE_ID).demo-peers.prod.svc:50051",
				"SUTRA_METRICS_ADDR":          "0.0.0.0:9090",
				"SUTRA_WAL_RETENTION_BYTES":   "1073741824",
				"SUTRA_HEARTBEAT_INTERVAL_MS": "250",
				"SUTRA_LAG_THRESHOLD_MS":      "1000",
			},
			// Asynchronous unless spec.replication.synchronous is set.
			noEnv: []string{"SUTRA_LEADER", "SUTRA_MEMORY_LIMIT", "SUTRA_SYNC_REPLICAS", "SUTRA_SYNC_MODE"},
		},
		{
			name: "synchronous leader, durability defaulted to required",
			cluster: cluster(func(c *sutrav1.SutraCluster) {
				c.Spec.Replicas = ptr.To[int32](3)
				c.Spec.Replication.Synchronous = &sutrav1.SynchronousSpec{Replicas: 2}
			}),
			build:    LeaderStatefulSet,
			replicas: 1,
			role:     RoleLeader,
			env:      map[string]string{"SUTRA_NODE_ROLE": "leader", "SUTRA_SYNC_REPLICAS": "2", "SUTRA_SYNC_MODE": "required"},
		},
		{
			// Replicas get the setting too, so a promoted replica leads with it.
			name: "synchronous preferred replica",
			cluster: cluster(func(c *sutrav1.SutraCluster) {
				c.Spec.Replication.Synchronous = &sutrav1.SynchronousSpec{Replicas: 1, DataDurability: sutrav1.DataDurabilityPreferred}
			}),
			build:    ReplicaStatefulSet,
			replicas: 2,
			role:     RoleReplica,
			env:      map[string]string{"SUTRA_NODE_ROLE": "replica", "SUTRA_SYNC_REPLICAS": "1", "SUTRA_SYNC_MODE": "preferred"},
		},
		{
			name: "replica with tuned ports and replication",
			cluster: cluster(func(c *sutrav1.SutraCluster) {
				c.Spec.Replicas = ptr.To[int32](3)
				c.Spec.Ports = sutrav1.PortsSpec{GRPC: 6000, Metrics: 6001}
				c.Spec.Replication = sutrav1.ReplicationSpec{RetentionBytes: resource.MustParse("512Mi"), LagThresholdMs: 2000, HeartbeatIntervalMs: 100}
				c.Spec.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1000Mi")}
			}),
			build:    ReplicaStatefulSet,
			replicas: 3,
			role:     RoleReplica,
			env: map[string]string{
				"SUTRA_NODE_ROLE":             "replica",
				"SUTRA_LEADER":                "demo-leader-0.demo-peers.prod.svc:6000",
				"SUTRA_STORAGE_SERVER":        "0.0.0.0:6000",
				"SUTRA_METRICS_ADDR":          "0.0.0.0:6001",
				"SUTRA_ADVERTISE_ADDRESS":     "$(SUTRA_NODE_ID).demo-peers.prod.svc:6000",
				"SUTRA_WAL_RETENTION_BYTES":   "536870912",
				"SUTRA_HEARTBEAT_INTERVAL_MS": "100",
				"SUTRA_LAG_THRESHOLD_MS":      "2000",
				"SUTRA_MEMORY_LIMIT":          "943718400",
			},
			noEnv: []string{"SUTRA_REPLICAS_FILE"},
		},
		{
			name:     "zero replicas",
			cluster:  cluster(func(c *sutrav1.SutraCluster) { c.Spec.Replicas = ptr.To[int32](0) }),
			build:    ReplicaStatefulSet,
			replicas: 0,
			role:     RoleReplica,
			env:      map[string]string{"SUTRA_NODE_ROLE": "replica"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sts := tc.build(tc.cluster)
			if got := *sts.Spec.Replicas; got != tc.replicas {
				t.Errorf("replicas = %d, want %d", got, tc.replicas)
			}
			if sts.Spec.ServiceName != "demo-peers" {
				t.Errorf("serviceName = %q", sts.Spec.ServiceName)
			}
			if sts.Spec.Selector.MatchLabels[LabelRole] != tc.role || sts.Spec.Template.Labels[LabelRole] != tc.role {
				t.Errorf("role labels: selector %v template %v", sts.Spec.Selector.MatchLabels, sts.Spec.Template.Labels)
			}
			for k, v := range sts.Spec.Selector.MatchLabels {
				if sts.Spec.Template.Labels[k] != v {
					t.Errorf("template labels %v do not match selector %v", sts.Spec.Template.Labels, sts.Spec.Selector.MatchLabels)
				}
			}
			assertOwned(t, sts.ObjectMeta)
			ctr := sts.Spec.Template.Spec.Containers[0]
			if ctr.Image != "sutra:1.0" || ctr.Command[0] != "/storage-server" || ctr.ImagePullPolicy != corev1.PullIfNotPresent {
				t.Errorf("container image %q command %v pull %q", ctr.Image, ctr.Command, ctr.ImagePullPolicy)
			}
			env := envMap(ctr.Env)
			for k, v := range tc.env {
				if env[k] != v {
					t.Errorf("env %s = %q, want %q", k, env[k], v)
				}
			}
			for _, k := range tc.noEnv {
				if _, ok := env[k]; ok {
					t.Errorf("env %s set, want absent", k)
				}
			}
			// $(SUTRA_NODE_ID) only expands if defined earlier.
			idx := map[string]int{}
			for i, e := range ctr.Env {
				idx[e.Name] = i
			}
			if idx["SUTRA_NODE_ID"] > idx["SUTRA_ADVERTISE_ADDRESS"] {
				t.Error("SUTRA_NODE_ID must precede SUTRA_ADVERTISE_ADDRESS")
			}
			for _, p := range []*corev1.Probe{ctr.ReadinessProbe, ctr.LivenessProbe, ctr.StartupProbe} {
				if p == nil || p.GRPC == nil || p.GRPC.Port != GRPCPort(tc.cluster) {
					t.Errorf("probe %+v, want a gRPC probe on %d", p, GRPCPort(tc.cluster))
				}
			}
			vct := sts.Spec.VolumeClaimTemplates
			if len(vct) != 1 || vct[0].Name != "data" || vct[0].Spec.Resources.Requests.Storage().String() != "1Gi" {
				t.Errorf("volume claim templates %+v", vct)
			}
			if vct[0].Labels[LabelManagedBy] != ManagedBy {
				t.Error("PVCs must carry the managed-by label (the operator's cache selects on it)")
			}
			if p := sts.Spec.PersistentVolumeClaimRetentionPolicy; p.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType || p.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
				t.Errorf("pvc retention = %+v, want Retain/Retain", p)
			}
			mounts := map[string]string{}
			for _, m := range ctr.VolumeMounts {
				mounts[m.Name] = m.MountPath
			}
			if mounts["data"] != "/var/lib/sutra" || mounts["topology"] != "/etc/sutra" {
				t.Errorf("mounts = %v", mounts)
			}
			if v := sts.Spec.Template.Spec.Volumes[0]; v.ConfigMap == nil || v.ConfigMap.Name != "demo-topology" {
				t.Errorf("topology volume = %+v", v)
			}
		})
	}
}

// The leader's pod template must not depend on spec.replicas: scaling changes
// only the topology ConfigMap, so the leader is never restarted.
func TestLeaderTemplateIndependentOfReplicas(t *testing.T) {
	a := LeaderStatefulSet(cluster(func(c *sutrav1.SutraCluster) { c.Spec.Replicas = ptr.To[int32](1) }))
	b := LeaderStatefulSet(cluster(func(c *sutrav1.SutraCluster) { c.Spec.Replicas = ptr.To[int32](15) }))
	if !reflect.DeepEqual(a.Spec.Template, b.Spec.Template) {
		t.Error("leader pod template changed with spec.replicas")
	}
}

func TestSchedulingAndStorage(t *testing.T) {
	sc := "fast"
	tests := []struct {
		name  string
		mut   func(*sutrav1.SutraCluster)
		check func(t *testing.T, sts *appsv1.StatefulSet)
	}{
		{"default anti-affinity", nil, func(t *testing.T, sts *appsv1.StatefulSet) {
			a := sts.Spec.Template.Spec.Affinity
			if a == nil || a.PodAntiAffinity == nil || a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.TopologyKey != corev1.LabelHostname {
				t.Errorf("affinity = %+v", a)
			}
		}},
		{"user scheduling", func(c *sutrav1.SutraCluster) {
			c.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{}}
			c.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Value: "sutra", Effect: corev1.TaintEffectNoSchedule}}
			c.Spec.NodeSelector = map[string]string{"disk": "ssd"}
			c.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.ScheduleAnyway}}
			c.Spec.Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}
			c.Spec.ImagePullPolicy = corev1.PullAlways
		}, func(t *testing.T, sts *appsv1.StatefulSet) {
			p := sts.Spec.Template.Spec
			if p.Affinity.NodeAffinity == nil || p.Affinity.PodAntiAffinity != nil {
				t.Errorf("user affinity not used as is: %+v", p.Affinity)
			}
			if p.Tolerations[0].Key != "dedicated" || p.NodeSelector["disk"] != "ssd" || p.TopologySpreadConstraints[0].TopologyKey != "zone" {
				t.Errorf("scheduling fields not copied: %+v %+v %+v", p.Tolerations, p.NodeSelector, p.TopologySpreadConstraints)
			}
			if p.Containers[0].Resources.Limits.Memory().String() != "1Gi" || p.Containers[0].ImagePullPolicy != corev1.PullAlways {
				t.Errorf("resources/pull policy not copied")
			}
		}},
		{"storage class, size and delete policies", func(c *sutrav1.SutraCluster) {
			c.Spec.Storage = sutrav1.StorageSpec{Size: resource.MustParse("20Gi"), StorageClassName: &sc}
			c.Spec.PVCRetentionPolicy = sutrav1.PVCRetentionPolicy{WhenDeleted: sutrav1.PVCDelete, WhenScaled: sutrav1.PVCDelete}
		}, func(t *testing.T, sts *appsv1.StatefulSet) {
			v := sts.Spec.VolumeClaimTemplates[0]
			if *v.Spec.StorageClassName != "fast" || v.Spec.Resources.Requests.Storage().String() != "20Gi" {
				t.Errorf("claim = %+v", v.Spec)
			}
			if p := sts.Spec.PersistentVolumeClaimRetentionPolicy; p.WhenDeleted != appsv1.DeletePersistentVolumeClaimRetentionPolicyType || p.WhenScaled != appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
				t.Errorf("retention = %+v", p)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := cluster()
			if tc.mut != nil {
				tc.mut(c)
			}
			tc.check(t, ReplicaStatefulSet(c))
		})
	}
}

func TestServices(t *testing.T) {
	c := cluster()
	tests := []struct {
		svc        *corev1.Service
		name, role string
		headless   bool
		ports      int
	}{
		{PeersService(c), "demo-peers", "", true, 2},
		{LeaderService(c), "demo-leader", RoleLeader, false, 1},
		{ReplicasService(c), "demo-replicas", RoleReplica, false, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.svc
			if s.Name != tc.name || s.Namespace != "prod" {
				t.Errorf("name = %s/%s", s.Namespace, s.Name)
			}
			assertOwned(t, s.ObjectMeta)
			if got := s.Spec.Selector[LabelRole]; got != tc.role {
				t.Errorf("selector role = %q, want %q", got, tc.role)
			}
			if s.Spec.Selector[LabelCluster] != "demo" {
				t.Errorf("selector = %v", s.Spec.Selector)
			}
			if (s.Spec.ClusterIP == corev1.ClusterIPNone) != tc.headless || s.Spec.PublishNotReadyAddresses != tc.headless {
				t.Errorf("headless = %q publishNotReady = %v", s.Spec.ClusterIP, s.Spec.PublishNotReadyAddresses)
			}
			if len(s.Spec.Ports) != tc.ports || s.Spec.Ports[0].Port != 50051 || s.Spec.Ports[0].TargetPort.StrVal != "grpc" {
				t.Errorf("ports = %+v", s.Spec.Ports)
			}
		})
	}
}

func TestPodDisruptionBudgetAndTopology(t *testing.T) {
	c := cluster(func(c *sutrav1.SutraCluster) { c.Spec.Replicas = ptr.To[int32](2) })
	pdb := PodDisruptionBudget(c)
	assertOwned(t, pdb.ObjectMeta)
	if pdb.Spec.MaxUnavailable.IntValue() != 1 || pdb.Spec.Selector.MatchLabels[LabelCluster] != "demo" {
		t.Errorf("pdb = %+v", pdb.Spec)
	}
	if _, ok := pdb.Spec.Selector.MatchLabels[LabelRole]; ok {
		t.Error("pdb must cover both roles")
	}
	cm := TopologyConfigMap(c)
	assertOwned(t, cm.ObjectMeta)
	if cm.Name != "demo-topology" {
		t.Errorf("name = %s", cm.Name)
	}
	want := "demo-replica-0.demo-peers.prod.svc:50051,demo-replica-1.demo-peers.prod.svc:50051"
	if cm.Data["replicas"] != want || cm.Data["leader"] != "demo-leader-0.demo-peers.prod.svc:50051" {
		t.Errorf("data = %v", cm.Data)
	}
}

// Builders must not share memory with the cluster: the controller may apply
// and mutate their output.
func TestBuildersCopyInputs(t *testing.T) {
	c := cluster(func(c *sutrav1.SutraCluster) {
		c.Spec.NodeSelector = map[string]string{"a": "b"}
		c.Spec.Tolerations = []corev1.Toleration{{Key: "k"}}
	})
	sts := ReplicaStatefulSet(c)
	sts.Spec.Template.Spec.NodeSelector["a"] = "changed"
	sts.Spec.Template.Spec.Tolerations[0].Key = "changed"
	if c.Spec.NodeSelector["a"] != "b" || c.Spec.Tolerations[0].Key != "k" {
		t.Error("builder output aliases the cluster spec")
	}
}

func assertOwned(t *testing.T, m metav1.ObjectMeta) {
	t.Helper()
	if len(m.OwnerReferences) != 1 {
		t.Fatalf("%s: owner references = %v", m.Name, m.OwnerReferences)
	}
	o := m.OwnerReferences[0]
	if o.Kind != "SutraCluster" || o.Name != "demo" || o.UID != "uid-1" || !ptr.Deref(o.Controller, false) || !strings.HasPrefix(o.APIVersion, "storage.sutra.io/") {
		t.Errorf("%s: owner = %+v", m.Name, o)
	}
	if m.Labels[LabelManagedBy] != ManagedBy || m.Labels[LabelCluster] != "demo" {
		t.Errorf("%s: labels = %v", m.Name, m.Labels)
	}
}
