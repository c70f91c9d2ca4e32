package store

import "errors"

// Errors returned by the store. Errors carrying detail wrap one of these, so
// test them with errors.Is.
var (
	// ErrInvalidID means bytes or text do not form a ConceptID.
	ErrInvalidID = errors.New("store: invalid concept id")
	// ErrBadOp means an operation is malformed: unknown type, or an encoding
	// that is short, long or has inconsistent lengths.
	ErrBadOp = errors.New("store: malformed operation")
	// ErrTooLarge means content or an embedding exceeds the Limits.
	ErrTooLarge = errors.New("store: too large")
	// ErrInvalidValue means a field holds a value the store refuses: NaN or
	// ±Inf in a float, or an association from a concept to itself.
	ErrInvalidValue = errors.New("store: invalid value")
	// ErrNotFound means an operation names a concept that does not exist.
	ErrNotFound = errors.New("store: concept not found")
	// ErrOutOfOrder means Apply was called with a sequence that is not
	// greater than LastApplied.
	ErrOutOfOrder = errors.New("store: sequence out of order")
	// ErrCorruptSnapshot means a snapshot failed verification: bad magic or
	// version, truncation, checksum or digest mismatch, or records that
	// contradict each other.
	ErrCorruptSnapshot = errors.New("store: corrupt snapshot")
)
