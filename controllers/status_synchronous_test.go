package controllers

import (
	"errors"
	"testing"

	sutrav1 "github.com/sutra/sutra-operator/api/v1alpha1"
)

func TestSynchronousStatus(t *testing.T) {
	rows := []sutrav1.ReplicaStatus{
		{Name: "s-2", State: "streaming", SyncState: "sync"},
		{Name: "s-3", State: "catchup", SyncState: "async"},
		{Name: "s-4", State: "streaming", SyncState: "sync"},
		{Name: "s-5", State: StateMissing},
	}
	tests := []struct {
		name string
		sync *sutrav1.SynchronousSpec
		rows []sutrav1.ReplicaStatus
		want *sutrav1.SynchronousStatus
	}{
		{name: "asynchronous", rows: rows},
		{name: "required by default", sync: &sutrav1.SynchronousSpec{Replicas: 3}, rows: rows,
			want: &sutrav1.SynchronousStatus{Replicas: 3, DataDurability: sutrav1.DataDurabilityRequired, SyncReplicas: 2}},
		{name: "preferred", sync: &sutrav1.SynchronousSpec{Replicas: 1, DataDurability: sutrav1.DataDurabilityPreferred}, rows: rows,
			want: &sutrav1.SynchronousStatus{Replicas: 1, DataDurability: sutrav1.DataDurabilityPreferred, SyncReplicas: 2}},
		{name: "table never read", sync: &sutrav1.SynchronousSpec{Replicas: 1},
			want: &sutrav1.SynchronousStatus{Replicas: 1, DataDurability: sutrav1.DataDurabilityRequired}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testCluster(4, "")
			c.Spec.Replication.Synchronous = tc.sync
			got := synchronousStatus(c, tc.rows)
			switch {
			case tc.want == nil && got != nil:
				t.Errorf("synchronous = %+v, want absent", *got)
			case tc.want != nil && (got == nil || *got != *tc.want):
				t.Errorf("synchronous = %+v, want %+v", got, *tc.want)
			}
		})
	}
}

// computeStatus counts the rows of the table it just read, and keeps the
// last known count when the leader cannot be reached.
func TestComputeStatusSynchronous(t *testing.T) {
	c := testCluster(2, "")
	c.Spec.Replication.Synchronous = &sutrav1.SynchronousSpec{Replicas: 1}
	syncRow := streaming("s-2", 0)
	syncRow.SyncState = "sync"
	async := streaming("s-3", 0)
	async.SyncState = "async"
	st := computeStatus(withReplication(podScope(c, nil), snap(syncRow, async), nil))
	want := sutrav1.SynchronousStatus{Replicas: 1, DataDurability: sutrav1.DataDurabilityRequired, SyncReplicas: 1}
	if st.Synchronous == nil || *st.Synchronous != want {
		t.Fatalf("synchronous = %+v, want %+v", st.Synchronous, want)
	}

	c.Status = *st
	if got := computeStatus(withReplication(podScope(c, nil), nil, errors.New("connection refused"))).Synchronous; got == nil || *got != want {
		t.Errorf("leader unreachable: synchronous = %+v, want the last known %+v", got, want)
	}
}
