package sutractl

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"sigs.k8s.io/yaml"

	"github.com/sutra/sutra-operator/internal/grpcdial"
)

// Context is a context file (--context, SUTRA_CONTEXT): where a cluster is
// and how to prove who you are to it, like a kubeconfig context. Relative
// paths are relative to the file. Flags given on the command line win.
//
//	address: sutra-rw.apps.svc:50051
//	ca: ca.crt
//	cert: tls.crt
//	key: tls.key
//	token-file: token       # instead of, or beside, a certificate
//	server-name: sutra-rw   # when the address is not a name the certificate holds
type Context struct {
	Address    string `json:"address,omitempty"`
	CA         string `json:"ca,omitempty"`
	Cert       string `json:"cert,omitempty"`
	Key        string `json:"key,omitempty"`
	TokenFile  string `json:"token-file,omitempty"`
	ServerName string `json:"server-name,omitempty"`
	Insecure   bool   `json:"insecure,omitempty"` // plaintext: for nodes started with --insecure
}

// transport is how one sutractl run reaches nodes: the flags every command
// shares, resolved once into dial options.
type transport struct {
	file  string
	flags Context

	once sync.Once
	ctx  Context // file, then flags
	opts []grpc.DialOption
	err  error
}

type transportKey struct{}

func withTransport(ctx context.Context, t *transport) context.Context {
	return context.WithValue(ctx, transportKey{}, t)
}

// transportFrom is the run's transport; nil (plaintext) when a command is
// run without Run, as tests do.
func transportFrom(ctx context.Context) *transport {
	t, _ := ctx.Value(transportKey{}).(*transport)
	return t
}

func (t *transport) register(fs *flag.FlagSet) {
	fs.StringVar(&t.file, "context", os.Getenv("SUTRA_CONTEXT"), "context file: address, ca, cert, key, token-file, server-name (SUTRA_CONTEXT)")
	fs.StringVar(&t.flags.CA, "ca", "", "PEM CA bundle that verifies the nodes: speak TLS")
	fs.StringVar(&t.flags.Cert, "cert", "", "PEM client certificate (its URI SAN urn:sutra:<kind>:<name> says who you are)")
	fs.StringVar(&t.flags.Key, "key", "", "PEM key of --cert")
	fs.StringVar(&t.flags.TokenFile, "token-file", "", "file holding a bearer token (needs --ca: tokens are never sent in plaintext)")
	fs.StringVar(&t.flags.ServerName, "server-name", "", "name to verify in the nodes' certificates instead of the dialed host")
}

// resolve merges the context file and the flags and builds dial options.
func (t *transport) resolve() (Context, []grpc.DialOption, error) {
	t.once.Do(func() {
		t.ctx, t.err = t.merged()
		if t.err == nil {
			t.opts, t.err = dialOptions(t.ctx)
		}
	})
	return t.ctx, t.opts, t.err
}

func (t *transport) merged() (Context, error) {
	var c Context
	if t.file != "" {
		b, err := os.ReadFile(t.file)
		if err != nil {
			return c, fmt.Errorf("sutractl: context: %w", err)
		}
		if err := yaml.UnmarshalStrict(b, &c); err != nil {
			return c, fmt.Errorf("sutractl: context %s: %w", t.file, err)
		}
		dir := filepath.Dir(t.file)
		for _, p := range []*string{&c.CA, &c.Cert, &c.Key, &c.TokenFile} {
			if *p != "" && !filepath.IsAbs(*p) {
				*p = filepath.Join(dir, *p)
			}
		}
	}
	over := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	over(&c.CA, t.flags.CA)
	over(&c.Cert, t.flags.Cert)
	over(&c.Key, t.flags.Key)
	over(&c.TokenFile, t.flags.TokenFile)
	over(&c.ServerName, t.flags.ServerName)
	return c, nil
}

// dialOptions turns a context into gRPC credentials: none (plaintext),
// TLS, TLS with a client certificate, and a bearer token.
func dialOptions(c Context) ([]grpc.DialOption, error) {
	secure := c.CA != ""
	switch {
	case c.Insecure && secure:
		return nil, errors.New("sutractl: context says insecure but names a CA: choose one")
	case (c.Cert == "") != (c.Key == ""):
		return nil, errors.New("sutractl: --cert and --key go together")
	case c.Cert != "" && !secure:
		return nil, errors.New("sutractl: --cert needs --ca to verify the nodes")
	case c.TokenFile != "" && !secure:
		return nil, errors.New("sutractl: --token-file needs --ca: a bearer token is never sent in plaintext")
	case !secure:
		return nil, nil
	}
	pem, err := os.ReadFile(c.CA)
	if err != nil {
		return nil, fmt.Errorf("sutractl: --ca: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("sutractl: --ca %s holds no PEM certificate", c.CA)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, ServerName: c.ServerName}
	if c.Cert != "" {
		pair, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return nil, fmt.Errorf("sutractl: --cert/--key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg))}
	if c.TokenFile != "" {
		b, err := os.ReadFile(c.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("sutractl: --token-file: %w", err)
		}
		token := strings.TrimSpace(string(b))
		if token == "" {
			return nil, fmt.Errorf("sutractl: --token-file %s is empty", c.TokenFile)
		}
		opts = append(opts, grpc.WithPerRPCCredentials(grpcdial.TokenCredentials(token, true)))
	}
	return opts, nil
}

// dial opens a connection to addr the way the run's flags say.
func dial(ctx context.Context, addr string) (*grpc.ClientConn, error) {
	opts, err := dialOpts(ctx)
	if err != nil {
		return nil, err
	}
	conn, err := grpcdial.Dial(addr, nil, opts...)
	if err != nil {
		return nil, fmt.Errorf("sutractl: %s: %w", addr, err)
	}
	return conn, nil
}

// dialOpts are the run's dial options: credentials from the context file
// and flags; none (plaintext) when a command is run without Run.
func dialOpts(ctx context.Context) ([]grpc.DialOption, error) {
	t := transportFrom(ctx)
	if t == nil {
		return nil, nil
	}
	_, opts, err := t.resolve()
	return opts, err
}

// contextAddress is the context file's address, used when --addr was not
// given.
func contextAddress(ctx context.Context) string {
	if t := transportFrom(ctx); t != nil {
		if c, _, err := t.resolve(); err == nil {
			return c.Address
		}
	}
	return ""
}
