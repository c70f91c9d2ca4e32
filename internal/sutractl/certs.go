package sutractl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/sutra/sutra-operator/internal/auth"
	"github.com/sutra/sutra-operator/internal/certs"
)

// certsCmd makes the TLS files of a cluster of bare processes: a CA (kept
// when DIR already holds one), a certificate per node and per client, and
// a context file per client. Run again, it issues new leaves in place,
// which running nodes reload.
func certsCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags(ctx, "certs")
	dir := fs.String("dir", "certs", "directory for ca.crt, ca.key and the issued files")
	nodes := fs.String("nodes", "", "comma-separated node ids (SUTRA_NODE_ID): NAME.crt, NAME.key with identity urn:sutra:node:NAME")
	clients := fs.String("clients", "", "comma-separated KIND:NAME clients (admin, writer, reader): KIND-NAME.crt, .key and .yaml (a --context file)")
	hosts := fs.String("hosts", "localhost,127.0.0.1", "DNS names and IPs every node certificate is valid for, beside the node id")
	address := fs.String("address", "", "address written into the clients' context files")
	validity := fs.Duration("validity", 90*24*time.Hour, "lifetime of the issued certificates")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *nodes == "" && *clients == "" {
		return errors.New("sutractl certs: name at least one of --nodes and --clients")
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return fmt.Errorf("sutractl certs: %w", err)
	}
	now := time.Now()
	ca, made, err := loadOrMakeCA(*dir, now)
	if err != nil {
		return err
	}
	if made {
		fmt.Fprintf(out, "created CA %s (valid until %s)\n", filepath.Join(*dir, "ca.crt"), ca.Cert.NotAfter.Format(time.DateOnly))
	}
	dns, ips := splitHosts(*hosts)
	for _, n := range splitList(*nodes) {
		req := certs.Request{CommonName: n, DNSNames: append([]string{n}, dns...), IPs: ips,
			URIs: []string{auth.URI(auth.Node, n)}, Validity: *validity}
		if err := issueFiles(out, *dir, n, ca, req, now); err != nil {
			return err
		}
	}
	for _, c := range splitList(*clients) {
		id, err := auth.ParseURI("urn:sutra:" + c)
		if err != nil || id.Kind == auth.Node {
			return fmt.Errorf("sutractl certs: client %q: want admin:NAME, writer:NAME or reader:NAME", c)
		}
		base := string(id.Kind) + "-" + id.Name
		req := certs.Request{CommonName: id.Name, URIs: []string{id.String()}, Validity: *validity}
		if err := issueFiles(out, *dir, base, ca, req, now); err != nil {
			return err
		}
		b, err := yaml.Marshal(Context{Address: *address, CA: "ca.crt", Cert: base + ".crt", Key: base + ".key"})
		if err == nil {
			err = writeAtomic(filepath.Join(*dir, base+".yaml"), b, 0o600)
		}
		if err != nil {
			return fmt.Errorf("sutractl certs: %w", err)
		}
		fmt.Fprintf(out, "wrote %s: sutractl --context %s\n", filepath.Join(*dir, base+".yaml"), filepath.Join(*dir, base+".yaml"))
	}
	return nil
}

func loadOrMakeCA(dir string, now time.Time) (*certs.KeyPair, bool, error) {
	crt, key := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	cb, err1 := os.ReadFile(crt)
	kb, err2 := os.ReadFile(key)
	if err1 == nil && err2 == nil {
		ca, err := certs.ParseCA(cb, kb)
		if err != nil {
			return nil, false, fmt.Errorf("sutractl certs: %s: %w", crt, err)
		}
		return ca, false, nil
	}
	if !os.IsNotExist(err1) || !os.IsNotExist(err2) {
		return nil, false, fmt.Errorf("sutractl certs: %s and %s go together: %w", crt, key, errors.Join(err1, err2))
	}
	ca, err := certs.NewCA("sutra CA", now, 0)
	if err != nil {
		return nil, false, err
	}
	if err := writeAtomic(key, ca.KeyPEM, 0o600); err != nil {
		return nil, false, err
	}
	return ca, true, writeAtomic(crt, ca.CertPEM, 0o644)
}

func issueFiles(out io.Writer, dir, base string, ca *certs.KeyPair, req certs.Request, now time.Time) error {
	kp, err := certs.Issue(ca, req, now)
	if err != nil {
		return fmt.Errorf("sutractl certs: %s: %w", base, err)
	}
	if err := writeAtomic(filepath.Join(dir, base+".key"), kp.KeyPEM, 0o600); err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(dir, base+".crt"), kp.CertPEM, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(out, "issued %s for %s (valid until %s)\n", filepath.Join(dir, base+".crt"), req.URIs[0], kp.Cert.NotAfter.Format(time.DateOnly))
	return nil
}

// writeAtomic replaces path by rename, so a node reloading it never reads
// half a file.
func writeAtomic(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return fmt.Errorf("sutractl certs: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("sutractl certs: %w", err)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func splitHosts(s string) (dns []string, ips []net.IP) {
	for _, h := range splitList(s) {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, h)
		}
	}
	return dns, ips
}
