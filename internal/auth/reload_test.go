package auth_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sutra/sutra-operator/internal/auth"
	"github.com/sutra/sutra-operator/internal/auth/authtest"
	"github.com/sutra/sutra-operator/internal/certs"
)

func served(t *testing.T, s *auth.Source) *x509.Certificate {
	t.Helper()
	cfg, err := s.ServerConfig().GetConfigForClient(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSourceReloadsChangedFiles: a rotated certificate is served once the
// recheck interval has passed; a change that does not parse keeps the old.
func TestSourceReloadsChangedFiles(t *testing.T) {
	dir := t.TempDir()
	ca := authtest.NewCA(t, "test CA")
	files := ca.WriteFiles(t, dir, auth.Node, "n1")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	src, err := auth.Open(files, log)
	if err != nil {
		t.Fatal(err)
	}
	first := served(t, src).SerialNumber

	ca.WriteFiles(t, dir, auth.Node, "n1")
	if got := served(t, src).SerialNumber; got.Cmp(first) != 0 {
		t.Fatalf("reloaded within the recheck interval")
	}
	time.Sleep(1100 * time.Millisecond)
	second := served(t, src).SerialNumber
	if second.Cmp(first) == 0 {
		t.Fatalf("a rotated certificate was not served after the recheck interval")
	}

	if err := os.WriteFile(files.Key, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if got := served(t, src).SerialNumber; got.Cmp(second) != 0 {
		t.Fatalf("a broken key replaced a working certificate")
	}
	if id, err := src.Identity(); err != nil || id.String() != "urn:sutra:node:n1" {
		t.Fatalf("identity %v, %v", id, err)
	}
}

func TestOpenRefusesBadMaterial(t *testing.T) {
	dir := t.TempDir()
	ca := authtest.NewCA(t, "test CA")
	files := ca.WriteFiles(t, dir, auth.Node, "n1")
	other := ca.WriteFiles(t, dir, auth.Node, "n2")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for name, tc := range map[string]struct {
		f    auth.Files
		want string // the file the error must name
	}{
		"key of another certificate": {auth.Files{Cert: files.Cert, Key: other.Key, CA: files.CA}, other.Key},
		"missing CA":                 {auth.Files{Cert: files.Cert, Key: files.Key, CA: dir + "/nope.crt"}, dir + "/nope.crt"},
		"CA that is not PEM":         {auth.Files{Cert: files.Cert, Key: files.Key, CA: files.Key}, "CA " + files.Key},
	} {
		if _, err := auth.Open(tc.f, log); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %s", name, err, tc.want)
		}
	}
}

// TestClientConfigChecksTheDialedName: a node dialing a peer by IP
// address verifies the peer's certificate for that address, although the
// handshake records no server name for IPs.
func TestClientConfigChecksTheDialedName(t *testing.T) {
	dir := t.TempDir()
	ca := authtest.NewCA(t, "test CA")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	client, err := auth.Open(ca.WriteFiles(t, dir, auth.Node, "n1"), log)
	if err != nil {
		t.Fatal(err)
	}
	serve := func(req certs.Request) string {
		kp, err := certs.Issue(ca.KeyPair, req, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		pair, _ := kp.TLSCertificate()
		l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				_ = c.(*tls.Conn).Handshake()
				_ = c.Close()
			}
		}()
		return l.Addr().String()
	}
	dial := func(addr, name string) error {
		c, err := tls.Dial("tcp", addr, client.ClientConfig(name))
		if err == nil {
			_ = c.Close()
		}
		return err
	}
	good := serve(certs.Request{CommonName: "n2", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, URIs: []string{auth.URI(auth.Node, "n2")}, Validity: time.Hour})
	if err := dial(good, "127.0.0.1"); err != nil {
		t.Fatalf("a peer whose certificate holds the dialed IP: %v", err)
	}
	elsewhere := serve(certs.Request{CommonName: "n3", DNSNames: []string{"elsewhere"}, URIs: []string{auth.URI(auth.Node, "n3")}, Validity: time.Hour})
	if err := dial(elsewhere, "127.0.0.1"); err == nil || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("a peer whose certificate does not hold the dialed IP: %v", err)
	}
	if err := dial(good, ""); err == nil {
		t.Fatal("a dial with no name to verify succeeded")
	}
}
