package controllers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
	"github.com/sutra/sutra-operator/internal/certs"
	"github.com/sutra/sutra-operator/internal/resources"
	"github.com/sutra/sutra-operator/internal/statusclient"
)

// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete

// certState is what reconcileCertificates found: the CA that signs the
// cluster's leaves (nil when spec.tls.caSecret cannot be used, and then no
// pod is created), the CertificatesReady condition, the certificates for
// status, and the operator's client TLS configuration for the nodes.
type certState struct {
	ca           *certs.KeyPair
	condition    metav1.Condition
	certificates []sutrav1.CertificateStatus
	client       *tls.Config
}

// reconcileCertificates makes sure the cluster's CA (NAME-ca, or the
// Secret spec.tls.caSecret names) and its client Secret NAME-client are
// in place and current, and gives the operator a client certificate for
// the nodes. Instance Secrets come with the instances
// (issueInstanceCertificates), before their pods. With TLS disabled it
// does nothing: s.certs stays nil and calls are plaintext.
func (r *SutraClusterReconciler) reconcileCertificates(ctx context.Context, s *scope) error {
	c := s.cluster
	if !resources.TLSEnabled(c) {
		return nil
	}
	s.certs = &certState{}
	ca, problem, err := r.clusterCA(ctx, s)
	if err != nil {
		return err
	}
	if problem != "" {
		s.certs.condition = certCondition(metav1.ConditionFalse, sutrav1.ReasonCASecretInvalid, problem)
		s.certs.certificates = c.Status.Certificates // the last known
		// Running nodes keep the files they have: keep talking to them
		// with the certificate the operator already holds.
		s.certs.client = r.clientCerts.current(client.ObjectKeyFromObject(c), s.now)
		s.requeue(30 * time.Second) // the Secret is not ours: nothing tells us it was fixed
		return nil
	}
	s.certs.ca = ca
	s.certs.condition = certCondition(metav1.ConditionTrue, sutrav1.ReasonCertificatesIssued,
		fmt.Sprintf("CA %s signs every certificate of the cluster", resources.CASecretName(c)))
	s.certs.record(resources.CASecretName(c), "", ca.Cert, resources.OwnCA(c))
	if resources.OwnCA(c) {
		s.requeueAt(certs.RenewAt(ca.Cert.NotBefore, ca.Cert.NotAfter))
	}
	if err := r.ensureLeaf(ctx, s, resources.ClientSecretName(c), certs.Request{
		CommonName: resources.ClientIdentity(c),
		URIs:       []string{resources.ClientIdentity(c)},
		Validity:   resources.CertificateDuration(c),
	}); err != nil {
		return err
	}
	cfg, renewAt, err := r.clientCerts.config(client.ObjectKeyFromObject(c), ca, resources.CertificateDuration(c), s.now)
	if err != nil {
		return err
	}
	s.certs.client = cfg
	s.requeueAt(renewAt)
	return nil
}

// issueInstanceCertificates keeps every instance's Secret INSTANCE-tls
// current. reconcileInstances calls it once the instances are known and
// before it creates their pods.
func (r *SutraClusterReconciler) issueInstanceCertificates(ctx context.Context, s *scope) error {
	if s.certs == nil || s.certs.ca == nil {
		return nil
	}
	for _, in := range s.instances {
		if err := r.ensureLeaf(ctx, s, resources.InstanceTLSSecretName(in), certs.Request{
			CommonName: in,
			DNSNames:   resources.InstanceDNSNames(s.cluster, in),
			IPs:        resources.InstanceIPs(),
			URIs:       []string{resources.NodeIdentity(in)},
			Validity:   resources.CertificateDuration(s.cluster),
		}); err != nil {
			return err
		}
	}
	return nil
}

// podsBlocked reports whether pods must not be created: TLS is enabled and
// there is no usable CA, so no instance has a certificate.
func (s *scope) podsBlocked() bool { return s.certs != nil && s.certs.ca == nil }

// requeueAt asks for a reconcile at t, or in a second when t has passed.
func (s *scope) requeueAt(t time.Time) {
	s.requeue(max(t.Sub(s.now), time.Second))
}

// withTLS makes the calls made with ctx use the operator's client
// certificate; without TLS they stay plaintext.
func (s *scope) withTLS(ctx context.Context) context.Context {
	if s.certs == nil || s.certs.client == nil {
		return ctx
	}
	return statusclient.WithTLS(ctx, s.certs.client)
}

// clusterCA reads the CA. The operator's own, NAME-ca, is made when
// missing, unreadable or due (a third of its ten years left; every leaf is
// then issued again). A CA named by spec.tls.caSecret is only read: a
// problem with it is returned as a message for CertificatesReady.
func (r *SutraClusterReconciler) clusterCA(ctx context.Context, s *scope) (*certs.KeyPair, string, error) {
	c := s.cluster
	name := resources.CASecretName(c)
	sec := &corev1.Secret{}
	key := client.ObjectKey{Namespace: c.Namespace, Name: name}
	if !resources.OwnCA(c) {
		// Not labelled as ours, so not in the cache: read it directly.
		if err := r.reader().Get(ctx, key, sec); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, fmt.Sprintf("spec.tls.caSecret: Secret %s not found", name), nil
			}
			return nil, "", fmt.Errorf("get CA secret %s: %w", name, err)
		}
		return userCA(name, sec, s.now)
	}
	err := r.Get(ctx, key, sec)
	if apierrors.IsNotFound(err) { // the cache may not have our own create yet
		err = r.reader().Get(ctx, key, sec)
	}
	switch {
	case err == nil:
		ca, perr := certs.ParseCA(sec.Data[resources.TLSCertKey], sec.Data[resources.TLSKeyKey])
		if perr == nil && !certs.Due(ca.Cert.NotBefore, ca.Cert.NotAfter, s.now) {
			return ca, "", nil
		}
	case !apierrors.IsNotFound(err):
		return nil, "", fmt.Errorf("get CA secret %s: %w", name, err)
	}
	ca, err := certs.NewCA(fmt.Sprintf("sutra %s CA", resources.ClusterID(c)), s.now, certs.DefaultCAValidity)
	if err != nil {
		return nil, "", err
	}
	desired := resources.TLSSecret(c, name, ca.CertPEM, ca.KeyPEM, nil)
	if _, err := r.apply(ctx, desired); err != nil {
		return nil, "", err
	}
	r.event(c, desired, corev1.EventTypeNormal, sutrav1.EventCertificateIssued, "Issue",
		"Issued CA %s, valid until %s", name, ca.Cert.NotAfter.UTC().Format(time.RFC3339))
	return ca, "", nil
}

// userCA checks the Secret spec.tls.caSecret names. It is pure.
func userCA(name string, sec *corev1.Secret, now time.Time) (*certs.KeyPair, string, error) {
	var missing []string
	for _, k := range []string{resources.TLSCertKey, resources.TLSKeyKey} {
		if len(sec.Data[k]) == 0 {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Sprintf("spec.tls.caSecret: Secret %s has no %s: the operator needs the CA's certificate and private key to sign the nodes' certificates",
			name, strings.Join(missing, " or ")), nil
	}
	ca, err := certs.ParseCA(sec.Data[resources.TLSCertKey], sec.Data[resources.TLSKeyKey])
	if err != nil {
		return nil, fmt.Sprintf("spec.tls.caSecret: Secret %s does not hold a usable CA: %v", name, err), nil
	}
	if !now.Before(ca.Cert.NotAfter) {
		return nil, fmt.Sprintf("spec.tls.caSecret: the CA in Secret %s expired at %s", name, ca.Cert.NotAfter.UTC().Format(time.RFC3339)), nil
	}
	return ca, "", nil
}

// ensureLeaf keeps the Secret name holding a leaf for req signed by the
// cluster's CA, or issues it again when certs.Check says so (missing,
// unreadable, another CA, other names or lifetime, or due). It records the
// leaf for status and asks for a reconcile at its renewal time.
func (r *SutraClusterReconciler) ensureLeaf(ctx context.Context, s *scope, name string, req certs.Request) error {
	c, ca := s.cluster, s.certs.ca
	sec := &corev1.Secret{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: name}, sec); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("get secret %s: %w", name, err)
	}
	cert := sec.Data[resources.TLSCertKey]
	reason := certs.Check(cert, sec.Data[resources.TLSKeyKey], sec.Data[resources.TLSCAKey], ca, req, s.now)
	if reason != certs.ReasonNone {
		leaf, err := certs.Issue(ca, req, s.now)
		if err != nil {
			return err
		}
		cert = leaf.CertPEM
		if ca.Cert.CheckSignatureFrom(ca.Cert) != nil {
			// An intermediate CA: serve the chain up to it.
			cert = append(slices.Clone(cert), ca.CertPEM...)
		}
		desired := resources.TLSSecret(c, name, cert, leaf.KeyPEM, ca.CertPEM)
		if _, err := r.apply(ctx, desired); err != nil {
			return err
		}
		r.event(c, desired, corev1.EventTypeNormal, sutrav1.EventCertificateIssued, "Issue",
			"Issued %s for %s (%s), valid until %s", name, req.URIs[0], reason, leaf.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	parsed, err := certs.ParseCertificate(cert)
	if err != nil {
		return err
	}
	s.certs.record(name, certs.Identity(parsed), parsed, true)
	s.requeueAt(certs.RenewAt(parsed.NotBefore, parsed.NotAfter))
	return nil
}

// record adds a certificate to the status list; renewed says whether the
// operator renews it (then its RenewalTime is set).
func (st *certState) record(secret, identity string, cert *x509.Certificate, renewed bool) {
	cs := sutrav1.CertificateStatus{SecretName: secret, Identity: identity, CA: cert.IsCA, NotAfter: metav1.NewTime(cert.NotAfter)}
	if renewed {
		t := metav1.NewTime(certs.RenewAt(cert.NotBefore, cert.NotAfter).Truncate(time.Second))
		cs.RenewalTime = &t
	}
	st.certificates = append(st.certificates, cs)
}

func certCondition(status metav1.ConditionStatus, reason, message string) metav1.Condition {
	return metav1.Condition{Type: sutrav1.ConditionCertificatesReady, Status: status, Reason: reason, Message: message}
}

func (r *SutraClusterReconciler) reader() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}

// sortCertificates orders status.certificates: CAs first, then by Secret
// name. It returns a new slice.
func sortCertificates(in []sutrav1.CertificateStatus) []sutrav1.CertificateStatus {
	out := slices.Clone(in)
	slices.SortStableFunc(out, func(a, b sutrav1.CertificateStatus) int {
		if a.CA != b.CA {
			if a.CA {
				return -1
			}
			return 1
		}
		return strings.Compare(a.SecretName, b.SecretName)
	})
	return out
}

// recordCertificates tells a CA that cannot be used (CertificatesReady
// turning False, or its message changing) as a Warning, once per
// transition.
func (r *SutraClusterReconciler) recordCertificates(c *sutrav1.SutraCluster, before, after *sutrav1.SutraClusterStatus) {
	was := meta.FindStatusCondition(before.Conditions, sutrav1.ConditionCertificatesReady)
	now := meta.FindStatusCondition(after.Conditions, sutrav1.ConditionCertificatesReady)
	if now == nil || now.Status != metav1.ConditionFalse || (was != nil && was.Status == now.Status && was.Message == now.Message) {
		return
	}
	r.event(c, nil, corev1.EventTypeWarning, sutrav1.EventCASecretInvalid, "Issue", "%s", now.Message)
}
