package grpcapi

import (
	"context"
	"log/slog"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/sutra/sutra-operator/internal/auth"
)

// Security is how a server authenticates callers. A nil *Security serves
// plaintext and lets every call through (--insecure).
type Security struct {
	TLS    *auth.Source // required
	Tokens *auth.Tokens // optional: bearer tokens
	Log    *slog.Logger
	// Refused, if set, is told of every call refused (UNAUTHENTICATED or
	// PERMISSION_DENIED), by method.
	Refused func(method string, code codes.Code)
}

// authenticate finds the caller of method and checks the policy; the
// returned context carries the identity for the handlers' own checks.
func (s *Security) authenticate(ctx context.Context, method string) (context.Context, error) {
	need := auth.Needs(method)
	if need == auth.None {
		return ctx, nil
	}
	id, err := s.identify(ctx)
	if err == nil && !id.Kind.Holds(need) {
		err = status.Errorf(codes.PermissionDenied, "%s (by %s) may not call %s: it needs %s permission", id, id.Via, method, need)
	}
	if err != nil {
		from := "unknown"
		if p, ok := peer.FromContext(ctx); ok {
			from = p.Addr.String()
		}
		s.Log.Warn("call refused", "method", method, "from", from, "err", status.Convert(err).Message())
		s.refused(method, status.Code(err))
		return nil, err
	}
	return auth.WithIdentity(ctx, id), nil
}

// identify reads the verified client certificate, or else the bearer token.
func (s *Security) identify(ctx context.Context) (auth.Identity, error) {
	if p, ok := peer.FromContext(ctx); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 {
			id, err := auth.FromCertificate(ti.State.VerifiedChains[0][0])
			if err != nil {
				return auth.Identity{}, status.Error(codes.Unauthenticated, err.Error())
			}
			return id, nil
		}
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("authorization"); len(v) > 0 {
		token, ok := strings.CutPrefix(v[0], "Bearer ")
		switch {
		case !ok:
			return auth.Identity{}, status.Error(codes.Unauthenticated, `the authorization header must be "Bearer <token>"`)
		case s.Tokens == nil:
			return auth.Identity{}, status.Error(codes.Unauthenticated, "this node accepts no bearer tokens (no SUTRA_AUTH_TOKENS_FILE): use a client certificate")
		}
		if id, ok := s.Tokens.Lookup(token); ok {
			return id, nil
		}
		return auth.Identity{}, status.Error(codes.Unauthenticated, "bearer token not recognised")
	}
	return auth.Identity{}, status.Error(codes.Unauthenticated, "no client certificate signed by the cluster's CA and no bearer token")
}

func (s *Security) unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		ctx, err := s.authenticate(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
}

func (s *Security) stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		ctx, err := s.authenticate(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return h(srv, &identifiedStream{ServerStream: ss, ctx: ctx})
	}
}

type identifiedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *identifiedStream) Context() context.Context { return s.ctx }

func (s *Security) refused(method string, code codes.Code) {
	if s != nil && s.Refused != nil {
		s.Refused(method, code)
	}
}

// mayStreamAs refuses a replication stream whose replica id is not the
// caller's own.
func mayStreamAs(ctx context.Context, replicaID string) error {
	if id, ok := auth.FromContext(ctx); ok {
		if err := id.MayStreamAs(replicaID); err != nil {
			return status.Error(codes.PermissionDenied, err.Error())
		}
	}
	return nil
}
