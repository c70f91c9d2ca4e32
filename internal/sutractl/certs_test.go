package sutractl

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCertsAndTLSFlags: "sutractl certs" makes a node's and clients'
// files; a node started with them serves TLS; the writer's context file
// writes, the reader's reads but may not write, and a plaintext or
// unauthenticated client is told why it is refused.
func TestCertsAndTLSFlags(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	run := func(args ...string) error {
		out.Reset()
		return Run(context.Background(), args, &out, &out)
	}
	if err := run("certs", "--dir", dir, "--nodes", "leader", "--clients", "writer:app,reader:dash,admin:ops"); err != nil {
		t.Fatalf("certs: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "created CA") || !strings.Contains(out.String(), "urn:sutra:writer:app") {
		t.Fatalf("certs printed:\n%s", out.String())
	}
	if fi, err := os.Stat(filepath.Join(dir, "ca.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("ca.key: %v, mode %v", err, fi.Mode())
	}
	caBefore, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err := run("certs", "--dir", dir, "--nodes", "leader"); err != nil || strings.Contains(out.String(), "created CA") {
		t.Fatalf("a second run must keep the CA: %v\n%s", err, out.String())
	}
	if caAfter, _ := os.ReadFile(filepath.Join(dir, "ca.crt")); !bytes.Equal(caBefore, caAfter) {
		t.Fatal("a second run replaced the CA")
	}

	addr := startNode(t, "--role", "leader", "--node-id", "leader", "--tls-cert", filepath.Join(dir, "leader.crt"),
		"--tls-key", filepath.Join(dir, "leader.key"), "--tls-ca", filepath.Join(dir, "ca.crt"))
	ctxFile := func(name string) string { return filepath.Join(dir, name+".yaml") }

	if err := run("put", "--context", ctxFile("writer-app"), "--addr", addr, "--id", "k1", "--content", "v1"); err != nil {
		t.Fatalf("writer put: %v\n%s", err, out.String())
	}
	if err := run("get", "--context", ctxFile("reader-dash"), "--addr", addr, "--id", "k1"); err != nil || !strings.Contains(out.String(), "v1") {
		t.Fatalf("reader get: %v\n%s", err, out.String())
	}
	err := run("put", "--context", ctxFile("reader-dash"), "--addr", addr, "--id", "k2", "--content", "v2", "--timeout", "2s")
	if err == nil || !strings.Contains(err.Error(), "needs write permission") {
		t.Fatalf("reader put: %v", err)
	}
	err = run("put", "--ca", filepath.Join(dir, "ca.crt"), "--addr", addr, "--id", "k2", "--content", "v2", "--timeout", "2s")
	if err == nil || !strings.Contains(err.Error(), "no client certificate") {
		t.Fatalf("put with no identity: %v", err)
	}
	if err := run("stats", "--addr", addr, "--timeout", "2s"); err == nil {
		t.Fatal("a plaintext client was served by a TLS node")
	}
	// Flags beside a context file: the admin's certificate, named by flag.
	if err := run("nodes", "--ca", filepath.Join(dir, "ca.crt"), "--cert", filepath.Join(dir, "admin-ops.crt"),
		"--key", filepath.Join(dir, "admin-ops.key"), "--addr", addr); err != nil || !strings.Contains(out.String(), "leader") {
		t.Fatalf("admin nodes: %v\n%s", err, out.String())
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"stats", "--addr", addr, "--token-file", filepath.Join(dir, "x")}, "--token-file needs --ca"},
		{[]string{"stats", "--addr", addr, "--cert", filepath.Join(dir, "admin-ops.crt")}, "--cert and --key go together"},
		{[]string{"stats", "--addr", addr, "--context", filepath.Join(dir, "missing.yaml")}, "no such file"},
		{[]string{"certs", "--dir", dir, "--clients", "node:n1"}, "want admin:NAME"},
	} {
		if err := run(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}
