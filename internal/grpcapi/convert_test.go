package grpcapi

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sutra/sutra-operator/internal/engine"
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

// TestFrameEncoderReusesItsBatch: a stream's encoder gives the message
// frameToPB gives for every frame, whatever the frames before it held.
func TestFrameEncoderReusesItsBatch(t *testing.T) {
	rec := func(seq uint64, data string) wal.Record {
		return wal.Record{Seq: seq, Epoch: 2, Time: int64(seq), Data: []byte(data), CRC: uint32(seq)}
	}
	var check engine.Checkpoint
	check.Seq, check.Digest[0] = 4, 0xab
	frames := []*replication.Frame{
		{Entries: []wal.Record{rec(1, "a"), rec(2, "bb"), rec(3, "ccc")}, LeaderSeq: 3},
		{Entries: []wal.Record{rec(4, "d")}, LeaderSeq: 9, Check: check},
		{LeaderSeq: 9, Time: 77},
		{Entries: []wal.Record{rec(5, "e"), rec(6, ""), rec(7, "g"), rec(8, "h"), rec(9, "i")}, LeaderSeq: 9},
		{Entries: []wal.Record{rec(10, "j")}, LeaderSeq: 10},
	}
	var enc frameEncoder
	for i, f := range frames {
		got, want := enc.toPB(f), frameToPB(f)
		if !proto.Equal(got, want) {
			t.Fatalf("frame %d: encoder gives %v, want %v", i, got, want)
		}
	}
}

// An ack's holds cross the wire in microseconds, negative ones as 0 and
// absurd ones capped, and a replica row carries its three positions and
// both lags.
func TestAckAndReplicaRowOnTheWire(t *testing.T) {
	tests := []struct {
		held, durableHeld         time.Duration
		wantHeld, wantDurableHeld time.Duration
	}{
		{held: 3 * time.Millisecond, durableHeld: 1500 * time.Microsecond, wantHeld: 3 * time.Millisecond, wantDurableHeld: 1500 * time.Microsecond},
		{held: -time.Second, durableHeld: -1, wantHeld: 0, wantDurableHeld: 0},
		{held: time.Hour, durableHeld: 2 * time.Hour, wantHeld: maxAckHeld, wantDurableHeld: maxAckHeld},
	}
	for _, tt := range tests {
		in := replication.Ack{Applied: 9, Durable: 7, Verified: 5, Held: tt.held, DurableHeld: tt.durableHeld}
		got := AckFromPB(AckToPB(in))
		if got.Applied != 9 || got.Durable != 7 || got.Verified != 5 || got.Held != tt.wantHeld || got.DurableHeld != tt.wantDurableHeld {
			t.Errorf("ack %+v came back as %+v, want holds %v and %v", in, got, tt.wantHeld, tt.wantDurableHeld)
		}
	}
	row := replicaToPB(&replication.ReplicaStatus{ID: "r1", Sent: 12, Applied: 10, Durable: 8, LagMs: 4, FlushLagMs: 6})
	if row.GetSentSequence() != 12 || row.GetLastAppliedSequence() != 10 || row.GetDurableSequence() != 8 ||
		row.GetLagMs() != 4 || row.GetFlushLagMs() != 6 {
		t.Errorf("replica row on the wire: %v", row)
	}
}
