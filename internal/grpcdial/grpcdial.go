// Package grpcdial holds the gRPC connection settings every Sutra client
// shares with the nodes: message limits, flow-control windows, keepalive
// and reconnect pacing. It imports nothing of the node, so the Go client
// (package client) carries none of the server into its users' programs.
package grpcdial

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// MaxMessageBytes bounds any single request or response message.
const MaxMessageBytes = 16 << 20

// Keepalive settings shared by servers and clients, so that neither side
// closes the other for pinging too often.
const (
	KeepaliveTime    = 10 * time.Second
	KeepaliveTimeout = 5 * time.Second
)

// Flow-control windows of a stream and of a connection, on both ends.
const (
	StreamWindow = 4 << 20
	ConnWindow   = 16 << 20
)

// connectBackoff paces a connection's own reconnect attempts. gRPC's
// default (1s growing by 1.6 up to 120s) would leave a peer that came back
// unreached for up to two minutes; this caps the wait at the 5s a follower
// backs off at most (replication.FollowerOptions.MaxBackoff).
var connectBackoff = grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
	MinConnectTimeout: 5 * time.Second,
}

// Dial opens a client connection with the node's message limits, keepalive
// and reconnect settings. Connections are lazy: errors surface on first use.
// addr is resolved with gRPC's dns resolver. creds nil means plaintext;
// opts come after these and override them.
func Dial(addr string, creds credentials.TransportCredentials, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	return grpc.NewClient(addr, append([]grpc.DialOption{
		grpc.WithConnectParams(connectBackoff),
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)),
		grpc.WithInitialWindowSize(StreamWindow),
		grpc.WithInitialConnWindowSize(ConnWindow),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: KeepaliveTime, Timeout: KeepaliveTimeout, PermitWithoutStream: true}),
	}, opts...)...)
}

// tokenCredentials sends a bearer token with every call.
type tokenCredentials struct {
	token  string
	secure bool
}

// TokenCredentials returns per-call credentials that send token as a
// bearer token. Over plaintext (secure false) gRPC refuses to send it.
func TokenCredentials(token string, secure bool) credentials.PerRPCCredentials {
	return tokenCredentials{token: token, secure: secure}
}

func (t tokenCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + t.token}, nil
}

func (t tokenCredentials) RequireTransportSecurity() bool { return t.secure }
