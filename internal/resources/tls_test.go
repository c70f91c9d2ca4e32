package resources

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

// checkConfigVolume checks the volume mounted read-only at /etc/sutra: the
// topology ConfigMap alone without TLS; with TLS, projected with the
// instance's Secret under tls/.
func checkConfigVolume(t *testing.T, c *sutrav1.SutraCluster, instance string, v corev1.Volume, mounts []corev1.VolumeMount) {
	t.Helper()
	var mount *corev1.VolumeMount
	for i := range mounts {
		if mounts[i].Name == "topology" {
			mount = &mounts[i]
		}
	}
	if mount == nil || mount.MountPath != "/etc/sutra" || !mount.ReadOnly || mount.SubPath != "" {
		t.Errorf("config mount = %+v, want /etc/sutra read-only", mount)
	}
	if !TLSEnabled(c) {
		if v.ConfigMap == nil || v.ConfigMap.Name != "demo-topology" || v.Projected != nil {
			t.Errorf("plaintext config volume = %+v, want the topology ConfigMap only", v.VolumeSource)
		}
		return
	}
	p := v.Projected
	if p == nil || len(p.Sources) != 2 || p.Sources[0].ConfigMap == nil || p.Sources[1].Secret == nil {
		t.Fatalf("TLS config volume = %+v, want the topology ConfigMap and the instance Secret projected", v.VolumeSource)
	}
	if cm := p.Sources[0].ConfigMap; cm.Name != "demo-topology" || len(cm.Items) != 0 {
		t.Errorf("topology projection = %+v", cm)
	}
	sec := p.Sources[1].Secret
	if sec.Name != instance+"-tls" || sec.Optional != nil {
		t.Errorf("secret projection %q optional %v, want %s-tls, required", sec.Name, sec.Optional, instance)
	}
	paths := map[string]string{}
	for _, it := range sec.Items {
		paths[it.Key] = it.Path
		if it.Key == "tls.key" && (it.Mode == nil || *it.Mode != 0o440) {
			t.Errorf("tls.key mode %v, want 0440", it.Mode)
		}
	}
	want := map[string]string{"tls.crt": "tls/tls.crt", "tls.key": "tls/tls.key", "ca.crt": "tls/ca.crt"}
	if len(paths) != len(want) {
		t.Errorf("secret items %v, want %v", paths, want)
	}
	for k, path := range want {
		if paths[k] != path {
			t.Errorf("secret key %s at %q, want %q (so it is %s/%s)", k, paths[k], path, mount.MountPath, path)
		}
	}
}

func TestInstanceDNSNames(t *testing.T) {
	c := cluster()
	got := InstanceDNSNames(c, "demo-2")
	// The host of PodAddress is what the operator and the peers dial: gRPC
	// verifies the certificate against it.
	host := "demo-2.demo-peers.prod.svc"
	if PodAddress(c, "demo-2") != host+":50051" {
		t.Fatalf("PodAddress changed: %s", PodAddress(c, "demo-2"))
	}
	want := []string{host, host + ".cluster.local", "demo-2.demo-peers", "localhost"}
	for _, svc := range []string{"demo-rw", "demo-ro", "demo-r", "demo-leader", "demo-replicas"} {
		want = append(want, svc, svc+".prod", svc+".prod.svc", svc+".prod.svc.cluster.local")
	}
	slices.Sort(want)
	sorted := slices.Clone(got)
	slices.Sort(sorted)
	if !slices.Equal(sorted, want) {
		t.Errorf("DNS names\n got %v\nwant %v", sorted, want)
	}
	if len(slices.Compact(sorted)) != len(got) {
		t.Errorf("duplicate names in %v", got)
	}
	if ips := InstanceIPs(); len(ips) != 1 || ips[0].String() != "127.0.0.1" {
		t.Errorf("IPs %v", ips)
	}
	// The leader endpoint clients are given is covered too.
	if ep := LeaderEndpoint(c); !slices.Contains(got, ep[:len(ep)-len(":50051")]) {
		t.Errorf("leader endpoint %s not in the names", ep)
	}
}

func TestTLSNamesAndDefaults(t *testing.T) {
	c := cluster()
	byo := cluster(func(c *sutrav1.SutraCluster) {
		c.Spec.TLS = sutrav1.TLSSpec{CASecret: "corp-ca", Duration: &metav1.Duration{Duration: 24 * time.Hour}}
	})
	checks := []struct{ name, got, want string }{
		{"own CA secret", CASecretName(c), "demo-ca"},
		{"named CA secret", CASecretName(byo), "corp-ca"},
		{"instance secret", InstanceTLSSecretName("demo-3"), "demo-3-tls"},
		{"client secret", ClientSecretName(c), "demo-client"},
		{"node identity", NodeIdentity("demo-3"), "urn:sutra:node:demo-3"},
		{"client identity", ClientIdentity(c), "urn:sutra:writer:demo"},
		{"operator identity", OperatorIdentity, "urn:sutra:admin:sutra-operator"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.name, ch.got, ch.want)
		}
	}
	if !OwnCA(c) || OwnCA(byo) {
		t.Error("OwnCA")
	}
	if CertificateDuration(c) != 90*24*time.Hour || CertificateDuration(byo) != 24*time.Hour {
		t.Errorf("durations %v %v", CertificateDuration(c), CertificateDuration(byo))
	}
	if !TLSEnabled(c) || TLSEnabled(cluster(func(c *sutrav1.SutraCluster) { c.Spec.TLS.Mode = sutrav1.TLSDisabled })) {
		t.Error("TLSEnabled: the default is Enabled, Disabled disables")
	}
}

func TestTLSSecret(t *testing.T) {
	c := cluster()
	s := TLSSecret(c, "demo-1-tls", []byte("cert"), []byte("key"), []byte("ca"))
	assertOwned(t, s.ObjectMeta)
	if s.Name != "demo-1-tls" || s.Namespace != "prod" || s.Type != corev1.SecretTypeTLS || s.Kind != "Secret" {
		t.Errorf("secret %s/%s type %s kind %s", s.Namespace, s.Name, s.Type, s.Kind)
	}
	if s.Labels[LabelManagedBy] != ManagedBy {
		t.Errorf("labels %v: the operator caches only managed objects", s.Labels)
	}
	if string(s.Data["tls.crt"]) != "cert" || string(s.Data["tls.key"]) != "key" || string(s.Data["ca.crt"]) != "ca" {
		t.Errorf("data %v", s.Data)
	}
	if _, ok := TLSSecret(c, "demo-ca", []byte("c"), []byte("k"), nil).Data["ca.crt"]; ok {
		t.Error("a CA Secret has no ca.crt")
	}
}

// Only the mode changes the pod template: the CA, the duration and the
// Secrets' contents do not (nodes re-read the mounted files).
func TestPodSpecHashTLS(t *testing.T) {
	base := PodSpecHash(cluster())
	for _, tc := range []struct {
		name    string
		mut     func(*sutrav1.SutraCluster)
		changed bool
	}{
		{"explicit Enabled", func(c *sutrav1.SutraCluster) { c.Spec.TLS.Mode = sutrav1.TLSEnabled }, false},
		{"caSecret", func(c *sutrav1.SutraCluster) { c.Spec.TLS.CASecret = "corp-ca" }, false},
		{"duration", func(c *sutrav1.SutraCluster) { c.Spec.TLS.Duration = &metav1.Duration{Duration: time.Hour} }, false},
		{"Disabled", func(c *sutrav1.SutraCluster) { c.Spec.TLS.Mode = sutrav1.TLSDisabled }, true},
	} {
		if got := PodSpecHash(cluster(tc.mut)); (got != base) != tc.changed {
			t.Errorf("%s: changed=%v, want %v", tc.name, got != base, tc.changed)
		}
	}
	c := cluster()
	a, b := Pod(c, "demo-1", RoleLeader, ""), Pod(c, "demo-2", RoleReplica, "x:1")
	if a.Annotations[AnnotationSpecHash] != b.Annotations[AnnotationSpecHash] {
		t.Error("the instance's Secret name changed the spec hash")
	}
	if a.Spec.Volumes[1].Projected.Sources[1].Secret.Name == b.Spec.Volumes[1].Projected.Sources[1].Secret.Name {
		t.Error("two pods share a Secret projection")
	}
}
