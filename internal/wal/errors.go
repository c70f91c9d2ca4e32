package wal

import "errors"

// Errors returned by the log. Errors carrying detail wrap one of these, so
// test them with errors.Is.
var (
	// ErrCorrupt means stored bytes failed verification.
	ErrCorrupt = errors.New("wal: corrupt log")
	// ErrShort means a buffer ends inside a record.
	ErrShort = errors.New("wal: short record")
	// ErrClosed is returned by operations on a closed log or reader.
	ErrClosed = errors.New("wal: log closed")
	// ErrCompacted means the requested sequence was truncated away.
	ErrCompacted = errors.New("wal: sequence no longer retained")
	// ErrOutOfRange means the requested sequence is beyond the end of the log.
	ErrOutOfRange = errors.New("wal: sequence beyond end of log")
	// ErrSequence means a record with a preassigned sequence does not follow
	// the last one in the log.
	ErrSequence = errors.New("wal: sequence out of order")
	// ErrChecksum means a record with a preassigned CRC does not match its
	// contents.
	ErrChecksum = errors.New("wal: record checksum mismatch")
	// ErrTooLarge means a payload exceeds MaxRecordSize.
	ErrTooLarge = errors.New("wal: record too large")
	// ErrUnusable is returned by appends after a write or sync failed: the
	// log may no longer match the disk until it is reopened.
	ErrUnusable = errors.New("wal: log unusable after failed write")
	// ErrLost means the log ends below its durable high-water mark:
	// records that were made durable, and may have been acknowledged, are
	// missing or damaged (see Options.AcceptLoss).
	ErrLost = errors.New("wal: durable records lost")
	// ErrEpoch means an epoch above MaxEpoch.
	ErrEpoch = errors.New("wal: epoch out of range")
	// ErrTruncated is returned by a reader whose position was removed by
	// TruncateBack.
	ErrTruncated = errors.New("wal: log truncated under reader")
)
