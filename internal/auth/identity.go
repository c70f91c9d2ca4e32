package auth

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/url"
	"strings"
)

// Kind is what an identity is.
type Kind string

// Kinds of identity.
const (
	Node   Kind = "node"
	Admin  Kind = "admin"
	Writer Kind = "writer"
	Reader Kind = "reader"
)

// uriPrefix starts every identity URI.
const uriPrefix = "urn:sutra:"

// Identity is an authenticated caller.
type Identity struct {
	Kind Kind
	Name string
	// Via says how it was authenticated: "certificate" or "token".
	Via string
}

// String is the identity as its URI, e.g. urn:sutra:node:sutra-0.
func (id Identity) String() string { return URI(id.Kind, id.Name) }

// URI is the subject alternative name that identifies kind and name.
func URI(kind Kind, name string) string { return uriPrefix + string(kind) + ":" + name }

// ParseURI reads an identity URI.
func ParseURI(s string) (Identity, error) {
	rest, ok := strings.CutPrefix(s, uriPrefix)
	if !ok {
		return Identity{}, fmt.Errorf("%q is not a sutra identity (want %s<kind>:<name>)", s, uriPrefix)
	}
	kind, name, ok := strings.Cut(rest, ":")
	if !ok || name == "" {
		return Identity{}, fmt.Errorf("%q has no name (want %s<kind>:<name>)", s, uriPrefix)
	}
	switch k := Kind(kind); k {
	case Node, Admin, Writer, Reader:
		return Identity{Kind: k, Name: name}, nil
	}
	return Identity{}, fmt.Errorf("%q: kind %q is not node, admin, writer or reader", s, kind)
}

// FromCertificate is the identity a verified client certificate carries:
// its one urn:sutra: URI SAN.
func FromCertificate(cert *x509.Certificate) (Identity, error) {
	var found []*url.URL
	for _, u := range cert.URIs {
		if strings.HasPrefix(u.String(), uriPrefix) {
			found = append(found, u)
		}
	}
	switch len(found) {
	case 0:
		return Identity{}, fmt.Errorf("certificate %q carries no %s URI SAN", cert.Subject.CommonName, uriPrefix)
	case 1:
	default:
		return Identity{}, fmt.Errorf("certificate %q carries %d %s URI SANs; it must carry one", cert.Subject.CommonName, len(found), uriPrefix)
	}
	id, err := ParseURI(found[0].String())
	if err != nil {
		return Identity{}, fmt.Errorf("certificate %q: %w", cert.Subject.CommonName, err)
	}
	id.Via = "certificate"
	return id, nil
}

type ctxKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext is the caller's identity. ok is false when the node runs
// without authentication (--insecure): then every call is allowed.
func FromContext(ctx context.Context) (id Identity, ok bool) {
	id, ok = ctx.Value(ctxKey{}).(Identity)
	return id, ok
}

// MayStreamAs says whether the caller may open a replication stream under
// replicaID. An empty replicaID is a tail: it takes no replica slot.
func (id Identity) MayStreamAs(replicaID string) error {
	switch {
	case id.Kind == Node && id.Name == replicaID:
		return nil
	case id.Kind == Node:
		return fmt.Errorf("%s may stream only as replica %q, not %q", id, id.Name, replicaID)
	case id.Kind == Admin && replicaID == "":
		return nil
	case id.Kind == Admin:
		return fmt.Errorf("%s may tail the log (no replica id) but not stream as replica %q", id, replicaID)
	}
	return fmt.Errorf("%s may not stream the log", id)
}

// MayLead says whether the caller may send heartbeats as leader leaderID.
func (id Identity) MayLead(leaderID string) error {
	if id.Kind == Node && id.Name == leaderID {
		return nil
	}
	return fmt.Errorf("%s may not send heartbeats for leader %q", id, leaderID)
}
