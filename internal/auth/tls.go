package auth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Files names a node's TLS material, all PEM.
type Files struct {
	Cert, Key string // the node's certificate chain and key: served, and shown when dialing peers
	CA        string // verifies the servers the node dials
	ClientCA  string // verifies client certificates; "" means CA
}

// material is one consistent load of Files.
type material struct {
	cert      tls.Certificate
	roots     *x509.CertPool
	clientCAs *x509.CertPool
}

// Source serves a node's TLS configuration from its files, reloaded when
// they change.
type Source struct {
	r *reloader[*material]
}

// Open loads f. Every file must exist and parse, and the key must match
// the certificate.
func Open(f Files, log *slog.Logger) (*Source, error) {
	if f.Cert == "" || f.Key == "" || f.CA == "" {
		return nil, errors.New("auth: a certificate, its key and a CA are all needed")
	}
	if f.ClientCA == "" {
		f.ClientCA = f.CA
	}
	r, err := newReloader([]string{f.Cert, f.Key, f.CA, f.ClientCA}, f.parse, log)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return &Source{r: r}, nil
}

// parse loads the contents of f's files; errors name the files.
func (f Files) parse(raw [][]byte) (*material, error) {
	cert, err := tls.X509KeyPair(raw[0], raw[1])
	if err != nil {
		return nil, fmt.Errorf("certificate %s and key %s: %w", f.Cert, f.Key, err)
	}
	roots, err := pool(raw[2], "CA "+f.CA)
	if err != nil {
		return nil, err
	}
	clientCAs, err := pool(raw[3], "client CA "+f.ClientCA)
	if err != nil {
		return nil, err
	}
	return &material{cert: cert, roots: roots, clientCAs: clientCAs}, nil
}

func pool(pem []byte, what string) (*x509.CertPool, error) {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate found", what)
	}
	return p, nil
}

// ServerConfig is the node's listener configuration: its current
// certificate, and client certificates verified against the current
// client CA when given (a token caller has none).
func (s *Source) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			m := s.r.get()
			return &tls.Config{
				MinVersion:   tls.VersionTLS12,
				Certificates: []tls.Certificate{m.cert},
				ClientCAs:    m.clientCAs,
				ClientAuth:   tls.VerifyClientCertIfGiven,
			}, nil
		},
	}
}

// ClientConfig is how the node dials the peer serverName (the host it
// dials: a DNS name or an IP address): it shows its current certificate
// and verifies the server against the current CA. Go's own verification
// reads a fixed RootCAs, so it is done here instead, with the same rules
// (chain to a root, server usage, the dialed name). The name is given
// here because the handshake's own record of it is empty for an IP
// address, which would skip the name check.
func (s *Source) ClientConfig(serverName string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: serverName,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			m := s.r.get()
			return &m.cert, nil
		},
		InsecureSkipVerify: true, // verified by VerifyConnection against the reloaded CA
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyServer(cs, serverName, s.r.get().roots)
		},
	}
}

func verifyServer(cs tls.ConnectionState, serverName string, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("auth: the server showed no certificate")
	}
	if serverName == "" {
		return errors.New("auth: no server name to verify the server's certificate against")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		DNSName: serverName, Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err
}

// NotAfter is when the certificate the node serves now expires.
func (s *Source) NotAfter() time.Time {
	m := s.r.get()
	if leaf, err := x509.ParseCertificate(m.cert.Certificate[0]); err == nil {
		return leaf.NotAfter
	}
	return time.Time{}
}

// Identity is the identity of the node's own certificate.
func (s *Source) Identity() (Identity, error) {
	m := s.r.get()
	leaf := m.cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(m.cert.Certificate[0]); err != nil {
			return Identity{}, err
		}
	}
	return FromCertificate(leaf)
}
