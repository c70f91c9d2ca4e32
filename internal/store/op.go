package store

import (
	"fmt"
	"math"
)

// OpType says what an Op does. The numeric values are part of the encoding
// and must never change.
type OpType uint8

// Operation types.
const (
	OpWriteConcept     OpType = 1 // create or replace Op.Concept
	OpWriteAssociation OpType = 2 // upsert Op.Association
	OpDeleteConcept    OpType = 3 // remove concept Op.ID and its associations
)

// String returns the operation name, or "OpType(n)" for unknown values.
func (t OpType) String() string {
	switch t {
	case OpWriteConcept:
		return "write-concept"
	case OpWriteAssociation:
		return "write-association"
	case OpDeleteConcept:
		return "delete-concept"
	}
	return fmt.Sprintf("OpType(%d)", uint8(t))
}

// Op is one state change, the unit the write-ahead log carries and Apply
// consumes. Only the fields used by Type are meaningful; the others are
// ignored, not encoded, and come back zero from DecodeOp.
type Op struct {
	Type OpType
	// Time is the unix-nanosecond time the leader assigned when it accepted
	// the write. Apply uses it for Created/Updated and never reads the wall
	// clock, so every replica derives identical state.
	Time int64
	// Concept is the payload of OpWriteConcept: ID, Content, Embedding,
	// Strength and Confidence. Its Created and Updated are ignored.
	Concept Concept
	// Association is the payload of OpWriteAssociation.
	Association Association
	// ID is the payload of OpDeleteConcept.
	ID ConceptID
}

// Limits bound the size of what a write may carry. They are admission
// policy, checked by Validate before an op is logged; Apply does not check
// them, so replicas configured with different limits still apply the same
// log identically. A zero or negative field means the default.
type Limits struct {
	// MaxContentBytes bounds len(Concept.Content). Default 1 MiB.
	MaxContentBytes int
	// MaxEmbeddingDims bounds len(Concept.Embedding). Default 4096.
	MaxEmbeddingDims int
}

// Default limits.
const (
	DefaultMaxContentBytes  = 1 << 20
	DefaultMaxEmbeddingDims = 4096
)

// DefaultLimits returns the limits used for zero fields.
func DefaultLimits() Limits {
	return Limits{MaxContentBytes: DefaultMaxContentBytes, MaxEmbeddingDims: DefaultMaxEmbeddingDims}
}

func (l Limits) withDefaults() Limits {
	if l.MaxContentBytes <= 0 {
		l.MaxContentBytes = DefaultMaxContentBytes
	}
	if l.MaxEmbeddingDims <= 0 {
		l.MaxEmbeddingDims = DefaultMaxEmbeddingDims
	}
	return l
}

// Validate reports whether op may be appended to the log. It checks the op
// alone, not the store: a write-association whose endpoints are missing
// passes Validate and fails in Apply with ErrNotFound.
//
// Errors wrap:
//   - ErrBadOp for an unknown Type;
//   - ErrTooLarge when content or embedding exceeds lim (the message gives
//     both sizes);
//   - ErrInvalidValue naming the field, for NaN or ±Inf in strength,
//     confidence or any embedding element, and for an association whose
//     Source equals its Target (self-associations are not allowed: they
//     carry no information a concept's own fields cannot, and forbidding
//     them keeps delete's cascade a plain two-sided sweep).
//
// Op.Time is not checked.
func (op *Op) Validate(lim Limits) error {
	if err := op.check(); err != nil {
		return err
	}
	if op.Type != OpWriteConcept {
		return nil
	}
	lim = lim.withDefaults()
	c := &op.Concept
	if len(c.Content) > lim.MaxContentBytes {
		return fmt.Errorf("%w: content is %d bytes, limit %d", ErrTooLarge, len(c.Content), lim.MaxContentBytes)
	}
	if len(c.Embedding) > lim.MaxEmbeddingDims {
		return fmt.Errorf("%w: embedding has %d dimensions, limit %d", ErrTooLarge, len(c.Embedding), lim.MaxEmbeddingDims)
	}
	return nil
}

// check is the part of Validate that does not depend on Limits. Apply runs
// it too: it is a pure function of the op, so every replica reaches the same
// verdict. The uint32 bounds keep lengths encodable whatever the Limits.
func (op *Op) check() error {
	switch op.Type {
	case OpWriteConcept:
		c := &op.Concept
		if uint64(len(c.Content)) > math.MaxUint32 {
			return fmt.Errorf("%w: content is %d bytes, encoding limit %d", ErrTooLarge, len(c.Content), uint32(math.MaxUint32))
		}
		if uint64(len(c.Embedding)) > math.MaxUint32/4 {
			return fmt.Errorf("%w: embedding has %d dimensions, encoding limit %d", ErrTooLarge, len(c.Embedding), math.MaxUint32/4)
		}
		if err := checkFinite("concept.strength", c.Strength); err != nil {
			return err
		}
		if err := checkFinite("concept.confidence", c.Confidence); err != nil {
			return err
		}
		for i, v := range c.Embedding {
			if isNonFinite(v) {
				return fmt.Errorf("%w: concept.embedding[%d] is %v", ErrInvalidValue, i, v)
			}
		}
		return nil
	case OpWriteAssociation:
		a := &op.Association
		if a.Source == a.Target {
			return fmt.Errorf("%w: association source and target are both %s", ErrInvalidValue, a.Source)
		}
		return checkFinite("association.strength", a.Strength)
	case OpDeleteConcept:
		return nil
	}
	return fmt.Errorf("%w: unknown op type %d", ErrBadOp, uint8(op.Type))
}

func checkFinite(field string, v float32) error {
	if isNonFinite(v) {
		return fmt.Errorf("%w: %s is %v", ErrInvalidValue, field, v)
	}
	return nil
}

func isNonFinite(v float32) bool {
	f := float64(v)
	return math.IsNaN(f) || math.IsInf(f, 0)
}
