package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func mustCA(t *testing.T) *KeyPair {
	t.Helper()
	ca, err := NewCA("test CA", t0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func nodeRequest() Request {
	return Request{
		CommonName: "db-1",
		DNSNames:   []string{"db-1.db-peers.ns.svc", "localhost"},
		IPs:        []net.IP{net.ParseIP("127.0.0.1")},
		URIs:       []string{"urn:sutra:node:db-1"},
		Validity:   90 * 24 * time.Hour,
	}
}

func TestNewCA(t *testing.T) {
	ca := mustCA(t)
	c := ca.Cert
	if !c.IsCA || c.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Fatalf("not a CA: IsCA %v usage %v", c.IsCA, c.KeyUsage)
	}
	if _, ok := ca.Key.(*ecdsa.PrivateKey); !ok || c.PublicKeyAlgorithm != x509.ECDSA {
		t.Fatalf("key %T, want ECDSA", ca.Key)
	}
	if got := c.NotAfter.Sub(t0); got != DefaultCAValidity {
		t.Errorf("CA lifetime from now %v, want %v", got, DefaultCAValidity)
	}
	if !c.NotBefore.Equal(t0.Add(-Backdate)) {
		t.Errorf("NotBefore %v, want backdated by %v", c.NotBefore, Backdate)
	}
	again, err := ParseCA(ca.CertPEM, ca.KeyPEM)
	if err != nil {
		t.Fatalf("ParseCA of its own PEM: %v", err)
	}
	if again.Cert.SerialNumber.Cmp(c.SerialNumber) != 0 {
		t.Error("parsed a different certificate")
	}
}

func TestIssueChainsToCA(t *testing.T) {
	ca := mustCA(t)
	leaf, err := Issue(ca, nodeRequest(), t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := leaf.Cert.Verify(x509.VerifyOptions{
			Roots: ca.Pool(), DNSName: "db-1.db-peers.ns.svc", CurrentTime: t0.Add(time.Hour),
			KeyUsages: []x509.ExtKeyUsage{usage},
		}); err != nil {
			t.Errorf("verify for %v: %v", usage, err)
		}
	}
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "other.example", CurrentTime: t0}); err == nil {
		t.Error("verified for a name it does not carry")
	}
	if got := Identity(leaf.Cert); got != "urn:sutra:node:db-1" {
		t.Errorf("identity %q", got)
	}
	if !leaf.Cert.NotAfter.Equal(t0.Add(90 * 24 * time.Hour)) {
		t.Errorf("NotAfter %v", leaf.Cert.NotAfter)
	}
	if leaf.Cert.IsCA {
		t.Error("leaf is a CA")
	}
	if _, err := leaf.TLSCertificate(); err != nil {
		t.Errorf("TLSCertificate: %v", err)
	}
	other, _ := Issue(ca, nodeRequest(), t0)
	if other.Cert.SerialNumber.Cmp(leaf.Cert.SerialNumber) == 0 {
		t.Error("two leaves share a serial")
	}
}

func TestIssueDoesNotOutliveCA(t *testing.T) {
	ca, err := NewCA("short", t0, 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := Issue(ca, nodeRequest(), t0)
	if err != nil {
		t.Fatal(err)
	}
	if !leaf.Cert.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("leaf NotAfter %v, want the CA's %v", leaf.Cert.NotAfter, ca.Cert.NotAfter)
	}
	if r := Check(leaf.CertPEM, leaf.KeyPEM, ca.CertPEM, ca, nodeRequest(), t0); r != ReasonNone {
		t.Errorf("a leaf cut by its CA's expiry: %q, want kept until due", r)
	}
}

// foreignCA is a CA made elsewhere, with its key in another PEM format.
func foreignCA(t *testing.T, rsaKey bool) (certPEM, keyPEM []byte) {
	t.Helper()
	var (
		pub    any
		signer any
		block  *pem.Block
	)
	if rsaKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		pub, signer = k.Public(), k
		block = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
	} else {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		pub, signer = k.Public(), k
		block = &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "cert-manager CA"},
		NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(block)
}

func TestParseCA(t *testing.T) {
	own := mustCA(t)
	other := mustCA(t)
	leaf, _ := Issue(own, nodeRequest(), t0)
	ecCert, ecKey := foreignCA(t, false)
	rsaCert, rsaKey := foreignCA(t, true)
	for _, tc := range []struct {
		name      string
		cert, key []byte
		want      error // nil: parses
	}{
		{"own PKCS#8", own.CertPEM, own.KeyPEM, nil},
		{"SEC 1 EC key", ecCert, ecKey, nil},
		{"PKCS#1 RSA key", rsaCert, rsaKey, nil},
		{"no key", own.CertPEM, nil, ErrNoKey},
		{"no certificate", nil, own.KeyPEM, ErrNoCertificate},
		{"someone else's key", own.CertPEM, other.KeyPEM, ErrKeyMismatch},
		{"a leaf is no CA", leaf.CertPEM, leaf.KeyPEM, ErrNotCA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca, err := ParseCA(tc.cert, tc.key)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil {
				return
			}
			l, err := Issue(ca, nodeRequest(), t0)
			if err != nil {
				t.Fatalf("issue from it: %v", err)
			}
			if err := l.Cert.CheckSignatureFrom(ca.Cert); err != nil {
				t.Errorf("leaf does not chain: %v", err)
			}
		})
	}
}

func TestRenewAtAndDue(t *testing.T) {
	day := 24 * time.Hour
	nb, na := t0, t0.Add(90*day)
	if got := RenewAt(nb, na); !got.Equal(t0.Add(60 * day)) {
		t.Fatalf("RenewAt = %v, want 60 days in", got)
	}
	for _, tc := range []struct {
		name string
		now  time.Time
		want bool
	}{
		{"just issued", t0, false},
		{"half way", t0.Add(45 * day), false},
		{"a second before a third is left", t0.Add(60*day - time.Second), false},
		{"a third left", t0.Add(60 * day), true},
		{"a day left", t0.Add(89 * day), true},
		{"expired", t0.Add(91 * day), true},
		{"not valid yet", t0.Add(-time.Minute), true},
	} {
		if got := Due(nb, na, tc.now); got != tc.want {
			t.Errorf("%s: Due = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCheck(t *testing.T) {
	ca := mustCA(t)
	otherCA := mustCA(t)
	req := nodeRequest()
	leaf, err := Issue(ca, req, t0)
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := Issue(otherCA, req, t0)
	stranger, _ := Issue(ca, req, t0)
	day := 24 * time.Hour
	moreNames := req
	moreNames.DNSNames = append([]string{"db-rw"}, req.DNSNames...)
	otherID := req
	otherID.URIs = []string{"urn:sutra:node:db-2"}
	reordered := req
	reordered.DNSNames = []string{"localhost", "db-1.db-peers.ns.svc"}
	shorter := req
	shorter.Validity = 30 * day

	for _, tc := range []struct {
		name           string
		cert, key, caP []byte
		want           Request
		now            time.Time
		reason         Reason
	}{
		{"fresh", leaf.CertPEM, leaf.KeyPEM, ca.CertPEM, req, t0.Add(day), ReasonNone},
		{"names in another order", leaf.CertPEM, leaf.KeyPEM, ca.CertPEM, reordered, t0.Add(day), ReasonNone},
		{"nothing stored", nil, nil, nil, req, t0, ReasonMissing},
		{"no key", leaf.CertPEM, nil, ca.CertPEM, req, t0, ReasonMissing},
		{"garbage", []byte("not pem"), leaf.KeyPEM, ca.CertPEM, req, t0, ReasonInvalid},
		{"key of another leaf", leaf.CertPEM, stranger.KeyPEM, ca.CertPEM, req, t0, ReasonInvalid},
		{"signed by another CA", foreign.CertPEM, foreign.KeyPEM, ca.CertPEM, req, t0, ReasonCAChanged},
		{"ca.crt is an older CA", leaf.CertPEM, leaf.KeyPEM, otherCA.CertPEM, req, t0, ReasonCAChanged},
		{"a Service was added", leaf.CertPEM, leaf.KeyPEM, ca.CertPEM, moreNames, t0, ReasonNamesChanged},
		{"another identity", leaf.CertPEM, leaf.KeyPEM, ca.CertPEM, otherID, t0, ReasonNamesChanged},
		{"duration changed", leaf.CertPEM, leaf.KeyPEM, ca.CertPEM, shorter, t0, ReasonValidityChanged},
		{"two thirds through", leaf.CertPEM, leaf.KeyPEM, ca.CertPEM, req, t0.Add(61 * day), ReasonDue},
		{"expired", leaf.CertPEM, leaf.KeyPEM, ca.CertPEM, req, t0.Add(100 * day), ReasonDue},
	} {
		if got := Check(tc.cert, tc.key, tc.caP, ca, tc.want, tc.now); got != tc.reason {
			t.Errorf("%s: Check = %q, want %q", tc.name, got, tc.reason)
		}
	}
}
