package store

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Sizes of the fixed parts of the op encoding (see the package comment).
const (
	opHeaderSize   = 1 + 8         // type, time
	conceptBodyFix = 4 + 4 + 4 + 4 // strength, confidence, content length, dims
	opConceptFix   = opHeaderSize + 16 + conceptBodyFix
	opAssocSize    = opHeaderSize + 16 + 16 + 4 + 4
	opDeleteSize   = opHeaderSize + 16
)

// AppendBinary appends the encoding of op to dst and returns the extended
// slice. The encoding is deterministic: equal ops give equal bytes. Fields
// not used by op.Type are not encoded. AppendBinary does not validate; call
// Validate first. Unlike encoding.BinaryAppender it cannot fail.
func (op *Op) AppendBinary(dst []byte) []byte {
	dst = append(dst, byte(op.Type))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(op.Time))
	switch op.Type {
	case OpWriteConcept:
		dst = append(dst, op.Concept.ID[:]...)
		dst = appendConceptBody(dst, &op.Concept)
	case OpWriteAssociation:
		dst = appendAssociation(dst, &op.Association)
	case OpDeleteConcept:
		dst = append(dst, op.ID[:]...)
	}
	return dst
}

// appendConceptBody appends strength, confidence, content length, dims,
// content and embedding: the tail shared by the op encoding, the in-memory
// record and the snapshot record.
func appendConceptBody(dst []byte, c *Concept) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(c.Strength))
	dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(c.Confidence))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(c.Content)))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(c.Embedding)))
	dst = append(dst, c.Content...)
	for _, v := range c.Embedding {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(v))
	}
	return dst
}

// appendAssociation appends source, target, type and strength: 40 bytes,
// shared by the op encoding and the snapshot record.
func appendAssociation(dst []byte, a *Association) []byte {
	dst = append(dst, a.Source[:]...)
	dst = append(dst, a.Target[:]...)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(a.Type))
	return binary.LittleEndian.AppendUint32(dst, math.Float32bits(a.Strength))
}

// DecodeOp decodes one op produced by AppendBinary. It is strict: the buffer
// must hold exactly one op of a known type with consistent lengths, else the
// error wraps ErrBadOp and says what is wrong. Content and embedding are
// copied, so b may be reused. DecodeOp checks structure only; call Validate
// for values and limits. It never panics.
func DecodeOp(b []byte) (Op, error) {
	if len(b) < opHeaderSize {
		return Op{}, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrBadOp, len(b), opHeaderSize)
	}
	op := Op{
		Type: OpType(b[0]),
		Time: int64(binary.LittleEndian.Uint64(b[1:9])),
	}
	switch op.Type {
	case OpWriteConcept:
		if len(b) < opConceptFix {
			return Op{}, fmt.Errorf("%w: %s is %d bytes, shorter than its %d fixed bytes", ErrBadOp, op.Type, len(b), opConceptFix)
		}
		op.Concept.ID = ConceptID(b[9:25])
		p := b[25:]
		op.Concept.Strength = math.Float32frombits(binary.LittleEndian.Uint32(p[0:4]))
		op.Concept.Confidence = math.Float32frombits(binary.LittleEndian.Uint32(p[4:8]))
		clen := uint64(binary.LittleEndian.Uint32(p[8:12]))
		dims := uint64(binary.LittleEndian.Uint32(p[12:16]))
		p = p[16:]
		if want := clen + 4*dims; uint64(len(p)) != want {
			return Op{}, fmt.Errorf("%w: %s declares %d content bytes and %d dimensions (%d bytes), %d bytes follow", ErrBadOp, op.Type, clen, dims, want, len(p))
		}
		if clen > 0 {
			op.Concept.Content = append([]byte(nil), p[:clen]...)
		}
		op.Concept.Embedding = decodeFloats(p[clen:], int(dims))
	case OpWriteAssociation:
		if len(b) != opAssocSize {
			return Op{}, fmt.Errorf("%w: %s is %d bytes, want %d", ErrBadOp, op.Type, len(b), opAssocSize)
		}
		op.Association = decodeAssociation(b[9:])
	case OpDeleteConcept:
		if len(b) != opDeleteSize {
			return Op{}, fmt.Errorf("%w: %s is %d bytes, want %d", ErrBadOp, op.Type, len(b), opDeleteSize)
		}
		op.ID = ConceptID(b[9:25])
	default:
		return Op{}, fmt.Errorf("%w: unknown op type %d", ErrBadOp, b[0])
	}
	return op, nil
}

// decodeAssociation decodes the 40-byte association layout; len(b) >= 40.
func decodeAssociation(b []byte) Association {
	return Association{
		Source:   ConceptID(b[0:16]),
		Target:   ConceptID(b[16:32]),
		Type:     AssocType(binary.LittleEndian.Uint32(b[32:36])),
		Strength: math.Float32frombits(binary.LittleEndian.Uint32(b[36:40])),
	}
}

// decodeFloats decodes n little-endian float32 values from b; nil when n is
// zero.
func decodeFloats(b []byte, n int) []float32 {
	if n == 0 {
		return nil
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}
