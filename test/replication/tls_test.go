package replication

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/sutra/sutra-operator/internal/auth"
	"github.com/sutra/sutra-operator/internal/auth/authtest"
	"github.com/sutra/sutra-operator/internal/grpcdial"
	"github.com/sutra/sutra-operator/internal/pb/adminpb"
	"github.com/sutra/sutra-operator/internal/pb/replicationpb"
	"github.com/sutra/sutra-operator/internal/pb/storagepb"
)

// secureCluster is a CA and the directory its nodes' files live in.
type secureCluster struct {
	t   *testing.T
	ca  *authtest.CA
	dir string
}

func newSecureCluster(t *testing.T) *secureCluster {
	dir := filepath.Join(t.TempDir(), "certs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return &secureCluster{t: t, ca: authtest.NewCA(t, "cluster CA"), dir: dir}
}

// start runs node name with its own certificate; the test dials it as an
// admin.
// leaderWithReplica starts a leader and a replica id following it, the
// leader configured with the replica's address.
func (c *secureCluster) leaderWithReplica(id string) (leader, replica *node) {
	leader = c.start("leader", "--role", "leader")
	replica = c.start(id, "--role", "replica", "--leader", leader.addr)
	leader.restartAsLeaderOf(replica)
	return leader, replica
}

func (c *secureCluster) start(name string, args ...string) *node {
	f := c.ca.WriteFiles(c.t, c.dir, auth.Node, name)
	tlsArgs := []string{"--tls-cert", f.Cert, "--tls-key", f.Key, "--tls-ca", f.CA}
	return startNodeDialed(c.t, name, credentials.NewTLS(c.ca.ClientTLS(c.t, auth.Admin, "test")), tlsArgs, args...)
}

// rotate issues name a new certificate in place.
func (c *secureCluster) rotate(name string) { c.ca.WriteFiles(c.t, c.dir, auth.Node, name) }

func dialAs(t *testing.T, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func tlsAs(cfg *tls.Config) grpc.DialOption {
	return grpc.WithTransportCredentials(credentials.NewTLS(cfg))
}

// openStream starts StreamWal as replicaID and returns the first reply's
// error (nil when the leader streams).
func openStream(conn *grpc.ClientConn, replicaID string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	st, err := replicationpb.NewReplicationServiceClient(conn).StreamWal(ctx)
	if err != nil {
		return err
	}
	if err := st.Send(&replicationpb.ReplicaMessage{Kind: &replicationpb.ReplicaMessage_Start{Start: &replicationpb.WalStreamRequest{
		ReplicaId: replicaID, ClusterId: "e2e", StartSequence: 1}}}); err != nil && !errors.Is(err, io.EOF) {
		return err
	} // on io.EOF the server has ended the stream: Recv says why
	_, err = st.Recv()
	return err
}

func wantCode(t *testing.T, what string, err error, code codes.Code, text string) {
	t.Helper()
	if status.Code(err) != code || !strings.Contains(status.Convert(err).Message(), text) {
		t.Errorf("%s: got %v (%s), want %s containing %q", what, status.Code(err), status.Convert(err).Message(), code, text)
	} else {
		t.Logf("%s: %s: %s", what, code, status.Convert(err).Message())
	}
}

// TestTLSRefusesCallersWithoutTheRightIdentity: a leader and a replica on
// mTLS. Callers without a certificate, with one from another CA, with one
// for another node, or with too little permission are refused with a
// status that says why, and a forged higher-epoch heartbeat changes
// nothing. Every acknowledged write is then on both nodes.
func TestTLSRefusesCallersWithoutTheRightIdentity(t *testing.T) {
	c := newSecureCluster(t)
	leader, replica := c.leaderWithReplica("r1")
	w := newWriter(41)
	if n := w.write(leader, 200, 4); n != 200 {
		t.Fatalf("only %d of 200 writes acknowledged over mTLS", n)
	}
	converged(t, leader, replica)

	plain := dialAs(t, leader.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	_, err := storagepb.NewStorageServiceClient(plain).GetStats(context.Background(), &storagepb.GetStatsRequest{})
	wantCode(t, "plaintext client", err, codes.Unavailable, "")

	noCert := dialAs(t, leader.addr, tlsAs(&tls.Config{RootCAs: c.ca.Pool(), MinVersion: tls.VersionTLS12}))
	wantCode(t, "TLS without a client certificate", openStream(noCert, "r9"), codes.Unauthenticated, "no client certificate")
	_, err = storagepb.NewStorageServiceClient(noCert).GetStats(context.Background(), &storagepb.GetStatsRequest{})
	wantCode(t, "TLS without a client certificate, read", err, codes.Unauthenticated, "no client certificate")

	// A certificate from another CA: Go's client leaves it out, as the
	// server names the CAs it accepts; a client that shows it anyway, as a
	// node does (GetClientCertificate), fails the handshake.
	other := authtest.NewCA(t, "another CA")
	foreign := other.ClientTLS(t, auth.Node, "r1")
	foreign.RootCAs = c.ca.Pool()
	wantCode(t, "certificate from another CA", openStream(dialAs(t, leader.addr, tlsAs(foreign)), "r1"),
		codes.Unauthenticated, "no client certificate signed by the cluster's CA")
	pushed := foreign.Clone()
	pushed.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &foreign.Certificates[0], nil }
	pushed.Certificates = nil
	// In TLS 1.3 the client finishes its handshake before the server has
	// checked its certificate, so the server's alert may come second to a
	// broken pipe: every attempt is UNAVAILABLE, and the alert shows.
	var shown error
	for range 10 {
		err := openStream(dialAs(t, leader.addr, tlsAs(pushed)), "r1")
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("certificate from another CA, shown anyway: %v, want UNAVAILABLE", err)
		}
		if strings.Contains(err.Error(), "unknown certificate authority") {
			shown = err
			break
		}
	}
	wantCode(t, "certificate from another CA, shown anyway", shown, codes.Unavailable, "unknown certificate authority")

	asR2 := dialAs(t, leader.addr, tlsAs(c.ca.ClientTLS(t, auth.Node, "r2")))
	wantCode(t, "node r2 streaming as r1", openStream(asR2, "r1"), codes.PermissionDenied, `may stream only as replica "r2"`)

	reader := dialAs(t, leader.addr, tlsAs(c.ca.ClientTLS(t, auth.Reader, "dash")))
	_, err = storagepb.NewStorageServiceClient(reader).WriteConcept(context.Background(), &storagepb.WriteConceptRequest{
		Concept: &storagepb.Concept{Id: conceptID(99, 1), Content: []byte("x"), Strength: 1, Confidence: 1}})
	wantCode(t, "reader writing", err, codes.PermissionDenied, "needs write permission")
	if _, err := storagepb.NewStorageServiceClient(reader).GetConcept(context.Background(),
		&storagepb.GetConceptRequest{Id: conceptID(41, 1)}); err != nil {
		t.Errorf("reader reading: %v", err)
	}
	wantCode(t, "reader streaming", openStream(reader, "r1"), codes.PermissionDenied, "needs replicate permission")

	// A forged heartbeat from a higher epoch: from a writer, and from a
	// node that is not the leader it names.
	before := replica.status()
	hb := &replicationpb.HeartbeatRequest{LeaderId: "leader", ClusterId: "e2e", Epoch: before.GetEpoch() + 10,
		CurrentSequence: 1 << 40, Timestamp: uint64(time.Now().UnixMilli())}
	writerConn := dialAs(t, replica.addr, tlsAs(c.ca.ClientTLS(t, auth.Writer, "app")))
	_, err = replicationpb.NewReplicationServiceClient(writerConn).Heartbeat(context.Background(), hb)
	wantCode(t, "heartbeat from a writer", err, codes.PermissionDenied, "needs heartbeat permission")
	_, err = replicationpb.NewReplicationServiceClient(asR2Conn(t, c, replica.addr)).Heartbeat(context.Background(), hb)
	wantCode(t, "heartbeat from node r2 as the leader", err, codes.PermissionDenied, `may not send heartbeats for leader "leader"`)
	_, err = replicationpb.NewReplicationServiceClient(noCertTo(t, c, replica.addr)).Heartbeat(context.Background(), hb)
	wantCode(t, "heartbeat without a certificate", err, codes.Unauthenticated, "no client certificate")

	if n := w.write(leader, 200, 4); n != 200 {
		t.Fatalf("only %d of 200 writes acknowledged after the refused calls", n)
	}
	converged(t, leader, replica)
	after := replica.status()
	if after.GetEpoch() != before.GetEpoch() || after.GetLeaderAddress() != before.GetLeaderAddress() {
		t.Errorf("refused heartbeats changed the replica: epoch %d -> %d, leader %q -> %q", before.GetEpoch(), after.GetEpoch(),
			before.GetLeaderAddress(), after.GetLeaderAddress())
	}
	lost := w.lostOn(t, leader, replica)
	if lost > 0 {
		t.Fatalf("%d acknowledged writes lost", lost)
	}
}

func asR2Conn(t *testing.T, c *secureCluster, addr string) *grpc.ClientConn {
	return dialAs(t, addr, tlsAs(c.ca.ClientTLS(t, auth.Node, "r2")))
}

func noCertTo(t *testing.T, c *secureCluster, addr string) *grpc.ClientConn {
	return dialAs(t, addr, tlsAs(&tls.Config{RootCAs: c.ca.Pool(), MinVersion: tls.VersionTLS12}))
}

// restartAsLeaderOf gives a leader started before its replica the
// replica's address, so it heartbeats it.
func (n *node) restartAsLeaderOf(replicas ...*node) {
	var addrs []string
	for _, r := range replicas {
		addrs = append(addrs, r.addr)
	}
	n.stop()
	n.restartAs("--role", "leader", "--replicas", strings.Join(addrs, ","))
}

// TestTLSTokens: bearer tokens from the token file authenticate readers
// and writers over TLS; an unknown token is refused; a replaced file takes
// effect without a restart.
func TestTLSTokens(t *testing.T) {
	c := newSecureCluster(t)
	tokens := filepath.Join(c.dir, "tokens")
	write := func(s string) { authtest.WriteFile(t, tokens, []byte(s)) }
	write("reader dash dash-token-0123456789\nwriter app app-token-0123456789\n")
	leader := c.start("leader", "--role", "leader", "--auth-tokens-file", tokens)
	as := func(token string) storagepb.StorageServiceClient {
		return storagepb.NewStorageServiceClient(dialAs(t, leader.addr, tlsAs(&tls.Config{RootCAs: c.ca.Pool(), MinVersion: tls.VersionTLS12}),
			grpc.WithPerRPCCredentials(grpcdial.TokenCredentials(token, true))))
	}
	put := func(cl storagepb.StorageServiceClient, i uint64) error {
		_, err := cl.WriteConcept(context.Background(), &storagepb.WriteConceptRequest{
			Concept: &storagepb.Concept{Id: conceptID(7, i), Content: []byte(fmt.Sprint(i)), Strength: 1, Confidence: 1}})
		return err
	}
	if err := put(as("app-token-0123456789"), 1); err != nil {
		t.Fatalf("writer token: %v", err)
	}
	wantCode(t, "reader token writing", put(as("dash-token-0123456789"), 2), codes.PermissionDenied, "reader:dash (by token) may not call")
	if _, err := as("dash-token-0123456789").GetConcept(context.Background(), &storagepb.GetConceptRequest{Id: conceptID(7, 1)}); err != nil {
		t.Errorf("reader token reading: %v", err)
	}
	wantCode(t, "unknown token", put(as("guessed-token-0123456789"), 3), codes.Unauthenticated, "not recognised")

	write("reader dash dash-token-0123456789\nwriter app2 app2-token-0123456789\n")
	eventually(t, 5*time.Second, "the new token file to take effect", func() error {
		if err := put(as("app2-token-0123456789"), 4); err != nil {
			return err
		}
		if status.Code(put(as("app-token-0123456789"), 5)) != codes.Unauthenticated {
			return fmt.Errorf("the removed token still writes")
		}
		return nil
	})
	if strings.Contains(leader.logs(), "token-0123456789") {
		t.Errorf("a token appears in the node's log")
	}
}

// TestTLSRotationKeepsStreaming rotates every node's certificate while a
// writer runs, then restarts the leader so every connection is made again
// with the new certificates: no acknowledged write is lost, digests agree,
// and the nodes serve the new certificates.
func TestTLSRotationKeepsStreaming(t *testing.T) {
	c := newSecureCluster(t)
	leader := c.start("leader", "--role", "leader")
	r1 := c.start("r1", "--role", "replica", "--leader", leader.addr)
	r2 := c.start("r2", "--role", "replica", "--leader", leader.addr)
	leader.restartAsLeaderOf(r1, r2)
	w := newWriter(42)
	stop := make(chan struct{})
	done := w.background(leader, 4, stop)
	time.Sleep(time.Second)

	old := served(t, c.ca.Pool(), leader.addr).SerialNumber.String()
	for _, n := range []string{"leader", "r1", "r2"} {
		c.rotate(n)
	}
	time.Sleep(2 * time.Second) // past the recheck interval, streams running
	for _, n := range []*node{r1, r2} {
		if st := n.status(); st.GetReplicas()[0].GetState() != "streaming" {
			t.Errorf("%s is %s after rotation, not streaming", n.name, st.GetReplicas()[0].GetState())
		}
	}
	if served(t, c.ca.Pool(), leader.addr).SerialNumber.String() == old {
		t.Errorf("the leader still serves its old certificate after rotation")
	}
	close(stop)
	<-done
	// New connections everywhere: the replicas must dial with their new
	// certificates and the restarted leader heartbeat with its new one.
	leader.stop()
	leader.restartAs("--role", "leader", "--replicas", r1.addr+","+r2.addr)
	stop = make(chan struct{})
	done = w.background(leader, 4, stop)
	time.Sleep(time.Second)
	close(stop)
	<-done
	converged(t, leader, r1, r2)
	lost := w.lostOn(t, leader, r1, r2)
	t.Logf("acknowledged writes lost: %d", lost)
	if lost > 0 {
		t.Fatalf("%d acknowledged writes lost across certificate rotation", lost)
	}
	for _, n := range []*node{r1, r2} {
		if st := n.status(); st.GetReplicas()[0].GetState() != "streaming" {
			t.Errorf("%s is %s after the leader restarted with its new certificate", n.name, st.GetReplicas()[0].GetState())
		}
	}
}

// served is the certificate addr serves now, verified against roots.
func served(t *testing.T, roots *x509.CertPool, addr string) *x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatalf("TLS to %s: %v", addr, err)
	}
	defer func() { _ = conn.Close() }()
	return conn.ConnectionState().PeerCertificates[0]
}

// TestTLSCARotationWithOverlap replaces the cluster's CA the way
// docs/security.md says: both CAs in every ca.crt, then leaves from the new
// CA, then the old CA dropped; the leader restarts after each step so
// every connection is made again. Streams keep going and no acknowledged
// write is lost.
func TestTLSCARotationWithOverlap(t *testing.T) {
	c := newSecureCluster(t)
	leader, r1 := c.leaderWithReplica("r1")
	w := newWriter(43)
	newCA := authtest.NewCA(t, "new cluster CA")
	writeCA := func(pems ...[]byte) { authtest.WriteFile(t, filepath.Join(c.dir, "ca.crt"), bytes.Join(pems, nil)) }
	// step writes for a second, restarts the leader so every connection
	// is made again with the files as they are, and writes again.
	step := func(what string) {
		time.Sleep(1100 * time.Millisecond) // past the recheck interval
		stop := make(chan struct{})
		done := w.background(leader, 4, stop)
		time.Sleep(time.Second)
		close(stop)
		<-done
		leader.stop()
		leader.restartAs("--role", "leader", "--replicas", r1.addr)
		if n := w.write(leader, 100, 4); n != 100 {
			t.Fatalf("%s: %d of 100 writes acknowledged", what, n)
		}
		converged(t, leader, r1)
		if st := r1.status(); st.GetReplicas()[0].GetState() != "streaming" {
			t.Fatalf("%s: r1 is %s", what, st.GetReplicas()[0].GetState())
		}
	}
	// redial points the test's own clients at the nodes with cfg.
	redial := func(cfg *tls.Config) {
		creds := credentials.NewTLS(cfg)
		for _, n := range []*node{leader, r1} {
			_ = n.conn.Close()
			conn, err := grpc.NewClient(n.addr, grpc.WithTransportCredentials(creds))
			if err != nil {
				t.Fatal(err)
			}
			n.conn, n.creds = conn, creds
			n.store, n.repl, n.admin = storagepb.NewStorageServiceClient(conn), replicationpb.NewReplicationServiceClient(conn), adminpb.NewAdminServiceClient(conn)
		}
	}
	both := c.ca.ClientTLS(t, auth.Admin, "test")
	both.RootCAs.AddCert(newCA.Cert)
	writeCA(c.ca.PEM, newCA.PEM)
	redial(both)
	step("both CAs trusted")
	for _, n := range []string{"leader", "r1"} {
		cert, key := newCA.Issue(t, auth.Node, n)
		authtest.WriteFile(t, filepath.Join(c.dir, n+".key"), key)
		authtest.WriteFile(t, filepath.Join(c.dir, n+".crt"), cert)
	}
	step("leaves from the new CA")
	writeCA(newCA.PEM)
	redial(newCA.ClientTLS(t, auth.Admin, "test"))
	step("the old CA dropped")
	lost := w.lostOn(t, leader, r1)
	t.Logf("acknowledged writes lost across the CA rotation: %d", lost)
	if lost > 0 {
		t.Fatalf("%d acknowledged writes lost", lost)
	}
	if served(t, newCA.Pool(), leader.addr).Issuer.CommonName != newCA.Cert.Subject.CommonName {
		t.Error("the leader does not serve a certificate from the new CA")
	}
}
