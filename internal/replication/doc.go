// Package replication streams the leader's write-ahead log to replicas.
//
// It is transport-agnostic: it speaks in Frames and Acks and takes send and
// dial functions, so the gRPC adapter (internal/grpcapi) supplies the wire
// and tests can run it without sockets.
//
// # Protocol
//
// A replica opens a stream and sends Start{StartSeq: last durable + 1,
// ClusterID, ReplicaID, Epoch, History, LastEpoch, LastCRC}. The leader
// checks the cluster id (ErrClusterMismatch) and that the replica's epoch
// is not newer than its own (ErrStaleEpoch), then that the replica's log is
// a prefix of its own (matchLog): the two epoch histories must agree up to
// StartSeq-1 (history.ForkPoint), and when the leader still holds record
// StartSeq-1 its epoch and CRC must equal the replica's (Raft's
// log-matching check). It answers with a Hello carrying its epoch and
// history and the verdict. A replica whose log forked is refused with a
// DivergedError naming the fork point and shown as "diverged" in the
// table; nothing is streamed into it, and it keeps its records unless an
// admin Follow named this leader, in which case it sets the records past
// the fork aside (engine.Rewind) and reconnects. Otherwise the replica
// records the leader's history before it writes any entry, and:
//
//   - If StartSeq is still in the retained log, the leader serves it from
//     the segments and then follows the tail; no polling of the log.
//   - Otherwise the leader sends its newest snapshot in chunks
//     (Frame.Snapshot), the last chunk carrying the CRC-32C of the whole
//     file, and continues the stream at the snapshot's sequence + 1.
//
// Entries travel in batches of up to Options.MaxBatchBytes, flushed as soon
// as nothing more is durable, each entry with the CRC from the leader's log.
// The replica checks continuity (the first entry of a batch must be the
// next sequence it expects) and CRCs, queues the batch for its own log,
// applies it at once (engine.Replicated.Show: the leader streams only
// records it has made durable, so readers see nothing it could lose), and
// acks its applied and its durable sequence on the same stream once the
// log has synced the batch. Synchronous replication and retention count
// the durable sequence, lag the applied one.
// Receiving is pipelined with writing: one goroutine receives each batch,
// queues it for the local log's group commit and shows it to readers;
// another waits for the batches to be durable, in order, and acks whenever
// it is about to wait for the log or has nothing left (and at least every
// 20 ms while catching up). A batch is therefore visible as soon as it is
// received, never behind the local fsync of the batches before it. A
// checkpoint that does not match stops the receiver from showing more;
// batches it showed before the applier compared the checkpoint stay (they
// are the leader's durable records all the same). An asynchronous leader lets it hold acks for Hello.AckDelay
// (DefaultAckDelay, 5 ms) after the previous one, so one write at a time
// costs the leader one ack per replica per 5 ms instead of one per write;
// each ack says how long it was held, and replay lag leaves that out. A
// leader with synchronous replicas waits for acks and gets each at once.
// A replica that may hold acks also spaces its log's group commits by half
// the delay (wal.Log.SetSyncInterval): one sync per interval instead of
// one per leader commit; it reports durable only what is synced.
// Batches that arrive during an fsync share the next one, so a
// replica recovers from a slow disk moment in one sync, not one per batch;
// at most 64 batches are in flight. An idle stream carries a keepalive
// every Options.KeepaliveInterval so both ends notice a dead peer.
//
// # Status and lag
//
// The leader keeps one entry per replica: configured replicas (from the
// node's replica list) and every replica that has connected. Lag in entries
// is the leader's last sequence minus the replica's applied sequence. Lag
// in time is measured on the leader's clock only: the leader samples
// (sequence, time written) on every commit and reports how long ago the
// oldest entry the replica has not applied was written. A replica is
// healthy when it is streaming, has been heard from within
// Options.UnhealthyAfter, and lags less than Options.LagThreshold.
//
// # Isolation
//
// Every replica is served by its own goroutine with its own log reader and a
// bounded batch; flow control of the transport bounds what is in flight. A
// slow or dead replica therefore never blocks writers or other replicas.
//
// # Retention
//
// RetainFrom tells the engine the lowest sequence any known replica still
// needs, capped so that the log kept for replicas does not exceed
// Options.RetentionBytes; a replica cut off by the cap catches up from a
// snapshot.
package replication
