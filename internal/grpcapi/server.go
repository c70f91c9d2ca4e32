package grpcapi

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/sutra/sutra-operator/internal/grpcdial"
	"github.com/sutra/sutra-operator/internal/pb/adminpb"
	"github.com/sutra/sutra-operator/internal/pb/replicationpb"
	"github.com/sutra/sutra-operator/internal/pb/storagepb"
)

// MaxMessageBytes bounds any single request or response message.
const MaxMessageBytes = grpcdial.MaxMessageBytes

// streamWorkers is the number of long-lived goroutines that handle
// incoming calls. A call handled on a fresh goroutine grows its stack from
// the minimum through gRPC's deep receive path, and copying stacks cost the
// leader about a seventh of its CPU under load; workers keep their grown
// stacks. Calls beyond this many in flight still get their own goroutine.
const streamWorkers = 256

// Server bundles a gRPC server with its health service.
type Server struct {
	*grpc.Server
	Health *health.Server
}

// Observer is told the outcome and duration of every unary call.
type Observer func(method string, code codes.Code, seconds float64)

// NewServer builds the node's gRPC server: both services, the standard
// health service, reflection, message limits, keepalive, panic recovery
// and, when observe is set, per-call metrics. sec, when not nil, serves
// TLS and authenticates every call (see internal/auth for the policy).
func NewServer(repl *ReplicationServer, stor *StorageServer, admin *AdminServer, sec *Security, log *slog.Logger, observe Observer) *Server {
	unary := []grpc.UnaryServerInterceptor{observeUnary(observe), recoverUnary(log)}
	stream := []grpc.StreamServerInterceptor{recoverStream(log)}
	var creds []grpc.ServerOption
	if sec != nil {
		unary = append(unary, sec.unary())
		stream = append(stream, sec.stream())
		creds = append(creds, grpc.Creds(credentials.NewTLS(sec.TLS.ServerConfig())))
	}
	s := grpc.NewServer(append(creds,
		grpc.MaxRecvMsgSize(MaxMessageBytes),
		grpc.MaxSendMsgSize(MaxMessageBytes),
		grpc.InitialWindowSize(grpcdial.StreamWindow),
		grpc.InitialConnWindowSize(grpcdial.ConnWindow),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: grpcdial.KeepaliveTime, Timeout: grpcdial.KeepaliveTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: grpcdial.KeepaliveTime / 2, PermitWithoutStream: true}),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		grpc.NumStreamWorkers(streamWorkers),
	)...)
	replicationpb.RegisterReplicationServiceServer(s, repl)
	storagepb.RegisterStorageServiceServer(s, stor)
	adminpb.RegisterAdminServiceServer(s, admin)
	h := health.NewServer()
	healthpb.RegisterHealthServer(s, h)
	reflection.Register(s)
	return &Server{Server: s, Health: h}
}

// SetServing flips the overall and per-service health status.
func (s *Server) SetServing(ok bool) {
	st := healthpb.HealthCheckResponse_SERVING
	if !ok {
		st = healthpb.HealthCheckResponse_NOT_SERVING
	}
	for _, svc := range []string{"", replicationpb.ReplicationService_ServiceDesc.ServiceName, storagepb.StorageService_ServiceDesc.ServiceName,
		adminpb.AdminService_ServiceDesc.ServiceName} {
		s.Health.SetServingStatus(svc, st)
	}
}

// Shutdown reports NOT_SERVING, drains in-flight calls for up to grace, then
// stops hard.
func (s *Server) Shutdown(grace time.Duration) {
	s.SetServing(false)
	done := make(chan struct{})
	go func() { s.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		s.Stop()
	}
}

func recoverUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				log.Error("grpc: panic", "method", info.FullMethod, "panic", p, "stack", string(debug.Stack()))
				err = status.Errorf(codes.Internal, "internal error in %s", info.FullMethod)
			}
		}()
		return h(ctx, req)
	}
}

func recoverStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
		defer func() {
			if p := recover(); p != nil {
				log.Error("grpc: panic", "method", info.FullMethod, "panic", p, "stack", string(debug.Stack()))
				err = status.Errorf(codes.Internal, "internal error in %s", info.FullMethod)
			}
		}()
		return h(srv, ss)
	}
}

func observeUnary(observe Observer) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if observe == nil {
			return h(ctx, req)
		}
		start := time.Now()
		resp, err := h(ctx, req)
		observe(info.FullMethod, status.Code(err), time.Since(start).Seconds())
		return resp, err
	}
}
