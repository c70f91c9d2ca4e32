// Package authtest makes certificate authorities and certificates for
// tests (with internal/certs): a CA per test, leaves with a sutra
// identity, written as the PEM files a node reads.
package authtest

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sutra/sutra-operator/internal/auth"
	"github.com/sutra/sutra-operator/internal/certs"
)

// CA is a test certificate authority.
type CA struct {
	*certs.KeyPair
	PEM []byte
}

// NewCA makes a CA valid for a day.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	kp, err := certs.NewCA(name, time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{KeyPair: kp, PEM: kp.CertPEM}
}

// Issue makes a leaf for the identity kind:name, valid for serving
// localhost and 127.0.0.1 and as a client; it returns PEM certificate and
// key.
func (ca *CA) Issue(t testing.TB, kind auth.Kind, name string) (certPEM, keyPEM []byte) {
	t.Helper()
	kp, err := certs.Issue(ca.KeyPair, certs.Request{CommonName: name, DNSNames: []string{"localhost"},
		IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, URIs: []string{auth.URI(kind, name)}, Validity: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return kp.CertPEM, kp.KeyPEM
}

// WriteFiles issues kind:name into dir as NAME.crt and NAME.key beside the
// CA's ca.crt, and returns their paths. Files are replaced by rename, the
// way a kubelet updates a mounted Secret.
func (ca *CA) WriteFiles(t testing.TB, dir string, kind auth.Kind, name string) auth.Files {
	t.Helper()
	c, k := ca.Issue(t, kind, name)
	f := auth.Files{Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key"), CA: filepath.Join(dir, "ca.crt")}
	for path, b := range map[string][]byte{f.Cert: c, f.Key: k, f.CA: ca.PEM} {
		WriteFile(t, path, b)
	}
	return f
}

// WriteFile replaces path with b by rename, the way a kubelet updates a
// mounted Secret: a reader never sees half a file.
func WriteFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// ClientTLS is a client configuration with the identity kind:name that
// trusts ca.
func (ca *CA) ClientTLS(t testing.TB, kind auth.Kind, name string) *tls.Config {
	t.Helper()
	c, k := ca.Issue(t, kind, name)
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
}

// Pool is a pool holding the CA.
func (ca *CA) Pool() *x509.CertPool { return ca.KeyPair.Pool() }
