package store

import (
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// ConceptID identifies a concept. It is a fixed 16-byte value, so a wrong
// size can only arise when converting from text or bytes.
type ConceptID [16]byte

// ParseConceptID parses the 32-hex-character form produced by String.
// Upper- and lowercase digits are accepted. Anything else returns an error
// wrapping ErrInvalidID.
func ParseConceptID(s string) (ConceptID, error) {
	var id ConceptID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("%w: %q has %d characters, want 32 hex characters", ErrInvalidID, s, len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return ConceptID{}, fmt.Errorf("%w: %q: %v", ErrInvalidID, s, err)
	}
	return id, nil
}

// ConceptIDFromBytes copies a 16-byte slice into a ConceptID. Any other
// length returns an error wrapping ErrInvalidID that names the length.
func ConceptIDFromBytes(b []byte) (ConceptID, error) {
	var id ConceptID
	if len(b) != len(id) {
		return id, fmt.Errorf("%w: %d bytes, want 16", ErrInvalidID, len(b))
	}
	copy(id[:], b)
	return id, nil
}

// String returns the ID as 32 lowercase hex characters.
func (id ConceptID) String() string {
	return hex.EncodeToString(id[:])
}

// compareIDs orders IDs as big-endian 128-bit integers, which is the same
// order as bytes.Compare on the arrays.
func compareIDs(a, b ConceptID) int {
	if c := cmp.Compare(binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(b[:8])); c != 0 {
		return c
	}
	return cmp.Compare(binary.BigEndian.Uint64(a[8:]), binary.BigEndian.Uint64(b[8:]))
}
