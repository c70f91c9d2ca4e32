// Package wal implements Sutra's segmented write-ahead log.
//
// The log is an ordered sequence of records numbered by a 64-bit sequence
// that starts at 1 and grows by exactly one per record: there are never gaps.
// Records are stored in segment files in one directory. The package uses the
// standard library only; it knows nothing of the network or of what a record
// means.
//
// # Files
//
// A segment is named by the sequence of its first record, as twenty decimal
// digits, with the suffix ".wal": 00000000000000000001.wal holds sequences
// 1, 2, ... up to the record before the next segment's first sequence. The
// newest segment is the active one; appends go to it until it reaches
// Options.SegmentSize, then a new segment is started at the next sequence.
// Bytes cut from a damaged tail on open are kept beside the log as
// <segment>.torn-<offset> so that nothing is thrown away silently.
//
// Segments are preallocated: a background goroutine prepares the next one
// as next-segment-<n>.tmp, filled with zeros to Options.SegmentSize and
// synced; at a roll it gets its header, is synced and renamed. Records then
// overwrite allocated blocks, so a group commit's fdatasync has no file-size
// change to journal. A segment therefore usually ends in zeros after its
// last record; zeros are never a valid record (a zero length with a zero
// CRC), so the end of the records is unambiguous. Leftover .tmp spares are
// removed on open.
//
// # Segment layout
//
// Every segment starts with a 16-byte header, followed by records back to
// back. All integers are little endian.
//
//	offset size field
//	0      4    magic "SWAL"
//	4      2    format version (1)
//	6      2    reserved, zero
//	8      8    sequence of the first record in this segment
//
// # Record layout
//
//	offset size field
//	0      4    length L of the payload in bytes (at most MaxRecordSize)
//	4      4    CRC-32C (Castagnoli) of bytes 8 .. 32+L of this record
//	8      8    sequence
//	16     8    epoch: the leader term that wrote the record
//	24     8    leader timestamp, Unix nanoseconds (signed)
//	32     L    payload: the encoded operation, opaque to this package
//
// The CRC covers sequence, epoch, timestamp and payload, so a record carries
// its own proof of integrity wherever it travels: replication sends the CRC
// with the entry and the replica recomputes it before writing.
//
// # Durability and group commit
//
// Append and Begin assign sequences and queue the encoded records. A single
// flusher goroutine writes everything queued since its last round with one
// write and one fsync, then releases every appender of that round together.
// The flush uses fdatasync, which covers the data and the file size.
// An append therefore returns only once its record is on stable storage, and
// concurrent appenders share an fsync. When the last round suggests more
// writers are about to return, the flusher waits up to half an fsync (at
// most 1 ms) for them so
// that alternating cohorts merge into one group (see gather in append.go).
// Options.NoSync skips the fsync; it
// exists for tests and is never the default.
//
// A failed write or fsync poisons the log: the in-memory view can no longer
// be trusted to match the disk, so every later append fails with the same
// error until the log is reopened.
//
// # Reading
//
// ReadFrom returns a Reader positioned at any retained sequence. It seeks
// through a sparse in-memory index of each segment, reads sequentially with
// its own file handle and buffer, never past the published end of durable
// data, and can wait for the tail to grow without polling the files.
//
// # Opening and repair
//
// Open verifies every segment: header, record CRCs, sequence continuity
// within and across segments. Damage is handled by where it is:
//
//   - Zeros from the end of the last record to the end of a segment are
//     the unused preallocated space, not damage.
//   - In the last segment, a record that is short, zeroed, or fails its CRC,
//     with no valid later record after it, is a torn write from a crash. The
//     segment is truncated at that record, the cut bytes are saved as a
//     .torn file, and the repair is logged and reported in Log.Repaired.
//     Only records that were never acknowledged can be lost this way, except
//     when the very last acknowledged record itself is damaged on disk: that
//     damage cannot be told apart from a torn write and is treated as one.
//   - Anywhere else (a bad record followed by valid ones, a damaged record in
//     an older segment, a missing segment, a sequence gap), Open refuses the
//     log with an error wrapping ErrCorrupt that names the file and offset.
//
// # Truncation
//
// TruncateFront removes whole segments below a checkpoint; the active
// segment is never removed. TruncateBack removes every record after a given
// sequence, which a replica uses to discard a tail that diverged from its
// leader.
package wal
