// Package engine is the core of a storage node without the network: it
// composes the write-ahead log (internal/wal) and the concept store
// (internal/store) into a durable, recoverable state machine.
//
// # Directory layout
//
//	<dir>/wal/                        segment files, see package wal
//	<dir>/snapshots/<seq>.snap        store snapshots named by the last
//	                                  sequence they include (20 digits)
//	<dir>/snapshots/<seq>.snap.tmp    a snapshot being written; ignored
//	<dir>/snapshots/<seq>.snap.damaged a snapshot that failed verification
//	                                  at start, moved aside; ignored
//	<dir>/history                     the log's epoch history (internal/history)
//	<dir>/diverged-<first>-<time>/    records Rewind set aside, as a log of
//	                                  their own (see package wal)
//
// # Write path (leader)
//
// Write validates every operation (size limits, NaN values, unknown types,
// association endpoints), stamps it with the leader's clock, appends it to
// the log and waits for the group commit, then applies it. Operations are
// applied strictly in sequence order, after they are durable, by whichever
// writer gets to the apply lock first, each write under one hold of the
// store's write lock (store.Update), so readers see a write whole or not at
// all; a write returns once its own operations are applied, so a reader
// that sees a write can never see it vanish after a crash. The records of one Write carry wal's More flag on
// all but the last, so the log keeps or drops the write whole across a
// crash (see package wal, "Writes and batches"). Begin is Write's first
// half, for a caller with many writes in flight (a pipelined stream): it
// queues the write and returns a Pending whose Wait is the rest. Settle
// waits until every write queued so far is durable and applied, which is
// how a role change or fence knows none is left in flight.
//
// # Apply path (replica)
//
// ApplyReplicated takes records that already carry sequences and CRCs from
// the leader, checks them (decodable operations, consecutive sequences, CRC),
// makes them durable in the local log and applies them the same way.
// BeginReplicated is its first half: it queues a batch for the next group
// commit and returns, so a replica can receive more while the log syncs;
// Replicated.Wait makes the batch durable and applied. Replicated.Show
// applies it before the local log has synced it: the leader streams only
// records it has made durable, so a replica's readers see nothing the
// leader could lose, and a replica that crashes first recovers to its
// durable position and streams the rest again. AppliedSeq may then run
// ahead of DurableSeq (what a replica acks as durable, and what failover
// compares) until the log catches up. The leader's frames may split a
// write: its first records then wait in the queue, unapplied, until the
// batch holding its last record arrives (Show) or is durable (Wait).
// AppliedSeq and DurableSeq are always the end of a write.
//
// # Epochs
//
// The engine keeps the log's epoch history (internal/history) and stamps
// writes with its newest epoch. BeginEpoch starts an epoch at the next
// sequence, as a node does when it becomes leader; AdoptHistory records a
// leader's history on a replica whose log is a prefix of that leader's;
// Rewind discards a divergent suffix, setting its records aside, and
// rebuilds the state at the fork point from a snapshot and the log, or
// starts empty when they cannot. The store's digest is noted at the end of
// every write that holds a multiple of Options.VerifyEvery (verify.go), for
// continuous verification against the leader.
//
// # Recovery
//
// Open opens the log, then tries the snapshots newest first. One that fails
// verification (checksum, decoding, or a sequence that contradicts its file
// name) is skipped with a warning naming the file and the reason, and the
// next older one is tried; with none left, the empty store. The state found
// this way is used only if the log holds every record after it, up to the
// sequence of the newest skipped snapshot, so nothing a damaged snapshot
// covered is lost; otherwise Open fails with ErrLogGap, naming every damaged
// file and the missing records. After a successful recovery the log is
// replayed from the state's sequence + 1 and damaged snapshots are renamed
// to <name>.damaged, kept for analysis but no longer counted as snapshots.
// A log that ends below its durable high-water mark is refused
// (wal.ErrLost) unless Options.WAL.AcceptLoss; Recovery.Lost reports the
// accepted count.
//
// # Checkpoints
//
// Checkpoint writes a snapshot, prunes all but the two newest snapshots and
// truncates the front of the log. A snapshot is published only once the
// log has made its sequence durable (a replica applies ahead of its log).
// Truncation keeps the log back to the older retained snapshot's
// sequence + 1 (the whole log while there is only one snapshot), so
// recovery can fall back to it if the newest is damaged, and further back
// to Options.Retain(), so a lagging replica can still be served from the
// log. The log therefore holds about two checkpoint
// intervals. Checkpoints run automatically when the log has grown by
// Options.CheckpointBytes since the last one.
package engine
