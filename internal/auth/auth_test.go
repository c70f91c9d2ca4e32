package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestPolicy(t *testing.T) {
	for _, tc := range []struct {
		method string
		need   Permission
		may    []Kind
	}{
		{"/sutra.storage.StorageService/GetConcept", Read, []Kind{Reader, Writer, Admin, Node}},
		{"/sutra.storage.StorageService/ReadStream", Read, []Kind{Reader, Writer, Admin, Node}},
		{"/sutra.storage.StorageService/GetStats", Read, []Kind{Reader, Writer, Admin, Node}},
		{"/sutra.storage.StorageService/WriteConcept", Write, []Kind{Writer, Admin}},
		{"/sutra.storage.StorageService/WriteStream", Write, []Kind{Writer, Admin}},
		{"/sutra.storage.StorageService/BatchWrite", Write, []Kind{Writer, Admin}},
		{"/sutra.replication.ReplicationService/GetReplicationStatus", Read, []Kind{Reader, Writer, Admin, Node}},
		{"/sutra.replication.ReplicationService/StreamWal", Replicate, []Kind{Admin, Node}},
		{"/sutra.replication.ReplicationService/StreamWalEntries", Replicate, []Kind{Admin, Node}},
		{"/sutra.replication.ReplicationService/Heartbeat", Heartbeat, []Kind{Node}},
		{"/sutra.admin.AdminService/Promote", AdminRole, []Kind{Admin}},
		{"/sutra.admin.AdminService/Fence", AdminRole, []Kind{Admin}},
		{"/sutra.admin.AdminService/Follow", AdminRole, []Kind{Admin}},
		{"/sutra.admin.AdminService/Status", Read, []Kind{Reader, Writer, Admin, Node}},
		{"/grpc.health.v1.Health/Check", None, []Kind{Reader, Writer, Admin, Node}},
		{"/sutra.storage.StorageService/DropEverything", Denied, nil},
		{"/sutra.admin.AdminService/Promote2", Denied, nil},
	} {
		if got := Needs(tc.method); got != tc.need {
			t.Errorf("Needs(%s) = %s, want %s", tc.method, got, tc.need)
		}
		for _, k := range []Kind{Reader, Writer, Admin, Node} {
			want := false
			for _, m := range tc.may {
				want = want || m == k
			}
			if got := k.Holds(Needs(tc.method)); got != want {
				t.Errorf("%s holds what %s needs: %v, want %v", k, tc.method, got, want)
			}
		}
	}
}

func TestStreamAndLeadRules(t *testing.T) {
	node := Identity{Kind: Node, Name: "sutra-1"}
	admin := Identity{Kind: Admin, Name: "op"}
	writer := Identity{Kind: Writer, Name: "app"}
	for _, tc := range []struct {
		id      Identity
		replica string
		ok      bool
	}{
		{node, "sutra-1", true},
		{node, "sutra-2", false},
		{node, "", false},
		{admin, "", true},
		{admin, "sutra-1", false},
		{writer, "", false},
	} {
		if err := tc.id.MayStreamAs(tc.replica); (err == nil) != tc.ok {
			t.Errorf("%s streams as %q: err %v, want ok=%v", tc.id, tc.replica, err, tc.ok)
		}
	}
	if node.MayLead("sutra-1") != nil || node.MayLead("sutra-0") == nil || admin.MayLead("op") == nil {
		t.Error("only a node may heartbeat, and only as itself")
	}
}

func TestParseURI(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Identity
		err  string
	}{
		{"urn:sutra:node:sutra-0", Identity{Kind: Node, Name: "sutra-0"}, ""},
		{"urn:sutra:reader:dash:board", Identity{Kind: Reader, Name: "dash:board"}, ""},
		{"urn:sutra:root:me", Identity{}, "kind \"root\""},
		{"urn:sutra:node:", Identity{}, "no name"},
		{"spiffe://x/y", Identity{}, "not a sutra identity"},
	} {
		got, err := ParseURI(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseURI(%q) err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseURI(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestFromCertificate(t *testing.T) {
	mk := func(uris ...string) *x509.Certificate {
		c := &x509.Certificate{Subject: pkix.Name{CommonName: "x"}}
		for _, u := range uris {
			p, err := url.Parse(u)
			if err != nil {
				t.Fatal(err)
			}
			c.URIs = append(c.URIs, p)
		}
		return c
	}
	if id, err := FromCertificate(mk("https://example.com", "urn:sutra:writer:app")); err != nil || id.String() != "urn:sutra:writer:app" || id.Via != "certificate" {
		t.Errorf("one identity among other URIs: %+v, %v", id, err)
	}
	if _, err := FromCertificate(mk()); err == nil || !strings.Contains(err.Error(), "carries no") {
		t.Errorf("no identity: %v", err)
	}
	if _, err := FromCertificate(mk("urn:sutra:writer:a", "urn:sutra:admin:b")); err == nil || !strings.Contains(err.Error(), "must carry one") {
		t.Errorf("two identities: %v", err)
	}
}

func TestParseTokens(t *testing.T) {
	good := "# comment\n\nreader dash 0123456789abcdef0\nwriter app  fedcba9876543210f\n"
	m, err := ParseTokens([]byte(good))
	if err != nil || len(m) != 2 {
		t.Fatalf("ParseTokens: %v, %d entries", err, len(m))
	}
	secret := "s3cr3t-s3cr3t-s3cr3t"
	for _, tc := range []struct{ in, err string }{
		{"reader dash\n", "line 1: want"},
		{"node n1 " + secret + "\n", "by certificate"},
		{"root me " + secret + "\n", `kind "root"`},
		{"reader me short\n", "shorter than 16"},
		{"reader a " + secret + "\nwriter b " + secret + "\n", "line 2: the token of b is also a's"},
	} {
		_, err := ParseTokens([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ParseTokens(%q) err %v, want %q", tc.in, err, tc.err)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("an error shows the token: %v", err)
		}
	}
}

// selfSigned is a throwaway certificate for parse tests.
func selfSigned(t *testing.T, uri string) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	u, _ := url.Parse(uri)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), URIs: []*url.URL{u}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func TestCertificateRoundTrip(t *testing.T) {
	id, err := FromCertificate(selfSigned(t, URI(Node, "sutra-2")))
	if err != nil || id.Kind != Node || id.Name != "sutra-2" {
		t.Fatalf("got %+v, %v", id, err)
	}
}
