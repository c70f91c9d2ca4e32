package resources

import (
	"reflect"
	"strings"
	"testing"
	"time"

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
		{"instance", InstanceName(c, 4), "demo-4"},
		{"claim", ClaimName("demo-4"), "data-demo-4"},
		{"legacy leader sts", LegacyLeaderStatefulSetName(c), "demo-leader"},
		{"legacy replica sts", LegacyReplicaStatefulSetName(c), "demo-replica"},
		{"legacy leader pod", LegacyLeaderPodName(c), "demo-leader-0"},
		{"peers", PeersServiceName(c), "demo-peers"},
		{"rw", ReadWriteServiceName(c), "demo-rw"},
		{"ro", ReadOnlyServiceName(c), "demo-ro"},
		{"r", ReadServiceName(c), "demo-r"},
		{"legacy leader svc", LeaderServiceName(c), "demo-leader"},
		{"legacy replicas svc", ReplicasServiceName(c), "demo-replicas"},
		{"topology cm", TopologyConfigMapName(c), "demo-topology"},
		{"pdb", PodDisruptionBudgetName(c), "demo"},
		{"leader pdb", LeaderDisruptionBudgetName(c), "demo-leader"},
		{"pod address", PodAddress(c, "demo-2"), "demo-2.demo-peers.prod.svc:7000"},
		{"leader endpoint", LeaderEndpoint(c), "demo-rw.prod.svc:7000"},
		{"cluster id", ClusterID(c), "prod.demo"},
		{"peer domain", PeerDomain(c), "demo-peers.prod.svc"},
		{"topology", TopologyReplicas(c, []string{"demo-1", "demo-leader-0", "demo-3"}), "demo-1.demo-peers.prod.svc:7000,demo-leader-0.demo-peers.prod.svc:7000,demo-3.demo-peers.prod.svc:7000"},
		{"selector", ReplicaSelector(c), "app.kubernetes.io/name=sutra,storage.sutra.io/cluster=demo,storage.sutra.io/role=replica"},
	}
	for _, tc := range checks {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

func TestInstanceSerial(t *testing.T) {
	c := cluster()
	tests := []struct {
		name   string
		serial int
		ok     bool
	}{
		{"demo-1", 1, true},
		{"demo-3", 3, true},
		{"demo-12", 12, true},
		{"demo-03", 0, false},
		{"demo-0", 0, false},
		{"demo--1", 0, false},
		{"demo-", 0, false},
		{"demo", 0, false},
		{"demo-leader-0", 0, false},
		{"demo-replica-1", 0, false},
		{"other-1", 0, false},
		{"demox-1", 0, false},
	}
	for _, tc := range tests {
		n, ok := InstanceSerial(c, tc.name)
		if n != tc.serial || ok != tc.ok {
			t.Errorf("InstanceSerial(%q) = %d, %v; want %d, %v", tc.name, n, ok, tc.serial, tc.ok)
		}
	}
	// InstanceName and InstanceSerial are inverses.
	for _, s := range []int{1, 2, 10, 99} {
		if n, ok := InstanceSerial(c, InstanceName(c, s)); !ok || n != s {
			t.Errorf("InstanceSerial(InstanceName(%d)) = %d, %v", s, n, ok)
		}
	}
}

func TestInstanceOfClaim(t *testing.T) {
	for claim, want := range map[string]string{"data-demo-1": "demo-1", "data-demo-leader-0": "demo-leader-0", "data-demo-replica-2": "demo-replica-2"} {
		if got, ok := InstanceOfClaim(claim); !ok || got != want {
			t.Errorf("InstanceOfClaim(%q) = %q, %v; want %q", claim, got, ok, want)
		}
		if ClaimName(want) != claim {
			t.Errorf("ClaimName(%q) = %q, want %q", want, ClaimName(want), claim)
		}
	}
	if got, ok := InstanceOfClaim("logs-demo-1"); ok {
		t.Errorf("InstanceOfClaim(logs-demo-1) = %q, true; want false", got)
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
	if got := TopologyReplicas(c, nil); got != "" {
		t.Errorf("no instances topology = %q, want empty", got)
	}
	if DataDurability(c) != "" {
		t.Errorf("asynchronous durability = %q, want empty", DataDurability(c))
	}
}

func TestPod(t *testing.T) {
	tests := []struct {
		name       string
		cluster    *sutrav1.SutraCluster
		instance   string
		role       string
		leaderAddr string
		env        map[string]string // subset that must match
		noEnv      []string
	}{
		{
			name:     "leader",
			cluster:  cluster(func(c *sutrav1.SutraCluster) { c.Spec.Replicas = ptr.To[int32](5) }),
			instance: "demo-1",
			role:     RoleLeader,
			env: map[string]string{
				"SUTRA_NODE_ROLE":             "fieldRef:metadata.labels['storage.sutra.io/role']",
				"SUTRA_LEADER":                "fieldRef:metadata.annotations['storage.sutra.io/leader']",
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
				"SUTRA_TLS_CERT":              "/etc/sutra/tls/tls.crt",
				"SUTRA_TLS_KEY":               "/etc/sutra/tls/tls.key",
				"SUTRA_TLS_CA":                "/etc/sutra/tls/ca.crt",
			},
			// Asynchronous unless spec.replication.synchronous is set; TLS
			// unless spec.tls.mode is Disabled.
			noEnv: []string{"SUTRA_MEMORY_LIMIT", "SUTRA_SYNC_REPLICAS", "SUTRA_SYNC_MODE", "SUTRA_INSECURE"},
		},
		{
			name:       "plaintext replica",
			cluster:    cluster(func(c *sutrav1.SutraCluster) { c.Spec.TLS.Mode = sutrav1.TLSDisabled }),
			instance:   "demo-2",
			role:       RoleReplica,
			leaderAddr: "demo-1.demo-peers.prod.svc:50051",
			env:        map[string]string{"SUTRA_INSECURE": "true", "SUTRA_REPLICAS_FILE": "/etc/sutra/replicas"},
			noEnv:      []string{"SUTRA_TLS_CERT", "SUTRA_TLS_KEY", "SUTRA_TLS_CA"},
		},
		{
			name: "synchronous leader, durability defaulted to required",
			cluster: cluster(func(c *sutrav1.SutraCluster) {
				c.Spec.Replicas = ptr.To[int32](3)
				c.Spec.Replication.Synchronous = &sutrav1.SynchronousSpec{Replicas: 2}
			}),
			instance: "demo-2",
			role:     RoleLeader,
			env:      map[string]string{"SUTRA_SYNC_REPLICAS": "2", "SUTRA_SYNC_MODE": "required"},
		},
		{
			// Replicas get the setting too, so a promoted replica leads with it.
			name: "synchronous preferred replica",
			cluster: cluster(func(c *sutrav1.SutraCluster) {
				c.Spec.Replication.Synchronous = &sutrav1.SynchronousSpec{Replicas: 1, DataDurability: sutrav1.DataDurabilityPreferred}
			}),
			instance:   "demo-3",
			role:       RoleReplica,
			leaderAddr: "demo-1.demo-peers.prod.svc:50051",
			env: map[string]string{
				"SUTRA_NODE_ROLE":     "fieldRef:metadata.labels['storage.sutra.io/role']",
				"SUTRA_LEADER":        "fieldRef:metadata.annotations['storage.sutra.io/leader']",
				"SUTRA_REPLICAS_FILE": "/etc/sutra/replicas",
				"SUTRA_SYNC_REPLICAS": "1",
				"SUTRA_SYNC_MODE":     "preferred",
			},
		},
		{
			name: "legacy replica with tuned ports and replication",
			cluster: cluster(func(c *sutrav1.SutraCluster) {
				c.Spec.Replicas = ptr.To[int32](3)
				c.Spec.Ports = sutrav1.PortsSpec{GRPC: 6000, Metrics: 6001}
				c.Spec.Replication = sutrav1.ReplicationSpec{RetentionBytes: resource.MustParse("512Mi"), LagThresholdMs: 2000, HeartbeatIntervalMs: 100}
				c.Spec.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1000Mi")}
			}),
			instance:   "demo-replica-1",
			role:       RoleReplica,
			leaderAddr: "demo-leader-0.demo-peers.prod.svc:6000",
			env: map[string]string{
				"SUTRA_REPLICAS_FILE":         "/etc/sutra/replicas",
				"SUTRA_STORAGE_SERVER":        "0.0.0.0:6000",
				"SUTRA_METRICS_ADDR":          "0.0.0.0:6001",
				"SUTRA_ADVERTISE_ADDRESS":     "$(SUTRA_NODE_ID).demo-peers.prod.svc:6000",
				"SUTRA_WAL_RETENTION_BYTES":   "536870912",
				"SUTRA_HEARTBEAT_INTERVAL_MS": "100",
				"SUTRA_LAG_THRESHOLD_MS":      "2000",
				"SUTRA_MEMORY_LIMIT":          "943718400",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Pod(tc.cluster, tc.instance, tc.role, tc.leaderAddr)
			if p.Name != tc.instance || p.Namespace != "prod" {
				t.Errorf("name = %s/%s", p.Namespace, p.Name)
			}
			assertOwned(t, p.ObjectMeta)
			if p.Labels[LabelRole] != tc.role || p.Labels[LabelInstanceName] != tc.instance {
				t.Errorf("labels = %v, want role %q instance %q", p.Labels, tc.role, tc.instance)
			}
			for k, v := range SelectorLabels(tc.cluster) {
				if p.Labels[k] != v {
					t.Errorf("labels %v do not match the cluster selector %v", p.Labels, SelectorLabels(tc.cluster))
				}
			}
			if got := p.Annotations[AnnotationSpecHash]; got != PodSpecHash(tc.cluster) {
				t.Errorf("spec-hash annotation = %q, want %q", got, PodSpecHash(tc.cluster))
			}
			leader, ok := p.Annotations[AnnotationLeader]
			if tc.leaderAddr == "" && ok {
				t.Errorf("leader pod has leader annotation %q", leader)
			}
			if tc.leaderAddr != "" && leader != tc.leaderAddr {
				t.Errorf("leader annotation = %q, want %q", leader, tc.leaderAddr)
			}
			if p.Spec.Hostname != tc.instance || p.Spec.Subdomain != "demo-peers" {
				t.Errorf("hostname %q subdomain %q", p.Spec.Hostname, p.Spec.Subdomain)
			}
			ctr := p.Spec.Containers[0]
			if ctr.Name != "storage" || ctr.Image != "sutra:1.0" || ctr.Command[0] != "/storage-server" || ctr.ImagePullPolicy != corev1.PullIfNotPresent {
				t.Errorf("container %q image %q command %v pull %q", ctr.Name, ctr.Image, ctr.Command, ctr.ImagePullPolicy)
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
			// With TLS, HTTP probes on the metrics port (the kubelet's gRPC
			// probe cannot speak TLS); without, gRPC health checks; with the
			// periods and thresholds of before.
			for _, pr := range []struct {
				name              string
				probe             *corev1.Probe
				path              string
				period, threshold int32
			}{
				{"startup", ctr.StartupProbe, "/readyz", 2, 150},
				{"readiness", ctr.ReadinessProbe, "/readyz", 2, 2},
				{"liveness", ctr.LivenessProbe, "/healthz", 10, 6},
			} {
				h := pr.probe.HTTPGet
				switch {
				case !TLSEnabled(tc.cluster):
					if g := pr.probe.GRPC; g == nil || h != nil || g.Port != GRPCPort(tc.cluster) {
						t.Errorf("%s probe %+v, want a gRPC health check on %d", pr.name, pr.probe.ProbeHandler, GRPCPort(tc.cluster))
					}
				case h == nil || pr.probe.GRPC != nil || h.Path != pr.path || h.Port.IntVal != MetricsPort(tc.cluster) || h.Scheme != corev1.URISchemeHTTP:
					t.Errorf("%s probe %+v, want GET %s on %d", pr.name, pr.probe.ProbeHandler, pr.path, MetricsPort(tc.cluster))
				}
				if pr.probe.PeriodSeconds != pr.period || pr.probe.FailureThreshold != pr.threshold || pr.probe.TimeoutSeconds != 1 {
					t.Errorf("%s probe period %d threshold %d timeout %d, want %d %d 1", pr.name,
						pr.probe.PeriodSeconds, pr.probe.FailureThreshold, pr.probe.TimeoutSeconds, pr.period, pr.threshold)
				}
			}
			ports := map[string]int32{}
			for _, cp := range ctr.Ports {
				ports[cp.Name] = cp.ContainerPort
			}
			if ports["grpc"] != GRPCPort(tc.cluster) || ports["metrics"] != MetricsPort(tc.cluster) {
				t.Errorf("ports = %v", ports)
			}
			sc := ctr.SecurityContext
			if sc == nil || !ptr.Deref(sc.ReadOnlyRootFilesystem, false) || ptr.Deref(sc.AllowPrivilegeEscalation, true) || !ptr.Deref(sc.RunAsNonRoot, false) ||
				sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
				t.Errorf("container security context = %+v", sc)
			}
			psc := p.Spec.SecurityContext
			if psc == nil || ptr.Deref(psc.RunAsUser, 0) != RunAsUser || ptr.Deref(psc.FSGroup, 0) != RunAsUser || !ptr.Deref(psc.RunAsNonRoot, false) ||
				psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("pod security context = %+v", psc)
			}
			mounts := map[string]string{}
			for _, m := range ctr.VolumeMounts {
				mounts[m.Name] = m.MountPath
			}
			if mounts["data"] != "/var/lib/sutra" || mounts["topology"] != "/etc/sutra" {
				t.Errorf("mounts = %v", mounts)
			}
			vols := map[string]corev1.Volume{}
			for _, v := range p.Spec.Volumes {
				vols[v.Name] = v
			}
			if v := vols["data"]; v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "data-"+tc.instance {
				t.Errorf("data volume = %+v, want claim data-%s", v, tc.instance)
			}
			checkConfigVolume(t, tc.cluster, tc.instance, vols["topology"], ctr.VolumeMounts)
		})
	}
}

// Two Pod calls must not share the volume slice: Pod sets the claim name on
// its own copy.
func TestPodsDoNotShareVolumes(t *testing.T) {
	c := cluster()
	a := Pod(c, "demo-1", RoleLeader, "")
	b := Pod(c, "demo-2", RoleReplica, PodAddress(c, "demo-1"))
	if a.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "data-demo-1" || b.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "data-demo-2" {
		t.Errorf("claims = %q, %q", a.Spec.Volumes[0].PersistentVolumeClaim.ClaimName, b.Spec.Volumes[0].PersistentVolumeClaim.ClaimName)
	}
}

// The pod spec does not depend on the role or on spec.replicas: the
// operator changes roles by relabelling and scales by rewriting the
// topology, never by restarting pods.
func TestPodSpecIndependentOfRoleAndReplicas(t *testing.T) {
	one := cluster(func(c *sutrav1.SutraCluster) { c.Spec.Replicas = ptr.To[int32](1) })
	many := cluster(func(c *sutrav1.SutraCluster) { c.Spec.Replicas = ptr.To[int32](15) })
	leader := Pod(one, "demo-1", RoleLeader, "")
	replica := Pod(many, "demo-1", RoleReplica, PodAddress(one, "demo-2"))
	if !reflect.DeepEqual(leader.Spec, replica.Spec) {
		t.Error("pod spec changed with role or spec.replicas")
	}
	if !reflect.DeepEqual(Env(one), Env(many)) {
		t.Error("env changed with spec.replicas")
	}
}

func TestPodSpecHash(t *testing.T) {
	base := PodSpecHash(cluster())
	if len(base) != 16 {
		t.Errorf("hash %q, want 16 hex digits", base)
	}
	if PodSpecHash(cluster()) != base {
		t.Error("hash is not deterministic")
	}
	changes := []struct {
		name    string
		mut     func(*sutrav1.SutraCluster)
		changed bool
	}{
		{"image", func(c *sutrav1.SutraCluster) { c.Spec.Image = "sutra:1.1" }, true},
		{"resources", func(c *sutrav1.SutraCluster) {
			c.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}
		}, true},
		{"restartedAt", func(c *sutrav1.SutraCluster) {
			c.Annotations = map[string]string{sutrav1.AnnotationRestartedAt: "2026-01-01T00:00:00Z"}
		}, true},
		{"grpc port", func(c *sutrav1.SutraCluster) { c.Spec.Ports.GRPC = 6000 }, true},
		{"replicas", func(c *sutrav1.SutraCluster) { c.Spec.Replicas = ptr.To[int32](7) }, false},
		{"other annotation", func(c *sutrav1.SutraCluster) { c.Annotations = map[string]string{"example.com/x": "y"} }, false},
		{"storage size", func(c *sutrav1.SutraCluster) { c.Spec.Storage.Size = resource.MustParse("5Gi") }, false},
	}
	for _, tc := range changes {
		got := PodSpecHash(cluster(tc.mut))
		if (got != base) != tc.changed {
			t.Errorf("%s: hash %q vs base %q, want changed=%v", tc.name, got, base, tc.changed)
		}
	}
	// Two restarts are two rollouts.
	r1 := PodSpecHash(cluster(func(c *sutrav1.SutraCluster) { c.Annotations = map[string]string{sutrav1.AnnotationRestartedAt: "1"} }))
	r2 := PodSpecHash(cluster(func(c *sutrav1.SutraCluster) { c.Annotations = map[string]string{sutrav1.AnnotationRestartedAt: "2"} }))
	if r1 == r2 {
		t.Error("different restartedAt values give the same hash")
	}
	// The role is not part of the hash: every pod carries the same one.
	c := cluster()
	if Pod(c, "demo-1", RoleLeader, "").Annotations[AnnotationSpecHash] != Pod(c, "demo-2", RoleReplica, "x:1").Annotations[AnnotationSpecHash] {
		t.Error("leader and replica pods carry different spec hashes")
	}
}

func TestClaim(t *testing.T) {
	sc := "fast"
	t.Run("retained by default", func(t *testing.T) {
		c := cluster()
		pvc := Claim(c, "demo-2")
		if pvc.Name != "data-demo-2" || pvc.Namespace != "prod" {
			t.Errorf("name = %s/%s", pvc.Namespace, pvc.Name)
		}
		if len(pvc.OwnerReferences) != 0 {
			t.Errorf("owner references = %v, want none (Retain)", pvc.OwnerReferences)
		}
		if pvc.Labels[LabelManagedBy] != ManagedBy || pvc.Labels[LabelCluster] != "demo" || pvc.Labels[LabelInstanceName] != "demo-2" {
			t.Errorf("labels = %v (the operator's cache selects on managed-by)", pvc.Labels)
		}
		if _, ok := pvc.Labels[LabelRole]; ok {
			t.Error("claims must not carry a role: roles move between instances")
		}
		if got := pvc.Spec.Resources.Requests.Storage().String(); got != "1Gi" {
			t.Errorf("size = %s", got)
		}
		if pvc.Spec.StorageClassName != nil {
			t.Errorf("class = %q, want default", *pvc.Spec.StorageClassName)
		}
		if len(pvc.Spec.AccessModes) != 1 || pvc.Spec.AccessModes[0] != corev1.ReadWriteOnce {
			t.Errorf("access modes = %v", pvc.Spec.AccessModes)
		}
	})
	t.Run("explicit retain", func(t *testing.T) {
		c := cluster(func(c *sutrav1.SutraCluster) { c.Spec.PVCRetentionPolicy.WhenDeleted = sutrav1.PVCRetain })
		if refs := Claim(c, "demo-1").OwnerReferences; len(refs) != 0 {
			t.Errorf("owner references = %v, want none", refs)
		}
	})
	t.Run("deleted with the cluster, class and size", func(t *testing.T) {
		c := cluster(func(c *sutrav1.SutraCluster) {
			c.Spec.Storage = sutrav1.StorageSpec{Size: resource.MustParse("20Gi"), StorageClassName: &sc}
			c.Spec.PVCRetentionPolicy = sutrav1.PVCRetentionPolicy{WhenDeleted: sutrav1.PVCDelete}
		})
		pvc := Claim(c, "demo-1")
		assertOwned(t, pvc.ObjectMeta)
		if pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != "fast" || pvc.Spec.Resources.Requests.Storage().String() != "20Gi" {
			t.Errorf("claim = %+v", pvc.Spec)
		}
	})
}

func TestScheduling(t *testing.T) {
	tests := []struct {
		name  string
		mut   func(*sutrav1.SutraCluster)
		check func(t *testing.T, p corev1.PodSpec)
	}{
		{"default anti-affinity", nil, func(t *testing.T, p corev1.PodSpec) {
			a := p.Affinity
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
		}, func(t *testing.T, p corev1.PodSpec) {
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
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := cluster()
			if tc.mut != nil {
				tc.mut(c)
			}
			tc.check(t, Pod(c, "demo-1", RoleReplica, "x:1").Spec)
		})
	}
}

func TestServices(t *testing.T) {
	c := cluster()
	tests := []struct {
		name, role string
		headless   bool
		ports      int
	}{
		{"demo-peers", "", true, 2},
		{"demo-rw", RoleLeader, false, 1},
		{"demo-ro", RoleReplica, false, 1},
		{"demo-r", "", false, 1},
		{"demo-leader", RoleLeader, false, 1},
		{"demo-replicas", RoleReplica, false, 1},
	}
	svcs := Services(c)
	if len(svcs) != len(tests) {
		t.Fatalf("Services = %d, want %d", len(svcs), len(tests))
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := svcs[i]
			if s.Name != tc.name || s.Namespace != "prod" {
				t.Errorf("name = %s/%s, want prod/%s", s.Namespace, s.Name, tc.name)
			}
			assertOwned(t, s.ObjectMeta)
			role, ok := s.Spec.Selector[LabelRole]
			if role != tc.role || ok != (tc.role != "") {
				t.Errorf("selector role = %q (set %v), want %q", role, ok, tc.role)
			}
			if s.Spec.Selector[LabelCluster] != "demo" || s.Spec.Selector[LabelName] != AppName {
				t.Errorf("selector = %v", s.Spec.Selector)
			}
			if _, ok := s.Spec.Selector[LabelInstanceName]; ok {
				t.Errorf("selector %v picks one instance", s.Spec.Selector)
			}
			if (s.Spec.ClusterIP == corev1.ClusterIPNone) != tc.headless || s.Spec.PublishNotReadyAddresses != tc.headless {
				t.Errorf("headless = %q publishNotReady = %v", s.Spec.ClusterIP, s.Spec.PublishNotReadyAddresses)
			}
			if len(s.Spec.Ports) != tc.ports || s.Spec.Ports[0].Port != 50051 || s.Spec.Ports[0].TargetPort.StrVal != "grpc" {
				t.Errorf("ports = %+v", s.Spec.Ports)
			}
		})
	}
	// A leader pod is selected by -rw and not by -ro; a replica the other
	// way round.
	leader := Pod(c, "demo-1", RoleLeader, "")
	replica := Pod(c, "demo-2", RoleReplica, PodAddress(c, "demo-1"))
	selects := func(s *corev1.Service, p *corev1.Pod) bool {
		for k, v := range s.Spec.Selector {
			if p.Labels[k] != v {
				return false
			}
		}
		return true
	}
	if !selects(ReadWriteService(c), leader) || selects(ReadWriteService(c), replica) {
		t.Error("-rw must select the leader pod only")
	}
	if selects(ReadOnlyService(c), leader) || !selects(ReadOnlyService(c), replica) {
		t.Error("-ro must select the replica pods only")
	}
	if !selects(ReadService(c), leader) || !selects(ReadService(c), replica) || !selects(PeersService(c), leader) || !selects(PeersService(c), replica) {
		t.Error("-r and -peers must select every pod")
	}
}

func TestPodDisruptionBudgets(t *testing.T) {
	c := cluster(func(c *sutrav1.SutraCluster) { c.Spec.Replicas = ptr.To[int32](2) })
	pdb := PodDisruptionBudget(c)
	assertOwned(t, pdb.ObjectMeta)
	if pdb.Name != "demo" {
		t.Errorf("name = %s", pdb.Name)
	}
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || pdb.Spec.MinAvailable != nil {
		t.Errorf("replicas budget = %+v, want maxUnavailable 1", pdb.Spec)
	}
	if m := pdb.Spec.Selector.MatchLabels; m[LabelCluster] != "demo" || m[LabelRole] != RoleReplica {
		t.Errorf("replicas budget selector = %v", m)
	}
	lpdb := LeaderDisruptionBudget(c)
	assertOwned(t, lpdb.ObjectMeta)
	if lpdb.Name != "demo-leader" {
		t.Errorf("name = %s", lpdb.Name)
	}
	if lpdb.Spec.MinAvailable == nil || lpdb.Spec.MinAvailable.IntValue() != 1 || lpdb.Spec.MaxUnavailable != nil {
		t.Errorf("leader budget = %+v, want minAvailable 1", lpdb.Spec)
	}
	if m := lpdb.Spec.Selector.MatchLabels; m[LabelCluster] != "demo" || m[LabelRole] != RoleLeader {
		t.Errorf("leader budget selector = %v", m)
	}
	if p := pdb.Spec.UnhealthyPodEvictionPolicy; p == nil || *p != "AlwaysAllow" {
		t.Errorf("replicas budget unhealthy eviction = %v", p)
	}
	if p := lpdb.Spec.UnhealthyPodEvictionPolicy; p == nil || *p != "AlwaysAllow" {
		t.Errorf("leader budget unhealthy eviction = %v", p)
	}
}

func TestTopologyConfigMap(t *testing.T) {
	c := cluster()
	cm := TopologyConfigMap(c, []string{"demo-1", "demo-2", "demo-3"})
	assertOwned(t, cm.ObjectMeta)
	if cm.Name != "demo-topology" {
		t.Errorf("name = %s", cm.Name)
	}
	want := "demo-1.demo-peers.prod.svc:50051,demo-2.demo-peers.prod.svc:50051,demo-3.demo-peers.prod.svc:50051"
	if cm.Data["replicas"] != want || len(cm.Data) != 1 {
		t.Errorf("data = %v, want replicas=%s", cm.Data, want)
	}
	if got := TopologyConfigMap(c, nil).Data["replicas"]; got != "" {
		t.Errorf("no instances: replicas = %q", got)
	}
}

// Builders must not share memory with the cluster: the controller may apply
// and mutate their output.
func TestBuildersCopyInputs(t *testing.T) {
	sc := "fast"
	c := cluster(func(c *sutrav1.SutraCluster) {
		c.Spec.NodeSelector = map[string]string{"a": "b"}
		c.Spec.Tolerations = []corev1.Toleration{{Key: "k"}}
		c.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{TopologyKey: "zone"}}
		c.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{}}
		c.Spec.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}
		c.Spec.Storage.Size = resource.MustParse("3Gi")
		c.Spec.Storage.StorageClassName = &sc
	})
	orig := c.DeepCopy()
	p := Pod(c, "demo-1", RoleReplica, "x:1")
	p.Spec.NodeSelector["a"] = "changed"
	p.Spec.Tolerations[0].Key = "changed"
	p.Spec.TopologySpreadConstraints[0].TopologyKey = "changed"
	p.Spec.Affinity.NodeAffinity = nil
	p.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory] = resource.MustParse("2Gi")
	pvc := Claim(c, "demo-1")
	pvc.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("9Gi")
	*pvc.Spec.StorageClassName = "changed"
	if !reflect.DeepEqual(c, orig) {
		t.Errorf("builder output aliases the cluster spec:\n got %+v\nwant %+v", c.Spec, orig.Spec)
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

func TestSelfFenceOnlyWithReplicas(t *testing.T) {
	with := envMap(Env(cluster()))
	if got := with["SUTRA_SELF_FENCE_AFTER_MS"]; got != "20000" {
		t.Errorf("SUTRA_SELF_FENCE_AFTER_MS = %q, want 20000 (twice the 10s poll interval)", got)
	}
	fast := envMap(Env(cluster(func(c *sutrav1.SutraCluster) { c.Spec.StatusPollInterval.Duration = time.Second })))
	if got := fast["SUTRA_SELF_FENCE_AFTER_MS"]; got != "10000" {
		t.Errorf("SUTRA_SELF_FENCE_AFTER_MS = %q, want the 10s floor", got)
	}
	alone := envMap(Env(cluster(func(c *sutrav1.SutraCluster) { c.Spec.Replicas = ptr.To[int32](0) })))
	if _, ok := alone["SUTRA_SELF_FENCE_AFTER_MS"]; ok {
		t.Error("a leader without replicas must never fence itself: nothing could take over")
	}
}
