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
// Bytes cut from a damaged tail or an incomplete write on open are kept
// beside the log as <segment>.torn-<offset> so that nothing is thrown away
// silently. The file "durable" holds the durable high-water mark.
//
// Segments are preallocated: a background goroutine prepares the next one
// as next-segment-<n>.tmp, filled with zeros to Options.SegmentSize in
// synced 256 KiB steps 5 ms apart (so that its flushes never hold the disk
// for long: every node of a cluster fills its spare at the same point of
// the log), from the middle of the first segment and from each roll on; at
// a roll it gets its header, is synced and renamed. A roll that finds no
// spare ready starts an unfilled segment. Records then
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
//	16     8    epoch word: bits 0-62 the epoch (the leader term that
//	            wrote the record, at most MaxEpoch); bit 63 the More flag
//	24     8    leader timestamp, Unix nanoseconds (signed)
//	32     L    payload: the encoded operation, opaque to this package
//
// The CRC covers sequence, epoch word (so the More flag), timestamp and
// payload as stored, so a record carries its own proof of integrity
// wherever it travels: replication sends the CRC and the flag with the
// entry and the replica recomputes the CRC before writing.
//
// Logs written before the More flag existed never set bit 63, and their
// records read as they always did: each one a write of its own. (A binary
// that predates the flag would read a set bit 63 as part of the epoch, so
// a log holding multi-record writes must not be opened by one.)
//
// # Writes and batches
//
// A write (one engine.Write of n operations) is n consecutive records;
// More is set on all but the last ("more records of the same write
// follow"). A write is durable and visible whole or not at all:
//
//   - Begin queues a write's records under one lock, and the flusher takes
//     everything queued in one round, so a group commit always holds whole
//     writes, also when the write spans a segment roll. The durable
//     sequence and the tail readers follow are published only after the
//     round, so on a leader a reader is never handed a position inside a
//     write.
//   - A crash can still leave a prefix of a write on disk (the roll syncs
//     the old segment before the new one is written). Open cuts a log whose
//     last record has More set back to the last record without it; a last
//     segment made only of such records is removed. The cut bytes are kept
//     as .torn files and the cut is reported in Log.Repaired.
//   - A replica's frames may split a write (BeginRecords accepts records
//     ending with More set). LastCompleteSeq is the last durable record that
//     ends a write; the engine applies, and a replica acks as durable, only
//     up to it.
//
// # Durable mark
//
// The file "durable" beside the segments holds the durable high-water
// mark: the highest sequence that ends a write and was made durable. It is
// 32 bytes, little endian, always written whole with one write at offset 0:
//
//	offset size field
//	0      4    magic "SDUR"
//	4      2    format version (1)
//	6      2    reserved, zero
//	8      8    sequence: the highest durable record that ends a write
//	            (0: no claim)
//	16     8    first sequence of the segment holding it
//	24     4    CRC-32C (Castagnoli) of bytes 0 .. 24
//	28     4    reserved, zero
//
// The flusher writes it after each group commit's fsync and before the
// round's appenders are released (a plain write; it never claims more than
// the segments hold, and a kill -9 after an acknowledgement leaves it
// covering that write). A background goroutine fdatasyncs it when it has
// changed, at most about once a second and soon after each segment roll;
// Close syncs it. On a replica it only ever names a write boundary.
// TruncateBack lowers it (written and synced) before cutting the log;
// Reset clears it before removing the old segments and sets it to next-1
// once the new segment exists: a crash in between never reads as a loss.
//
// Open reads the mark. A missing or unreadable file (a fresh or older data
// directory) means no mark: the log opens as it always did and the file is
// created. If the verified log ends below the mark, durable records are
// gone: Open refuses with an error wrapping ErrLost that gives the count,
// the sequences and the file implicated (a missing segment, or records of
// a segment that read back as zeros or are damaged). With
// Options.AcceptLoss it opens the shorter log instead, logs a warning with
// the count, lowers the mark and reports the count in Log.Lost.
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
// exists for tests and is never the default. SetSyncInterval spaces
// group commits at least that far apart (a replica whose acks are held
// sets it; 0, the default, starts each at once); a megabyte pending,
// Hurry or Close ends the wait. Barrier returns a receipt for
// everything queued so far (the group being written and the one filling),
// without queueing anything itself.
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
// data, and can wait for the tail to grow without polling the files
// (Wait, or WaitFor with a bound, on one timer the reader keeps).
//
// # Opening and repair
//
// Open verifies every segment: header, record CRCs, sequence continuity
// within and across segments. Damage is handled by where it is:
//
//   - Zeros from the end of the last record to the end of a segment are
//     the unused preallocated space, not damage.
//   - In the last segment, a record beyond the durable mark that is short,
//     zeroed, or fails its CRC, with no valid later record after it, is a
//     torn write from a crash. The segment is truncated at that record, the
//     cut bytes are saved as a .torn file, and the repair is logged and
//     reported in Log.Repaired. Only records that were never acknowledged
//     can be lost this way: damage at or below the mark is never a torn
//     write; it fails with ErrLost (see "Durable mark").
//   - A trailing incomplete write is cut (see "Writes and batches").
//   - Anywhere else (a bad record followed by valid ones, a damaged record in
//     an older segment, a missing segment, a sequence gap), Open refuses the
//     log with an error wrapping ErrCorrupt that names the file and offset.
//
// # Truncation
//
// TruncateFront removes whole segments below a checkpoint; the active
// segment is never removed. TruncateBack removes every record after a given
// sequence, which a replica uses to discard a tail that diverged from its
// leader, and Reset replaces the log with an empty one at a given sequence
// (after a snapshot install); both move the durable mark first.
package wal
