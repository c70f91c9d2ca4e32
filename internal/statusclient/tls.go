package statusclient

import (
	"context"
	"crypto/tls"
)

type tlsKey struct{}

// WithTLS returns a ctx whose calls (every Client method given it) dial
// with TLS using cfg: the operator's client certificate in
// cfg.Certificates, the cluster's CA in cfg.RootCAs. Leave cfg.ServerName
// empty: gRPC takes it from each endpoint's host, so one cfg serves every
// node of a cluster. cfg is not modified and must not be modified after
// the call. A nil cfg means plaintext, as does a ctx without WithTLS.
func WithTLS(ctx context.Context, cfg *tls.Config) context.Context {
	return context.WithValue(ctx, tlsKey{}, cfg)
}

// tlsFrom is the TLS config WithTLS put in ctx, or nil.
func tlsFrom(ctx context.Context) *tls.Config {
	cfg, _ := ctx.Value(tlsKey{}).(*tls.Config)
	return cfg
}
