package resources

import (
	"net"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/auth"
)

// TLS layout of every instance (docs/security-certificates.md, "What the
// operator creates"). The instance's Secret INSTANCE-tls is projected into the
// topology volume under tls/, so its files appear read-only at TLSDir
// without a mount nested in another volume; the kubelet updates them in
// place when the Secret changes, and the node re-reads them.
const (
	TLSDir = TopologyDir + "/tls"
	// Secret keys, those of a kubernetes.io/tls Secret plus ca.crt.
	TLSCertKey = corev1.TLSCertKey       // tls.crt
	TLSKeyKey  = corev1.TLSPrivateKeyKey // tls.key
	TLSCAKey   = "ca.crt"
	// SecretTypeTLS is the type of every Secret the operator issues.
	SecretTypeTLS = corev1.SecretTypeTLS
)

// OperatorIdentity is the URI SAN of the operator's own client
// certificate, kept in memory only. Identities are internal/auth's.
var OperatorIdentity = auth.URI(auth.Admin, "sutra-operator")

// TLSEnabled reports whether spec.tls.mode is Enabled (the default).
func TLSEnabled(c *sutrav1.SutraCluster) bool { return c.Spec.TLS.Mode != sutrav1.TLSDisabled }

// CertificateDuration is spec.tls.duration or its default, 90 days.
func CertificateDuration(c *sutrav1.SutraCluster) time.Duration {
	if d := c.Spec.TLS.Duration; d != nil && d.Duration > 0 {
		return d.Duration
	}
	return sutrav1.DefaultCertificateDuration
}

// CASecretName is the Secret that holds the cluster's CA: spec.tls.caSecret
// when set (the user's), else NAME-ca (the operator's).
func CASecretName(c *sutrav1.SutraCluster) string {
	if c.Spec.TLS.CASecret != "" {
		return c.Spec.TLS.CASecret
	}
	return c.Name + "-ca"
}

// OwnCA reports whether the operator makes and keeps the CA (no
// spec.tls.caSecret).
func OwnCA(c *sutrav1.SutraCluster) bool { return c.Spec.TLS.CASecret == "" }

// InstanceTLSSecretName is INSTANCE-tls, an instance's certificate.
func InstanceTLSSecretName(instance string) string { return instance + "-tls" }

// ClientSecretName is NAME-client, the applications' writer certificate.
func ClientSecretName(c *sutrav1.SutraCluster) string { return c.Name + "-client" }

// NodeIdentity is urn:sutra:node:INSTANCE.
func NodeIdentity(instance string) string { return auth.URI(auth.Node, instance) }

// ClientIdentity is urn:sutra:writer:NAME, the identity of NAME-client.
func ClientIdentity(c *sutrav1.SutraCluster) string { return auth.URI(auth.Writer, c.Name) }

// ClientServiceNames are the Services clients reach the cluster by.
func ClientServiceNames(c *sutrav1.SutraCluster) []string {
	return []string{ReadWriteServiceName(c), ReadOnlyServiceName(c), ReadServiceName(c), LeaderServiceName(c), ReplicasServiceName(c)}
}

// InstanceDNSNames are the DNS SANs of an instance's certificate: its peer
// name (the host of PodAddress, which the operator and the other nodes
// dial) in every form, each client Service in every form (a client that
// dials NAME-rw must be able to verify whichever pod backs it), and
// localhost.
func InstanceDNSNames(c *sutrav1.SutraCluster, instance string) []string {
	peer := instance + "." + PeersServiceName(c)
	names := []string{peer + "." + c.Namespace + ".svc", peer + "." + c.Namespace + ".svc.cluster.local", peer}
	for _, svc := range ClientServiceNames(c) {
		names = append(names, svc, svc+"."+c.Namespace, svc+"."+c.Namespace+".svc", svc+"."+c.Namespace+".svc.cluster.local")
	}
	return append(names, "localhost")
}

// InstanceIPs are the IP SANs of an instance's certificate: 127.0.0.1,
// for clients in the pod (and port-forwards).
func InstanceIPs() []net.IP { return []net.IP{net.IPv4(127, 0, 0, 1)} }

// TLSSecret builds a certificate Secret of the cluster (type
// kubernetes.io/tls, owned by it) with data tls.crt, tls.key and, when
// caPEM is not nil, ca.crt. The byte slices are used, not copied.
func TLSSecret(c *sutrav1.SutraCluster, name string, certPEM, keyPEM, caPEM []byte) *corev1.Secret {
	data := map[string][]byte{TLSCertKey: certPEM, TLSKeyKey: keyPEM}
	if caPEM != nil {
		data[TLSCAKey] = caPEM
	}
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: objectMeta(c, name, nil),
		Type:       SecretTypeTLS,
		Data:       data,
	}
}

// tlsEnv points the node at its mounted certificate, or, with TLS
// disabled, tells it to serve plaintext.
func tlsEnv(c *sutrav1.SutraCluster) []corev1.EnvVar {
	if !TLSEnabled(c) {
		return []corev1.EnvVar{{Name: "SUTRA_INSECURE", Value: "true"}}
	}
	return []corev1.EnvVar{
		{Name: "SUTRA_TLS_CERT", Value: TLSDir + "/" + TLSCertKey},
		{Name: "SUTRA_TLS_KEY", Value: TLSDir + "/" + TLSKeyKey},
		{Name: "SUTRA_TLS_CA", Value: TLSDir + "/" + TLSCAKey},
	}
}

// RunsTLS says whether pod's storage container is configured for TLS, as
// tlsEnv makes it: a pod without that container says nothing, and counts
// as TLS.
func RunsTLS(pod *corev1.Pod) bool {
	for _, ctr := range pod.Spec.Containers {
		if ctr.Name != ContainerName {
			continue
		}
		return slices.ContainsFunc(ctr.Env, func(e corev1.EnvVar) bool { return e.Name == "SUTRA_TLS_CERT" })
	}
	return true
}

// configVolume is the volume mounted at TopologyDir: the topology
// ConfigMap and, with TLS, the instance's Secret under tls/ (its name is
// set by Pod; podSpec leaves it empty so the spec hash does not depend on
// the instance).
func configVolume(c *sutrav1.SutraCluster) corev1.Volume {
	topology := corev1.LocalObjectReference{Name: TopologyConfigMapName(c)}
	if !TLSEnabled(c) {
		return corev1.Volume{Name: TopologyVolume, VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: topology}}}
	}
	keyMode := int32(0o440) // owner root, group fsGroup: the server's user reads it
	return corev1.Volume{Name: TopologyVolume, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: topology}},
			{Secret: &corev1.SecretProjection{Items: []corev1.KeyToPath{
				{Key: TLSCertKey, Path: "tls/" + TLSCertKey},
				{Key: TLSKeyKey, Path: "tls/" + TLSKeyKey, Mode: &keyMode},
				{Key: TLSCAKey, Path: "tls/" + TLSCAKey},
			}}},
		},
	}}}
}

// setInstanceSecret names the instance's Secret in its pod's config volume.
func setInstanceSecret(spec *corev1.PodSpec, instance string) {
	for i := range spec.Volumes {
		if p := spec.Volumes[i].Projected; spec.Volumes[i].Name == TopologyVolume && p != nil {
			for j := range p.Sources {
				if p.Sources[j].Secret != nil {
					p.Sources[j].Secret.Name = InstanceTLSSecretName(instance)
				}
			}
		}
	}
}
