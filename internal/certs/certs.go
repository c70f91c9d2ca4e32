package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"time"
)

// Sentinel errors.
var (
	ErrNoCertificate = errors.New("certs: no PEM CERTIFICATE block")
	ErrNoKey         = errors.New("certs: no PEM private key block")
	ErrKeyMismatch   = errors.New("certs: private key does not match the certificate")
	ErrNotCA         = errors.New("certs: certificate is not a CA (basicConstraints CA:FALSE or keyCertSign missing)")
)

// Backdate is how far before the issuing clock a certificate's NotBefore is
// set, so a node whose clock is slightly behind the operator's accepts it.
const Backdate = 5 * time.Minute

// DefaultCAValidity is the lifetime of a CA made by NewCA: about ten years.
const DefaultCAValidity = 10 * 365 * 24 * time.Hour

// KeyPair is a certificate with its private key, both parsed and as PEM.
// The PEM slices are owned by the KeyPair: callers must not modify them.
type KeyPair struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte
}

// Request describes a leaf certificate.
type Request struct {
	// CommonName is informational; identities are the URIs.
	CommonName string
	DNSNames   []string
	IPs        []net.IP
	// URIs are the identities, such as urn:sutra:node:db-1.
	URIs []string
	// Validity is the lifetime from the issuing time (NotBefore is
	// Backdate earlier).
	Validity time.Duration
}

// NewCA makes a self-signed CA valid from now-Backdate for validity
// (DefaultCAValidity when zero), with an ECDSA P-256 key.
func NewCA(commonName string, now time.Time, validity time.Duration) (*KeyPair, error) {
	if validity <= 0 {
		validity = DefaultCAValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-Backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("certs: sign CA: %w", err)
	}
	return newKeyPair(der, key)
}

// Issue signs a leaf for req with ca, valid from now-Backdate to
// now+req.Validity, with a fresh ECDSA P-256 key. Its CertPEM holds the leaf
// only; the CA goes in ca.crt beside it.
func Issue(ca *KeyPair, req Request, now time.Time) (*KeyPair, error) {
	if req.Validity <= 0 {
		return nil, errors.New("certs: validity must be positive")
	}
	uris := make([]*url.URL, 0, len(req.URIs))
	for _, u := range req.URIs {
		parsed, err := url.Parse(u)
		if err != nil {
			return nil, fmt.Errorf("certs: URI SAN %q: %w", u, err)
		}
		uris = append(uris, parsed)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: generate key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(req.Validity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter // a leaf cannot outlive its CA
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: req.CommonName},
		NotBefore:    now.Add(-Backdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     append([]string(nil), req.DNSNames...),
		IPAddresses:  append([]net.IP(nil), req.IPs...),
		URIs:         uris,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("certs: sign %s: %w", req.CommonName, err)
	}
	return newKeyPair(der, key)
}

// ParseKeyPair reads a certificate (the first CERTIFICATE block of certPEM)
// and its private key (PKCS #8, SEC 1 EC or PKCS #1 RSA) and checks they
// match.
func ParseKeyPair(certPEM, keyPEM []byte) (*KeyPair, error) {
	cert, err := ParseCertificate(certPEM)
	if err != nil {
		return nil, err
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, err
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, ErrKeyMismatch
	}
	return &KeyPair{Cert: cert, Key: key, CertPEM: bytes.Clone(certPEM), KeyPEM: bytes.Clone(keyPEM)}, nil
}

// ParseCA is ParseKeyPair for a certificate that may sign others.
func ParseCA(certPEM, keyPEM []byte) (*KeyPair, error) {
	kp, err := ParseKeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	if !kp.Cert.IsCA || kp.Cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, ErrNotCA
	}
	return kp, nil
}

// ParseCertificate parses the first CERTIFICATE block of pemBytes.
func ParseCertificate(pemBytes []byte) (*x509.Certificate, error) {
	for rest := pemBytes; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, ErrNoCertificate
		}
		if b.Type == "CERTIFICATE" {
			cert, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("certs: parse certificate: %w", err)
			}
			return cert, nil
		}
	}
}

// Identity is the certificate's first URI SAN, or "" when it has none.
func Identity(cert *x509.Certificate) string {
	if len(cert.URIs) == 0 {
		return ""
	}
	return cert.URIs[0].String()
}

// TLSCertificate is kp as a crypto/tls certificate (leaf only).
func (kp *KeyPair) TLSCertificate() (tls.Certificate, error) {
	return tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
}

// Pool is a certificate pool holding kp's certificate.
func (kp *KeyPair) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(kp.Cert)
	return p
}

func newKeyPair(der []byte, key *ecdsa.PrivateKey) (*KeyPair, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: parse signed certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("certs: marshal key: %w", err)
	}
	return &KeyPair{
		Cert:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

func parseKey(keyPEM []byte) (crypto.Signer, error) {
	for rest := keyPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, ErrNoKey
		}
		var (
			key any
			err error
		)
		switch b.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("certs: parse %s: %w", b.Type, err)
		}
		switch k := key.(type) {
		case *ecdsa.PrivateKey:
			return k, nil
		case *rsa.PrivateKey:
			return k, nil
		case crypto.Signer:
			return k, nil
		}
		return nil, fmt.Errorf("certs: unsupported key type %T", key)
	}
}

func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("certs: serial: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil // never zero
}
