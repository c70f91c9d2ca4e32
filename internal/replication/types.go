package replication

import (
	"errors"
	"fmt"
	"time"

	"github.com/sutra/sutra-operator/internal/engine"
	"github.com/sutra/sutra-operator/internal/history"
	"github.com/sutra/sutra-operator/internal/wal"
)

// Errors of the replication protocol. The transport maps them to status
// codes (internal/grpcapi).
var (
	ErrClusterMismatch = errors.New("replication: cluster id mismatch")
	ErrStaleEpoch      = errors.New("replication: peer has a newer epoch")
	ErrNotLeader       = errors.New("replication: this node is not the leader")
	ErrGap             = errors.New("replication: sequence gap in stream")
	ErrBadSnapshot     = errors.New("replication: snapshot transfer failed verification")
	ErrBadRequest      = errors.New("replication: malformed request")
	ErrDiverged        = errors.New("replication: log diverged from the leader's")
	ErrSyncTimeout     = errors.New("replication: synchronous replicas did not confirm the write")
	ErrFenced          = errors.New("replication: writes are fenced")
	ErrLeaderStopped   = errors.New("replication: the leader stopped serving streams")
	ErrDuplicateID     = errors.New("replication: replica id already streaming")
	ErrStreamReplaced  = errors.New("replication: replaced by a newer stream of the same replica")
)

// DuplicateIDError refuses a stream under a replica id that another live
// replica process already streams under. It wraps ErrDuplicateID.
type DuplicateIDError struct {
	Replica string
	Holder  string // address of the replica streaming under the id
}

func (e *DuplicateIDError) Error() string {
	return fmt.Sprintf("replica id %s is already streaming from %s; give each node its own SUTRA_NODE_ID", e.Replica, e.Holder)
}

func (e *DuplicateIDError) Unwrap() error { return ErrDuplicateID }

// stoppedError ends the streams of a leader that shuts down or steps down;
// it wraps ErrLeaderStopped. Its text is what replicas show.
type stoppedError struct {
	leader string
	why    string // "is shutting down", "is stepping down"
}

func (e *stoppedError) Error() string { return fmt.Sprintf("leader %s %s", e.leader, e.why) }

func (e *stoppedError) Unwrap() error { return ErrLeaderStopped }

// DivergedError says where a replica's log forked from its leader's. It
// wraps ErrDiverged.
type DivergedError struct {
	Replica string
	Fork    uint64 // highest sequence both logs share (for a state mismatch: the last verified checkpoint)
	Detail  string
	mine    engine.Checkpoint // the replica's own checkpoint, for a state mismatch
}

func (e *DivergedError) Error() string {
	return fmt.Sprintf("%v: replica %s fork=%d: %s", ErrDiverged, e.Replica, e.Fork, e.Detail)
}

func (e *DivergedError) Unwrap() error { return ErrDiverged }

// Start opens a stream: the replica asks for records from StartSeq.
type Start struct {
	StartSeq      uint64
	ReplicaID     string
	ClusterID     string
	Epoch         uint64
	Address       string // where the replica serves, for heartbeats
	MaxBatchBytes int
	// History is the replica's epoch history; LastEpoch and LastCRC
	// identify its record at StartSeq-1 (0: unknown).
	History   history.History
	LastEpoch uint64
	LastCRC   uint32
	// Incarnation is a random id the replica process drew when it
	// started (0: unknown, a seed-era replica). A stream under a replica
	// id already streaming replaces the old stream when it comes from the
	// same incarnation or address (a reconnect, a restart after kill -9),
	// and is refused with a DuplicateIDError when it comes from another
	// incarnation while the old stream is alive.
	Incarnation uint64
}

// Hello is the leader's first frame on a stream: its identity, and whether
// the replica's log is a prefix of its own.
type Hello struct {
	LeaderID string
	Epoch    uint64
	History  history.History
	Diverged bool
	Fork     uint64
	// AckDelay is how long the replica may hold an ack with progress to
	// report (0: ack at once). A leader with synchronous replicas sends 0.
	AckDelay time.Duration
}

// Ack reports a replica's progress on its stream.
type Ack struct {
	Applied uint64
	Durable uint64 // the last durable sequence that ends a write (engine.DurableSeq)
	// Verified is the newest checkpoint whose digest matched the leader's.
	Verified uint64
	// Mismatch, when its Seq is set, is the replica's own checkpoint that
	// differs from the leader's at the same sequence.
	Mismatch engine.Checkpoint
	// Held is how long the replica held the ack after it applied Applied.
	Held time.Duration
	// DurableHeld is how long the replica held the ack after its log made
	// Durable durable.
	DurableHeld time.Duration
}

// Frame is one leader-to-replica message: a batch of entries, a snapshot
// chunk, or a keepalive (neither).
type Frame struct {
	Entries   []wal.Record
	LeaderSeq uint64
	Time      int64 // leader clock, Unix nanoseconds, on keepalives
	Snapshot  *SnapshotChunk
	Hello     *Hello
	// Check is the leader's newest digest checkpoint (continuous
	// verification); its Seq is 0 when the frame carries none.
	Check engine.Checkpoint
}

// SnapshotChunk is a piece of a snapshot file being sent to a replica.
type SnapshotChunk struct {
	Seq       uint64 // last sequence the snapshot includes
	Epoch     uint64
	Offset    uint64
	Data      []byte
	Last      bool
	TotalSize uint64
	CRC       uint32 // CRC-32C of the whole file, on the last chunk
}

// Heartbeat is what the leader sends to a replica's Heartbeat endpoint.
type Heartbeat struct {
	LeaderID  string
	LeaderSeq uint64
	Time      int64 // leader clock, Unix nanoseconds
	ClusterID string
	Epoch     uint64
}

// HeartbeatReply is a replica's answer.
type HeartbeatReply struct {
	ReplicaID string
	Applied   uint64
	Durable   uint64
	Healthy   bool
	LagMs     uint64
	ClusterID string
}

// ReplicaState is where a replica's stream stands.
type ReplicaState string

const (
	StateConfigured   ReplicaState = "configured"   // listed, never connected
	StateCatchup      ReplicaState = "catchup"      // streaming from retained segments
	StateStreaming    ReplicaState = "streaming"    // caught up, following the tail
	StateSnapshot     ReplicaState = "snapshot"     // receiving a snapshot
	StateDisconnected ReplicaState = "disconnected" // was connected, stream ended
	StateDiverged     ReplicaState = "diverged"     // its log forked from the leader's
)

// Sync states of a replica in the leader's table.
const (
	SyncStateSync  = "sync"  // streaming under synchronous replication: its acks confirm writes
	SyncStateAsync = "async" // not counted for synchronous replication
)

// ReplicaStatus is one row of the leader's replication table.
type ReplicaStatus struct {
	ID      string
	Address string
	State   ReplicaState
	// Sent is the last sequence the leader sent on the replica's stream,
	// Applied the last the replica applied (its readers see it), Durable
	// the last its log made durable: PostgreSQL's sent, replay and flush
	// positions. A replica applies a batch on receipt, while its log
	// syncs it, so Durable trails Applied by up to a sync.
	Sent       uint64
	Applied    uint64
	Durable    uint64
	LagEntries uint64
	// LagMs is how long ago, on the leader's clock, the leader wrote the
	// oldest entry the replica has not applied (replay lag); FlushLagMs
	// the same for the oldest entry it has not made durable (flush lag).
	// Both are 0 when the replica is caught up.
	LagMs           uint64
	FlushLagMs      uint64
	Healthy         bool
	LastHeartbeat   time.Time // last time the replica was heard from (ack or heartbeat)
	BytesStreamed   uint64
	EntriesStreamed uint64
	Reconnects      uint64
	SnapshotsSent   uint64
	LastError       string
	SyncState       string
	Fork            uint64 // for a diverged replica, the highest sequence its log shares with the leader's
	Verified        uint64 // newest checkpoint at which the replica's digest matched the leader's
}

// Status is the leader's replication table.
type Status struct {
	LeaderSeq     uint64
	FirstRetained uint64
	Replicas      []ReplicaStatus
	MaxLagMs      uint64
}
