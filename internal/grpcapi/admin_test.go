package grpcapi

import (
	"context"
	"testing"

	"github.com/sutra/sutra-operator/internal/auth"
	"github.com/sutra/sutra-operator/internal/pb/adminpb"
)

type contactAdmin struct {
	Admin
	contacts int
}

func (a *contactAdmin) Contact()           { a.contacts++ }
func (a *contactAdmin) Status() NodeStatus { return NodeStatus{} }

// TestStatusCountsAsContactOnlyFromAdmins: a reader or a node polling a
// leader's status must not hold off its self-fencing.
func TestStatusCountsAsContactOnlyFromAdmins(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		contact bool
	}{
		{"no authentication", context.Background(), true},
		{"admin", auth.WithIdentity(context.Background(), auth.Identity{Kind: auth.Admin, Name: "op"}), true},
		{"reader", auth.WithIdentity(context.Background(), auth.Identity{Kind: auth.Reader, Name: "dash"}), false},
		{"node", auth.WithIdentity(context.Background(), auth.Identity{Kind: auth.Node, Name: "n2"}), false},
	} {
		a := &contactAdmin{}
		if _, err := (&AdminServer{Admin: a}).Status(tc.ctx, &adminpb.StatusRequest{}); err != nil {
			t.Fatal(err)
		}
		if got := a.contacts == 1; got != tc.contact {
			t.Errorf("%s: contact recorded %v, want %v", tc.name, got, tc.contact)
		}
	}
}
