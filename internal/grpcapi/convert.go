package grpcapi

import (
	"math"
	"time"

	"github.com/sutra/sutra-operator/internal/engine"
	"github.com/sutra/sutra-operator/internal/history"
	"github.com/sutra/sutra-operator/internal/pb/replicationpb"
	"github.com/sutra/sutra-operator/internal/pb/storagepb"
	"github.com/sutra/sutra-operator/internal/replication"
	"github.com/sutra/sutra-operator/internal/store"
	"github.com/sutra/sutra-operator/internal/wal"
)

func entryToPB(r *wal.Record) *replicationpb.WalEntry {
	e := &replicationpb.WalEntry{}
	fillEntryPB(e, r)
	return e
}

// fillEntryPB sets e's fields from r, so a batch can fill entries it
// allocated together.
func fillEntryPB(e *replicationpb.WalEntry, r *wal.Record) {
	e.Sequence, e.Timestamp, e.OperationData, e.Epoch, e.Crc32C, e.More = r.Seq, uint64(r.Time), r.Data, r.Epoch, r.CRC, r.More
}

func entryFromPB(e *replicationpb.WalEntry) wal.Record {
	return wal.Record{Seq: e.Sequence, Time: int64(e.Timestamp), Data: e.OperationData, Epoch: e.Epoch, More: e.More, CRC: e.Crc32C}
}

// HistoryToPB converts an epoch history for the wire.
func HistoryToPB(h history.History) []*replicationpb.EpochEntry {
	out := make([]*replicationpb.EpochEntry, len(h))
	for i, e := range h {
		out[i] = &replicationpb.EpochEntry{Epoch: e.Epoch, StartSequence: e.Start, Id: e.ID}
	}
	return out
}

// HistoryFromPB converts an epoch history from the wire.
func HistoryFromPB(es []*replicationpb.EpochEntry) history.History {
	out := make(history.History, len(es))
	for i, e := range es {
		out[i] = history.Entry{Epoch: e.GetEpoch(), Start: e.GetStartSequence(), ID: e.GetId()}
	}
	return out
}

func frameToPB(f *replication.Frame) *replicationpb.LeaderMessage {
	switch {
	case f.Hello != nil:
		h := f.Hello
		return &replicationpb.LeaderMessage{Kind: &replicationpb.LeaderMessage_Hello{Hello: &replicationpb.Hello{
			LeaderId: h.LeaderID, Epoch: h.Epoch, History: HistoryToPB(h.History), Diverged: h.Diverged, ForkSequence: h.Fork,
			AckDelayMicros: uint32(min(h.AckDelay.Microseconds(), math.MaxUint32))}}}
	case f.Snapshot != nil:
		c := f.Snapshot
		return &replicationpb.LeaderMessage{Kind: &replicationpb.LeaderMessage_Snapshot{Snapshot: &replicationpb.SnapshotChunk{
			Sequence: c.Seq, Epoch: c.Epoch, Offset: c.Offset, Data: c.Data, Last: c.Last, TotalSize: c.TotalSize, Crc32C: c.CRC}}}
	case len(f.Entries) > 0:
		b := &replicationpb.WalBatch{Entries: make([]*replicationpb.WalEntry, len(f.Entries)), LeaderSequence: f.LeaderSeq,
			CheckSequence: f.Check.Seq, CheckDigest: checkDigest(f.Check)}
		all := make([]replicationpb.WalEntry, len(f.Entries)) // one allocation for the batch
		for i := range f.Entries {
			fillEntryPB(&all[i], &f.Entries[i])
			b.Entries[i] = &all[i]
		}
		return &replicationpb.LeaderMessage{Kind: &replicationpb.LeaderMessage_Batch{Batch: b}}
	default:
		return &replicationpb.LeaderMessage{Kind: &replicationpb.LeaderMessage_Keepalive{Keepalive: &replicationpb.Keepalive{
			LeaderSequence: f.LeaderSeq, Timestamp: uint64(f.Time), CheckSequence: f.Check.Seq, CheckDigest: checkDigest(f.Check)}}}
	}
}

// frameEncoder converts one stream's frames for the wire, reusing a single
// message for its batches: the leader sends a small batch on every commit,
// and Send has encoded the message by the time it returns (see
// replication.Sender). Other frames are rare and converted afresh.
type frameEncoder struct {
	msg   replicationpb.LeaderMessage
	kind  replicationpb.LeaderMessage_Batch
	batch replicationpb.WalBatch
	ptrs  []*replicationpb.WalEntry
	all   []replicationpb.WalEntry
}

func (e *frameEncoder) toPB(f *replication.Frame) *replicationpb.LeaderMessage {
	if f.Hello != nil || f.Snapshot != nil || len(f.Entries) == 0 {
		return frameToPB(f)
	}
	n := len(f.Entries)
	if cap(e.all) < n {
		e.all, e.ptrs = make([]replicationpb.WalEntry, n), make([]*replicationpb.WalEntry, n)
		for i := range e.all {
			e.ptrs[i] = &e.all[i]
		}
	}
	for i := range f.Entries {
		fillEntryPB(&e.all[i], &f.Entries[i])
	}
	e.batch.Entries = e.ptrs[:n]
	e.batch.LeaderSequence, e.batch.CheckSequence, e.batch.CheckDigest = f.LeaderSeq, f.Check.Seq, checkDigest(f.Check)
	e.kind.Batch = &e.batch
	e.msg.Kind = &e.kind
	return &e.msg
}

func frameFromPB(m *replicationpb.LeaderMessage) *replication.Frame {
	switch k := m.Kind.(type) {
	case *replicationpb.LeaderMessage_Batch:
		f := &replication.Frame{LeaderSeq: k.Batch.GetLeaderSequence(), Entries: make([]wal.Record, len(k.Batch.GetEntries())),
			Check: checkpointFromPB(k.Batch.GetCheckSequence(), k.Batch.GetCheckDigest())}
		for i, e := range k.Batch.GetEntries() {
			f.Entries[i] = entryFromPB(e)
		}
		return f
	case *replicationpb.LeaderMessage_Snapshot:
		c := k.Snapshot
		return &replication.Frame{Snapshot: &replication.SnapshotChunk{Seq: c.GetSequence(), Epoch: c.GetEpoch(), Offset: c.GetOffset(),
			Data: c.GetData(), Last: c.GetLast(), TotalSize: c.GetTotalSize(), CRC: c.GetCrc32C()}}
	case *replicationpb.LeaderMessage_Keepalive:
		return &replication.Frame{LeaderSeq: k.Keepalive.GetLeaderSequence(), Time: int64(k.Keepalive.GetTimestamp()),
			Check: checkpointFromPB(k.Keepalive.GetCheckSequence(), k.Keepalive.GetCheckDigest())}
	case *replicationpb.LeaderMessage_Hello:
		h := k.Hello
		return &replication.Frame{Hello: &replication.Hello{LeaderID: h.GetLeaderId(), Epoch: h.GetEpoch(),
			History: HistoryFromPB(h.GetHistory()), Diverged: h.GetDiverged(), Fork: h.GetForkSequence(),
			AckDelay: time.Duration(h.GetAckDelayMicros()) * time.Microsecond}}
	default:
		return &replication.Frame{}
	}
}

func checkDigest(c engine.Checkpoint) []byte {
	if c.Seq == 0 {
		return nil
	}
	return c.Digest[:]
}

// checkpointFromPB reads a digest checkpoint; a malformed digest counts as
// none (it can then never verify or fail).
func checkpointFromPB(seq uint64, digest []byte) engine.Checkpoint {
	var c engine.Checkpoint
	if seq == 0 || len(digest) != len(c.Digest) {
		return c
	}
	c.Seq = seq
	copy(c.Digest[:], digest)
	return c
}

// AckToPB converts a replica's progress report for the wire.
func AckToPB(a replication.Ack) *replicationpb.ReplicaAck {
	return &replicationpb.ReplicaAck{AppliedSequence: a.Applied, DurableSequence: a.Durable, VerifiedSequence: a.Verified,
		MismatchSequence: a.Mismatch.Seq, MismatchDigest: checkDigest(a.Mismatch), HeldMicros: micros(a.Held),
		DurableHeldMicros: micros(a.DurableHeld)}
}

func micros(d time.Duration) uint64 { return uint64(max(0, d.Microseconds())) }

// maxAckHeld caps the hold an ack reports: a replica holds acks for
// milliseconds, and a larger figure would only distort replay and flush
// lag.
const maxAckHeld = time.Minute

func heldFromPB(us uint64) time.Duration {
	return time.Duration(min(us, uint64(maxAckHeld/time.Microsecond))) * time.Microsecond
}

// AckFromPB converts a replica's progress report from the wire.
func AckFromPB(a *replicationpb.ReplicaAck) replication.Ack {
	return replication.Ack{Applied: a.GetAppliedSequence(), Durable: a.GetDurableSequence(), Verified: a.GetVerifiedSequence(),
		Mismatch: checkpointFromPB(a.GetMismatchSequence(), a.GetMismatchDigest()),
		Held:     heldFromPB(a.GetHeldMicros()), DurableHeld: heldFromPB(a.GetDurableHeldMicros())}
}

func startFromPB(r *replicationpb.WalStreamRequest) replication.Start {
	return replication.Start{StartSeq: r.GetStartSequence(), ReplicaID: r.GetReplicaId(), ClusterID: r.GetClusterId(),
		Epoch: r.GetEpoch(), Address: r.GetAdvertiseAddress(), MaxBatchBytes: int(r.GetMaxBatchBytes()),
		History: HistoryFromPB(r.GetHistory()), LastEpoch: r.GetLastEpoch(), LastCRC: r.GetLastCrc32C(),
		Incarnation: r.GetIncarnation()}
}

func startToPB(s replication.Start) *replicationpb.WalStreamRequest {
	return &replicationpb.WalStreamRequest{StartSequence: s.StartSeq, ReplicaId: s.ReplicaID, ClusterId: s.ClusterID,
		Epoch: s.Epoch, AdvertiseAddress: s.Address, MaxBatchBytes: uint32(s.MaxBatchBytes),
		History: HistoryToPB(s.History), LastEpoch: s.LastEpoch, LastCrc32C: s.LastCRC,
		Incarnation: s.Incarnation}
}

func replicaToPB(r *replication.ReplicaStatus) *replicationpb.ReplicaInfo {
	var hb uint64
	if !r.LastHeartbeat.IsZero() {
		hb = uint64(r.LastHeartbeat.UnixMilli())
	}
	return &replicationpb.ReplicaInfo{Id: r.ID, Lag: r.LagMs, Healthy: r.Healthy, LastAppliedSequence: r.Applied,
		LagEntries: r.LagEntries, LagMs: r.LagMs, LastHeartbeat: hb, State: string(r.State), Address: r.Address,
		BytesStreamed: r.BytesStreamed, EntriesStreamed: r.EntriesStreamed, Reconnects: r.Reconnects,
		LastError: r.LastError, DurableSequence: r.Durable, SyncState: r.SyncState, ForkSequence: r.Fork, VerifiedSequence: r.Verified,
		SentSequence: r.Sent, FlushLagMs: r.FlushLagMs}
}

func idFromPB(b []byte, field string) (store.ConceptID, error) {
	id, err := store.ConceptIDFromBytes(b)
	if err != nil {
		return id, fieldErr(field, err)
	}
	return id, nil
}

type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.field + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

func fieldErr(field string, err error) error { return &fieldError{field: field, err: err} }

func conceptFromPB(c *storagepb.Concept) (store.Op, error) {
	if c == nil {
		return store.Op{}, fieldErr("concept", store.ErrBadOp)
	}
	id, err := idFromPB(c.GetId(), "concept.id")
	if err != nil {
		return store.Op{}, err
	}
	return store.Op{Type: store.OpWriteConcept, Concept: store.Concept{ID: id, Content: c.GetContent(),
		Embedding: c.GetEmbedding(), Strength: c.GetStrength(), Confidence: c.GetConfidence()}}, nil
}

func deleteFromPB(id []byte, field string) (store.Op, error) {
	cid, err := idFromPB(id, field)
	return store.Op{Type: store.OpDeleteConcept, ID: cid}, err
}

func conceptToPB(c *store.Concept) *storagepb.Concept {
	return &storagepb.Concept{Id: c.ID[:], Content: c.Content, Embedding: c.Embedding, Strength: c.Strength,
		Confidence: c.Confidence, CreatedUnixNanos: c.Created, UpdatedUnixNanos: c.Updated}
}

func associationFromPB(a *storagepb.Association) (store.Op, error) {
	if a == nil {
		return store.Op{}, fieldErr("association", store.ErrBadOp)
	}
	src, err := idFromPB(a.GetSource(), "association.source")
	if err != nil {
		return store.Op{}, err
	}
	dst, err := idFromPB(a.GetTarget(), "association.target")
	if err != nil {
		return store.Op{}, err
	}
	return store.Op{Type: store.OpWriteAssociation, Association: store.Association{Source: src, Target: dst,
		Type: store.AssocType(a.GetType()), Strength: a.GetStrength()}}, nil
}

func associationToPB(a *store.Association) *storagepb.Association {
	return &storagepb.Association{Source: a.Source[:], Target: a.Target[:], Type: uint32(a.Type), Strength: a.Strength}
}
