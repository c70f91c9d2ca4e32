package grpcapi

import (
	"context"
	"net"

	"google.golang.org/grpc/credentials"

	"github.com/sutra/sutra-operator/internal/auth"
)

// PeerCredentials are how a node dials its peers: TLS with its current
// certificate, verifying each peer against the current CA and the host it
// dialed (auth.Source.ClientConfig).
func PeerCredentials(src *auth.Source) credentials.TransportCredentials {
	return &peerCredentials{TransportCredentials: credentials.NewTLS(src.ClientConfig("")), src: src}
}

type peerCredentials struct {
	credentials.TransportCredentials // Info, ServerHandshake
	src                              *auth.Source
}

// ClientHandshake verifies the peer as the host of authority.
func (c *peerCredentials) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	host, _, err := net.SplitHostPort(authority)
	if err != nil {
		host = authority
	}
	return credentials.NewTLS(c.src.ClientConfig(host)).ClientHandshake(ctx, authority, conn)
}

func (c *peerCredentials) Clone() credentials.TransportCredentials {
	return &peerCredentials{TransportCredentials: c.TransportCredentials.Clone(), src: c.src}
}
