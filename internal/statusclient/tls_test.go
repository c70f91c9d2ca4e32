package statusclient

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/sutra/sutra-operator/internal/certs"
	"github.com/sutra/sutra-operator/internal/pb/replicationpb"
)

// identityLeader answers with the URI of the client certificate it saw.
type identityLeader struct {
	replicationpb.UnimplementedReplicationServiceServer
}

func (identityLeader) GetReplicationStatus(ctx context.Context, _ *replicationpb.ReplicationStatusRequest) (*replicationpb.ReplicationStatusResponse, error) {
	resp := &replicationpb.ReplicationStatusResponse{Role: "leader"}
	if p, ok := peer.FromContext(ctx); ok {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.PeerCertificates) > 0 {
			resp.NodeId = certs.Identity(info.State.PeerCertificates[0])
		}
	}
	return resp, nil
}

// serveTLS runs a gRPC server on 127.0.0.1 that requires a client
// certificate signed by ca, serving a node certificate for localhost and
// 127.0.0.1. It returns the port.
func serveTLS(t *testing.T, ca *certs.KeyPair) string {
	t.Helper()
	now := time.Now()
	leaf, err := certs.Issue(ca, certs.Request{CommonName: "node", DNSNames: []string{"localhost"},
		IPs: []net.IP{net.ParseIP("127.0.0.1")}, URIs: []string{"urn:sutra:node:s-1"}, Validity: time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	serverCert, err := leaf.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientCAs:    ca.Pool(),
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	})))
	replicationpb.RegisterReplicationServiceServer(s, identityLeader{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	_, port, _ := net.SplitHostPort(lis.Addr().String())
	return port
}

func clientConfig(t *testing.T, ca, roots *certs.KeyPair, identity string) *tls.Config {
	t.Helper()
	kp, err := certs.Issue(ca, certs.Request{CommonName: "operator", URIs: []string{identity}, Validity: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := kp.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots.Pool(), MinVersion: tls.VersionTLS12}
}

func TestWithTLS(t *testing.T) {
	ca, err := certs.NewCA("test", time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	other, err := certs.NewCA("other", time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	port := serveTLS(t, ca)
	admin := clientConfig(t, ca, ca, "urn:sutra:admin:sutra-operator")
	c := &Client{Timeout: 2 * time.Second}

	for _, host := range []string{"localhost", "127.0.0.1"} {
		// The server name comes from the endpoint: one config for every node.
		got, err := c.ReplicationStatus(WithTLS(context.Background(), admin), net.JoinHostPort(host, port))
		if err != nil {
			t.Fatalf("%s: mutual TLS call: %v", host, err)
		}
		if got.NodeID != "urn:sutra:admin:sutra-operator" {
			t.Errorf("%s: the server saw client identity %q", host, got.NodeID)
		}
	}
	if admin.ServerName != "" {
		t.Errorf("the caller's config was modified: ServerName %q", admin.ServerName)
	}

	for name, ctx := range map[string]context.Context{
		"plaintext without WithTLS":   context.Background(),
		"plaintext with a nil config": WithTLS(context.Background(), nil),
		"server signed by an unknown CA": WithTLS(context.Background(),
			clientConfig(t, ca, other, "urn:sutra:admin:sutra-operator")),
		"client certificate from another CA": WithTLS(context.Background(),
			clientConfig(t, other, ca, "urn:sutra:admin:sutra-operator")),
		"no client certificate": WithTLS(context.Background(),
			&tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}),
	} {
		if _, err := c.ReplicationStatus(ctx, "127.0.0.1:"+port); err == nil {
			t.Errorf("%s: the call succeeded", name)
		}
	}

	// A server name the certificate does not carry fails verification.
	elsewhere := &Client{Timeout: 2 * time.Second, DialOptions: []grpc.DialOption{grpc.WithAuthority("elsewhere.example")}}
	if _, err := elsewhere.ReplicationStatus(WithTLS(context.Background(), admin), "127.0.0.1:"+port); err == nil {
		t.Error("a call whose server name is not in the certificate succeeded")
	}
}
