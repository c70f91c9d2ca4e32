// Package store is the in-memory concept/association store of a Sutra node:
// deterministic Apply of logged operations, concurrent reads, an
// incrementally maintained digest, and snapshot/restore. It uses the
// standard library only and knows nothing of the network, the log or
// Kubernetes.
//
// # Model
//
// A concept is an ID (16 bytes), content bytes, an optional float32
// embedding, strength, confidence, and Created/Updated times. An association
// is a directed edge (Source, Target, Type) with a strength; both ends must
// exist and differ. Ops change the state; each carries the leader's
// timestamp, so applying the same ops in the same order yields the same
// state, digest and snapshot bytes on every node. Apply documents the exact
// semantics, including which failures leave LastApplied unchanged.
//
// All integers below are little endian; floats are IEEE-754 binary32 bit
// patterns stored as uint32; IDs are 16 raw bytes.
//
// # Op encoding
//
// Op.AppendBinary and DecodeOp use this layout. There is no length prefix:
// the framing (the WAL record) gives the length, and DecodeOp insists the
// buffer holds exactly one op. New kinds of change get new type values;
// existing layouts never change.
//
//	offset size field
//	0      1    type: 1 write-concept, 2 write-association, 3 delete-concept
//	1      8    time: unix nanoseconds, signed (Op.Time)
//	9      ...  payload, by type
//
// Write-concept payload (41+C+4D bytes in all):
//
//	9      16   concept ID
//	25     4    strength
//	29     4    confidence
//	33     4    C, content length in bytes
//	37     4    D, embedding dimensions (0: no embedding)
//	41     C    content
//	41+C   4D   embedding, D floats
//
// Write-association payload (49 bytes in all):
//
//	9      16   source ID
//	25     16   target ID
//	41     4    association type
//	45     4    strength
//
// Delete-concept payload (25 bytes in all):
//
//	9      16   concept ID
//
// # Snapshot file
//
// WriteSnapshot produces four sections, each followed by the CRC-32C
// (Castagnoli) of that section's bytes, the CRC itself not included:
//
//	header (40 bytes), CRC
//	N concept records, CRC
//	M association records (40 bytes each), CRC
//	trailer (32 bytes), CRC
//
// and then the input must end. The header:
//
//	offset size field
//	0      8    magic "SUTRASNP"
//	8      4    format version, 1
//	12     4    reserved, 0
//	16     8    sequence: LastApplied of the store
//	24     8    N, number of concepts
//	32     8    M, number of associations
//	40     4    CRC-32C of bytes 0..39
//
// A concept record (48+C+4D bytes), records sorted by ID ascending
// (bytewise), IDs unique:
//
//	0      16   concept ID
//	16     8    created, unix nanoseconds, signed
//	24     8    updated, unix nanoseconds, signed
//	32     4    strength
//	36     4    confidence
//	40     4    C, content length in bytes
//	44     4    D, embedding dimensions
//	48     C    content
//	48+C   4D   embedding, D floats
//
// Bytes 16 onwards of a concept record are also exactly how the store holds
// the concept in memory (an immutable run of bytes in its shard's arena),
// so snapshots copy records without re-encoding them.
//
// An association record, sorted by (source, target, type) ascending, keys
// unique, both ends present among the concepts and different:
//
//	0      16   source ID
//	16     16   target ID
//	32     4    association type
//	36     4    strength
//
// The trailer is the Digest of the content. ReadSnapshot recomputes it from
// the records and refuses the file if it differs.
//
// # Digest
//
// Each concept and association has an item hash:
//
//	concept:     SHA-256(0x01 || concept record)
//	association: SHA-256(0x02 || association record)
//
// using the snapshot record layouts above. Split each 32-byte hash into four
// little-endian uint64 lanes; the Digest's lane i is the sum, modulo 2^64,
// of lane i of every item hash, written back as four little-endian uint64.
// The empty store's Digest is all zeros. Sums commute, so the Digest depends
// only on the set of items, never on the order of ops; and because an item
// hash covers every field, including Created/Updated and the exact float
// bits, any difference in content changes it except with negligible
// probability. The store adds an item's hash when it appears and subtracts
// it when it is replaced or removed, so reading the Digest is O(1). It does
// not include LastApplied.
//
// # Memory and concurrency
//
// A concept costs one map slot (its 16-byte ID and the 8-byte location of
// its record) and its record, 32 bytes of header and the content, 8-byte
// aligned, in its shard's arena of append-only chunks: 180-200 bytes for
// 100 bytes of content, depending on where the maps are in their growth
// (BenchmarkConceptHeap). A new chunk holds at most a sixteenth of what its
// shard holds (4-64 KiB), so the unused end of each shard's open chunk
// stays small; a record over 8 KiB gets a chunk of its own.
// Neither the maps nor the chunks hold pointers, so the garbage collector
// does not trace the concepts; replaced and deleted records are dead space
// until it exceeds half the live records and the shard is compacted (see
// arena.go). An association
// costs 24 bytes in its source's adjacency list and 16 in its target's
// reverse index, plus map slots for concepts that have any.
//
// Records and adjacency lists are immutable once stored, so readers copy
// them after releasing the lock. The maps are split into 256 shards; a
// snapshot freezes all shards in O(256) under the write lock, copies their
// entries without a lock while writes clone any shard they touch, then
// sorts and encodes with no lock at all. Writes therefore never wait for
// the size of the store.
package store
