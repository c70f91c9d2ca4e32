package controllers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/certs"
	"github.com/sutra/sutra-operator/internal/pb/adminpb"
	"github.com/sutra/sutra-operator/internal/resources"
)

func getSecret(g Gomega, name string) *corev1.Secret {
	s := &corev1.Secret{}
	g.Expect(k8sClient.Get(ctx, key(name), s)).To(Succeed())
	return s
}

func secretCert(g Gomega, s *corev1.Secret) *x509.Certificate {
	cert, err := certs.ParseCertificate(s.Data["tls.crt"])
	g.Expect(err).NotTo(HaveOccurred(), s.Name)
	return cert
}

// expectLeaf checks that secret holds a leaf for identity, with its key and
// the CA beside it, that verifies against ca for dnsName (when set) as
// both server and client.
func expectLeaf(secret *corev1.Secret, ca *x509.Certificate, identity, dnsName string) *x509.Certificate {
	GinkgoHelper()
	Expect(secret.Type).To(Equal(corev1.SecretTypeTLS))
	leaf := secretCert(Default, secret)
	Expect(certs.Identity(leaf)).To(Equal(identity))
	_, err := tls.X509KeyPair(secret.Data["tls.crt"], secret.Data["tls.key"])
	Expect(err).NotTo(HaveOccurred(), "tls.key matches tls.crt")
	caInSecret, err := certs.ParseCertificate(secret.Data["ca.crt"])
	Expect(err).NotTo(HaveOccurred())
	Expect(caInSecret.Equal(ca)).To(BeTrue(), "ca.crt is the cluster's CA")
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: dnsName, KeyUsages: []x509.ExtKeyUsage{usage}})
		Expect(err).NotTo(HaveOccurred(), "%s chains to the CA for %v", secret.Name, usage)
	}
	return leaf
}

// adminIdentity is a storage node's admin service on 127.0.0.1 that
// requires a client certificate of the cluster's CA, serving the instance's
// own Secret, and records the identities that called it.
type adminIdentity struct {
	adminpb.UnimplementedAdminServiceServer
	node, cluster string
	mu            sync.Mutex
	seen          map[string]bool
}

func (a *adminIdentity) Status(ctx context.Context, _ *adminpb.StatusRequest) (*adminpb.NodeStatus, error) {
	if p, ok := peer.FromContext(ctx); ok {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.PeerCertificates) > 0 {
			a.mu.Lock()
			a.seen[certs.Identity(info.State.PeerCertificates[0])] = true
			a.mu.Unlock()
		}
	}
	return &adminpb.NodeStatus{NodeId: a.node, ClusterId: a.cluster, Role: resources.RoleLeader, Epoch: 1}, nil
}

func (a *adminIdentity) saw(identity string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seen[identity]
}

func serveNodeTLS(secret *corev1.Secret, cluster string) (addr string, srv *adminIdentity) {
	GinkgoHelper()
	cert, err := tls.X509KeyPair(secret.Data["tls.crt"], secret.Data["tls.key"])
	Expect(err).NotTo(HaveOccurred())
	clientCAs := x509.NewCertPool()
	Expect(clientCAs.AppendCertsFromPEM(secret.Data["ca.crt"])).To(BeTrue())
	s := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{cert}, ClientCAs: clientCAs,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	})))
	node := strings.TrimSuffix(secret.Name, "-tls")
	srv = &adminIdentity{node: node, cluster: ns + "." + cluster, seen: map[string]bool{}}
	adminpb.RegisterAdminServiceServer(s, srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	go func() { _ = s.Serve(lis) }()
	DeferCleanup(s.Stop)
	return lis.Addr().String(), srv
}

// touch changes an annotation of the cluster, which makes it reconcile.
func touch(name string) {
	GinkgoHelper()
	Expect(k8sClient.Patch(ctx, &sutrav1.SutraCluster{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}},
		client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"annotations":{"example.com/touched":"`+time.Now().Format(time.RFC3339Nano)+`"}}}`)))).To(Succeed())
}

func clusterSecrets(g Gomega, cluster string) []string {
	list := &corev1.SecretList{}
	g.Expect(k8sClient.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{resources.LabelCluster: cluster})).To(Succeed())
	var names []string
	for _, s := range list.Items {
		names = append(names, s.Name)
	}
	return names
}

func eventsFor(g Gomega, name, reason string) []eventsv1.Event {
	list := &eventsv1.EventList{}
	g.Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

var _ = Describe("SutraCluster TLS certificates", func() {
	It("keeps plaintext for a cluster whose pods already run without TLS, and says so", func() {
		c := newCluster(uniqueName("pre-tls"), 1)
		c.Annotations = map[string]string{sutrav1.AnnotationReconcile: sutrav1.ReconcilePaused}
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		// A pod as an operator before TLS made it: no SUTRA_TLS_CERT.
		old := resources.Pod(c, resources.InstanceName(c, 1), resources.RoleLeader, "")
		ctr := &old.Spec.Containers[0]
		ctr.Env = slices.DeleteFunc(ctr.Env, func(e corev1.EnvVar) bool { return strings.HasPrefix(e.Name, "SUTRA_TLS_") })
		Expect(k8sClient.Create(ctx, old)).To(Succeed())
		Expect(k8sClient.Get(ctx, key(c.Name), c)).To(Succeed())
		delete(c.Annotations, sutrav1.AnnotationReconcile)
		Expect(k8sClient.Update(ctx, c)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(c.Name), c)).To(Succeed())
			g.Expect(c.Spec.TLS.Mode).To(Equal(sutrav1.TLSDisabled))
			g.Expect(eventsFor(g, c.Name, sutrav1.EventTLSKeptDisabled)).NotTo(BeEmpty())
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(clusterSecrets(g, c.Name)).To(BeEmpty(), "no certificates for a plaintext cluster")
		}).WithTimeout(2 * time.Second).Should(Succeed())
	})

	It("issues a CA, every instance's certificate and the client certificate, and dials the nodes with its own", func() {
		c := newCluster(uniqueName("tls"), 1)
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		n := c.Name
		Expect(k8sClient.Get(ctx, key(n), c)).To(Succeed())
		Expect(c.Spec.TLS.Duration.Duration).To(Equal(2160 * time.Hour))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(n), c)).To(Succeed())
			g.Expect(c.Spec.TLS.Mode).To(Equal(sutrav1.TLSEnabled), "the operator turns TLS on for a new cluster")
		}).Should(Succeed())

		var caSecret *corev1.Secret
		Eventually(func(g Gomega) { caSecret = getSecret(g, n+"-ca") }).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
		expectOwnedBy(caSecret, c)
		ca := secretCert(Default, caSecret)
		Expect(ca.IsCA).To(BeTrue())
		Expect(ca.NotAfter).To(BeTemporally(">", time.Now().Add(9*365*24*time.Hour)), "the CA lives about ten years")
		_, err := certs.ParseCA(caSecret.Data["tls.crt"], caSecret.Data["tls.key"])
		Expect(err).NotTo(HaveOccurred())

		leaves := map[string]*x509.Certificate{}
		for _, in := range []string{n + "-1", n + "-2"} {
			var s *corev1.Secret
			Eventually(func(g Gomega) { s = getSecret(g, in+"-tls") }).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
			expectOwnedBy(s, c)
			peerHost := in + "." + n + "-peers." + ns + ".svc"
			leaf := expectLeaf(s, ca, "urn:sutra:node:"+in, peerHost)
			want := []string{peerHost, peerHost + ".cluster.local", in + "." + n + "-peers", "localhost"}
			for _, svc := range []string{"-rw", "-ro", "-r", "-leader", "-replicas"} {
				want = append(want, n+svc, n+svc+"."+ns, n+svc+"."+ns+".svc", n+svc+"."+ns+".svc.cluster.local")
			}
			Expect(leaf.DNSNames).To(ConsistOf(want))
			Expect(leaf.IPAddresses).To(HaveLen(1))
			Expect(leaf.IPAddresses[0].String()).To(Equal("127.0.0.1"))
			Expect(leaf.NotAfter.Sub(leaf.NotBefore)).To(BeNumerically("~", 2160*time.Hour, 10*time.Minute))
			leaves[s.Name] = leaf

			var pod *corev1.Pod
			Eventually(func(g Gomega) { pod = getPod(in)(g) }).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
			env := envOf(pod)
			Expect(env).To(HaveKeyWithValue("SUTRA_TLS_CERT", "/etc/sutra/tls/tls.crt"))
			Expect(env).To(HaveKeyWithValue("SUTRA_TLS_KEY", "/etc/sutra/tls/tls.key"))
			Expect(env).To(HaveKeyWithValue("SUTRA_TLS_CA", "/etc/sutra/tls/ca.crt"))
			Expect(env).NotTo(HaveKey("SUTRA_INSECURE"))
			var projected *corev1.ProjectedVolumeSource
			for _, v := range pod.Spec.Volumes {
				if v.Name == resources.TopologyVolume {
					projected = v.Projected
				}
			}
			Expect(projected).NotTo(BeNil())
			Expect(projected.Sources).To(ContainElement(HaveField("Secret.Name", in+"-tls")))
			Expect(pod.Spec.Containers[0].ReadinessProbe.HTTPGet).NotTo(BeNil())
		}

		var clientSecret *corev1.Secret
		Eventually(func(g Gomega) { clientSecret = getSecret(g, n+"-client") }).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
		expectOwnedBy(clientSecret, c)
		leaves[clientSecret.Name] = expectLeaf(clientSecret, ca, "urn:sutra:writer:"+n, "")

		By("reporting every certificate's expiry in status")
		Eventually(func(g Gomega) {
			st := clusterNamed(g, n).Status
			cond := findCondition(&sutrav1.SutraCluster{Status: st}, sutrav1.ConditionCertificatesReady)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(st.Certificates).To(HaveLen(4))
			g.Expect(st.Certificates[0].SecretName).To(Equal(n + "-ca"))
			g.Expect(st.Certificates[0].CA).To(BeTrue())
			g.Expect(st.Certificates[0].NotAfter.Time).To(BeTemporally("==", ca.NotAfter))
			for _, cs := range st.Certificates[1:] {
				leaf := leaves[cs.SecretName]
				g.Expect(leaf).NotTo(BeNil(), cs.SecretName)
				g.Expect(cs.Identity).To(Equal(certs.Identity(leaf)))
				g.Expect(cs.NotAfter.Time).To(BeTemporally("==", leaf.NotAfter))
				g.Expect(cs.RenewalTime).NotTo(BeNil())
				g.Expect(cs.RenewalTime.Time).To(BeTemporally("~", leaf.NotAfter.Add(-30*24*time.Hour), 5*time.Minute))
			}
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

		By("calling a node with mutual TLS as urn:sutra:admin:sutra-operator")
		addr, node := serveNodeTLS(getSecret(Default, n+"-1-tls"), n)
		endpoints.Store(n+"/"+n+"-1", addr)
		DeferCleanup(func() { endpoints.Delete(n + "/" + n + "-1") })
		touch(n)
		Eventually(func() bool { return node.saw(resources.OperatorIdentity) }).WithTimeout(timeout).WithPolling(poll).Should(BeTrue())
	})

	It("renews the leaves before they expire, with the same CA and the same pods", func() {
		c := newCluster(uniqueName("renew"), 1)
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		n := c.Name
		names := []string{n + "-1-tls", n + "-2-tls", n + "-client"}
		before := map[string]*x509.Certificate{}
		Eventually(func(g Gomega) {
			for _, s := range names {
				before[s] = secretCert(g, getSecret(g, s))
			}
			g.Expect(podNames(g, n)).To(HaveLen(2))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
		ca := getSecret(Default, n+"-ca")
		pod := getPod(n + "-1")(Default)

		By("moving the operator's clock past two thirds of the leaves' lifetime")
		DeferCleanup(func() { clockOffset.Store(0) })
		clockOffset.Store(int64(61 * 24 * time.Hour))
		touch(n)
		Eventually(func(g Gomega) {
			for _, s := range names {
				old, now := before[s], secretCert(g, getSecret(g, s))
				g.Expect(now.SerialNumber).NotTo(Equal(old.SerialNumber), "%s renewed", s)
				g.Expect(now.NotAfter).To(BeTemporally(">", old.NotAfter.Add(60*24*time.Hour)), s)
				g.Expect(old.NotAfter).To(BeTemporally(">", time.Now()), "%s renewed before it expired", s)
				g.Expect(now.CheckSignatureFrom(secretCert(g, ca))).To(Succeed(), "%s signed by the same CA", s)
			}
			st := clusterNamed(g, n).Status
			g.Expect(st.Certificates).NotTo(BeEmpty(), "status lists the certificates")
			for _, cs := range st.Certificates[1:] {
				g.Expect(cs.NotAfter.Time).To(BeTemporally(">", before[cs.SecretName].NotAfter), cs.SecretName)
			}
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())

		Expect(getSecret(Default, n+"-ca").Data).To(Equal(ca.Data), "the CA is not renewed with the leaves")
		after := getPod(n + "-1")(Default)
		Expect(after.UID).To(Equal(pod.UID), "renewal does not recreate pods: nodes re-read the mounted files")
		Expect(after.Annotations[resources.AnnotationSpecHash]).To(Equal(pod.Annotations[resources.AnnotationSpecHash]))
	})

	It("signs with the CA spec.tls.caSecret names and makes none of its own", func() {
		n := uniqueName("byo")
		userCA, err := certs.NewCA("corp CA", time.Now(), 24*365*time.Hour)
		Expect(err).NotTo(HaveOccurred())
		caSecret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: n + "-corp-ca", Namespace: ns},
			Type:       corev1.SecretTypeTLS,
			Data:       map[string][]byte{"tls.crt": userCA.CertPEM, "tls.key": userCA.KeyPEM, "ca.crt": userCA.CertPEM},
		}
		Expect(k8sClient.Create(ctx, caSecret)).To(Succeed())
		c := newCluster(n, 1)
		c.Spec.TLS.CASecret = caSecret.Name
		Expect(k8sClient.Create(ctx, c)).To(Succeed())

		for _, in := range []string{n + "-1", n + "-2"} {
			Eventually(func(g Gomega) { getSecret(g, in+"-tls") }).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
			expectLeaf(getSecret(Default, in+"-tls"), userCA.Cert, "urn:sutra:node:"+in, in+"."+n+"-peers."+ns+".svc")
		}
		Eventually(func(g Gomega) { getSecret(g, n+"-client") }).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
		expectLeaf(getSecret(Default, n+"-client"), userCA.Cert, "urn:sutra:writer:"+n, "")
		Expect(apierrors.IsNotFound(k8sClient.Get(ctx, key(n+"-ca"), &corev1.Secret{}))).To(BeTrue(), "no NAME-ca is made")
		Expect(getSecret(Default, caSecret.Name).OwnerReferences).To(BeEmpty(), "the user's CA is not taken over")
		Eventually(func(g Gomega) {
			st := clusterNamed(g, n).Status
			g.Expect(st.Certificates).To(HaveLen(4))
			g.Expect(st.Certificates[0].SecretName).To(Equal(caSecret.Name))
			g.Expect(st.Certificates[0].RenewalTime).To(BeNil(), "whoever made the CA renews it")
			g.Expect(st.Certificates[0].NotAfter.Time).To(BeTemporally("==", userCA.Cert.NotAfter))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	})

	It("creates no pods while the named CA Secret has no key, and says why", func() {
		n := uniqueName("nokey")
		userCA, err := certs.NewCA("corp CA", time.Now(), 24*365*time.Hour)
		Expect(err).NotTo(HaveOccurred())
		caSecret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: n + "-corp-ca", Namespace: ns},
			Data:       map[string][]byte{"tls.crt": userCA.CertPEM}, // a trust bundle, not a CA that can sign
		}
		Expect(k8sClient.Create(ctx, caSecret)).To(Succeed())
		c := newCluster(n, 1)
		c.Spec.TLS.CASecret = caSecret.Name
		Expect(k8sClient.Create(ctx, c)).To(Succeed())

		Eventually(func(g Gomega) {
			cond := findCondition(clusterNamed(g, n), sutrav1.ConditionCertificatesReady)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(cond.Reason).To(Equal(sutrav1.ReasonCASecretInvalid))
			g.Expect(cond.Message).To(ContainSubstring(caSecret.Name))
			g.Expect(cond.Message).To(ContainSubstring("tls.key"))
			g.Expect(eventsFor(g, n, sutrav1.EventCASecretInvalid)).NotTo(BeEmpty())
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(podNames(g, n)).To(BeEmpty())
			g.Expect(clusterSecrets(g, n)).To(BeEmpty())
		}).WithTimeout(2 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())

		By("adding the key")
		caSecret.Data["tls.key"] = userCA.KeyPEM
		Expect(k8sClient.Update(ctx, caSecret)).To(Succeed())
		touch(n)
		Eventually(func(g Gomega) {
			g.Expect(podNames(g, n)).To(HaveLen(2))
			cond := findCondition(clusterNamed(g, n), sutrav1.ConditionCertificatesReady)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Status).To(Equal(metav1.ConditionTrue))
		}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	})

	It("makes no certificates with spec.tls.mode Disabled and runs the nodes in plaintext", func() {
		c := plaintext(newCluster(uniqueName("plain"), 1))
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		n := c.Name
		Eventually(func(g Gomega) { g.Expect(podNames(g, n)).To(HaveLen(2)) }).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
		for _, in := range []string{n + "-1", n + "-2"} {
			pod := getPod(in)(Default)
			env := envOf(pod)
			Expect(env).To(HaveKeyWithValue("SUTRA_INSECURE", "true"))
			Expect(env).NotTo(HaveKey("SUTRA_TLS_CERT"))
			for _, v := range pod.Spec.Volumes {
				Expect(v.Secret).To(BeNil())
				Expect(v.Projected).To(BeNil())
			}
		}
		Consistently(func(g Gomega) {
			g.Expect(clusterSecrets(g, n)).To(BeEmpty())
			st := clusterNamed(g, n).Status
			g.Expect(st.Certificates).To(BeEmpty())
			g.Expect(findCondition(&sutrav1.SutraCluster{Status: st}, sutrav1.ConditionCertificatesReady)).To(BeNil())
		}).WithTimeout(2 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
	})
})
