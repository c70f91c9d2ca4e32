package node

import (
	"errors"
	"testing"

	"github.com/sutra/sutra-operator/internal/replication"
)

func TestAdminDecisions(t *testing.T) {
	leader3 := roleView{role: RoleLeader, epoch: 3, self: "a:1"}
	replica3 := roleView{role: RoleReplica, epoch: 3, following: "b:1", minEpoch: 3, self: "a:1"}
	tests := []struct {
		name   string
		call   func() (bool, error)
		change bool
		err    error
	}{
		{"promote replica to a newer epoch", func() (bool, error) { return decidePromote(replica3, 4) }, true, nil},
		{"promote retried on the new leader", func() (bool, error) { return decidePromote(roleView{role: RoleLeader, epoch: 4}, 4) }, false, nil},
		{"late promote with an old epoch", func() (bool, error) { return decidePromote(replica3, 3) }, false, replication.ErrStaleEpoch},
		{"promote to an epoch older than a followed leader's", func() (bool, error) {
			return decidePromote(roleView{role: RoleReplica, epoch: 2, minEpoch: 5}, 4)
		}, false, replication.ErrStaleEpoch},
		{"promote without epoch", func() (bool, error) { return decidePromote(replica3, 0) }, false, replication.ErrBadRequest},
		{"old leader follows the new one", func() (bool, error) { return decideFollow(leader3, "b:1", 4) }, true, nil},
		{"follow retried", func() (bool, error) { return decideFollow(replica3, "b:1", 3) }, false, nil},
		{"replica follows a newer leader", func() (bool, error) { return decideFollow(replica3, "c:1", 4) }, true, nil},
		{"late follow of an older leader", func() (bool, error) { return decideFollow(replica3, "c:1", 2) }, false, replication.ErrStaleEpoch},
		{"leader told to follow its own epoch", func() (bool, error) { return decideFollow(leader3, "b:1", 3) }, false, replication.ErrStaleEpoch},
		{"follow itself", func() (bool, error) { return decideFollow(replica3, "a:1", 4) }, false, replication.ErrBadRequest},
		{"follow without address", func() (bool, error) { return decideFollow(replica3, "", 4) }, false, replication.ErrBadRequest},
		{"fence the leader", func() (bool, error) { return decideFence(leader3, 3) }, true, nil},
		{"fence from a caller that knows a newer epoch", func() (bool, error) { return decideFence(leader3, 5) }, true, nil},
		{"late fence of a newer leader", func() (bool, error) { return decideFence(leader3, 2) }, false, replication.ErrStaleEpoch},
		{"fence a replica", func() (bool, error) { return decideFence(replica3, 3) }, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			change, err := tc.call()
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || change != tc.change {
				t.Fatalf("= %v, %v; want %v, nil", change, err, tc.change)
			}
		})
	}
}
