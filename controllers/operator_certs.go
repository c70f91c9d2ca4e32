package controllers

import (
	"bytes"
	"crypto/tls"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/sutra/sutra-operator/internal/certs"
	"github.com/sutra/sutra-operator/internal/resources"
)

// clientCertCache holds the operator's own client certificate for each
// cluster (identity resources.OperatorIdentity, signed by the cluster's
// CA). It lives in memory only: no Secret carries the admin identity. An
// entry is issued again when the CA's bytes or the configured duration
// change, or when it is due. Safe for concurrent reconciles; the zero
// value is ready to use.
type clientCertCache struct {
	mu sync.Mutex
	m  map[types.NamespacedName]clientCert
}

type clientCert struct {
	caPEM               []byte
	validity            time.Duration
	notBefore, notAfter time.Time
	cfg                 *tls.Config
}

// config returns the TLS configuration the operator dials the cluster's
// nodes with, and when it should be renewed. The returned config is
// shared: callers must not modify it.
func (cc *clientCertCache) config(cluster types.NamespacedName, ca *certs.KeyPair, validity time.Duration, now time.Time) (*tls.Config, time.Time, error) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if e, ok := cc.m[cluster]; ok && bytes.Equal(e.caPEM, ca.CertPEM) && e.validity == validity && !certs.Due(e.notBefore, e.notAfter, now) {
		return e.cfg, certs.RenewAt(e.notBefore, e.notAfter), nil
	}
	kp, err := certs.Issue(ca, certs.Request{CommonName: "sutra-operator", URIs: []string{resources.OperatorIdentity}, Validity: validity}, now)
	if err != nil {
		return nil, time.Time{}, err
	}
	cert, err := kp.TLSCertificate()
	if err != nil {
		return nil, time.Time{}, err
	}
	e := clientCert{
		caPEM: bytes.Clone(ca.CertPEM), validity: validity,
		notBefore: kp.Cert.NotBefore, notAfter: kp.Cert.NotAfter,
		// ServerName stays empty: gRPC takes it from each endpoint.
		cfg: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12},
	}
	if cc.m == nil {
		cc.m = map[types.NamespacedName]clientCert{}
	}
	cc.m[cluster] = e
	return e.cfg, certs.RenewAt(e.notBefore, e.notAfter), nil
}

// current is the cluster's certificate as last issued, while it has not
// expired, whatever the CA is now; nil when there is none.
func (cc *clientCertCache) current(cluster types.NamespacedName, now time.Time) *tls.Config {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if e, ok := cc.m[cluster]; ok && now.Before(e.notAfter) {
		return e.cfg
	}
	return nil
}

// forget drops a deleted cluster's certificate.
func (cc *clientCertCache) forget(cluster types.NamespacedName) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	delete(cc.m, cluster)
}
