package grpcapi

import (
	"testing"

	"github.com/sutra/sutra-operator/internal/replication"
	"github.com/sutra/sutra-operator/internal/wal"
)

// TestEntryCarriesMore: the More flag crosses the wire as stored, and the
// carried CRC still verifies on the replica's side.
func TestEntryCarriesMore(t *testing.T) {
	recs := []wal.Record{
		{Seq: 7, Epoch: 3, More: true, Time: -1, Data: []byte("a")},
		{Seq: 8, Epoch: 3, More: false, Time: 2, Data: []byte("b")},
	}
	for i := range recs {
		r := &recs[i]
		r.CRC = wal.Checksum(r.Seq, r.Epoch, r.More, r.Time, r.Data)
	}
	got := frameFromPB(frameToPB(&replication.Frame{Entries: recs, LeaderSeq: 8}))
	if len(got.Entries) != 2 {
		t.Fatalf("%d entries", len(got.Entries))
	}
	for i, r := range got.Entries {
		w := recs[i]
		if r.Seq != w.Seq || r.Epoch != w.Epoch || r.More != w.More || r.Time != w.Time || r.CRC != w.CRC || string(r.Data) != string(w.Data) {
			t.Fatalf("entry %d: got %+v, want %+v", i, r, w)
		}
		if wal.Checksum(r.Seq, r.Epoch, r.More, r.Time, r.Data) != r.CRC {
			t.Fatalf("entry %d: CRC does not verify after the wire", i)
		}
	}
}
