package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// Digest is an order-independent checksum of a store's content: every
// concept with all its fields and every association. LastApplied is not part
// of it, so two replicas holding the same data have equal digests whatever
// route their logs took. The exact definition is in the package comment.
type Digest [32]byte

// String returns the digest as 64 lowercase hex characters.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// Domain tags prefixed to each item before hashing, so a concept and an
// association can never hash the same bytes.
const (
	tagConcept     = 0x01
	tagAssociation = 0x02
)

// digestSum is a Digest under construction: four independent 64-bit lanes,
// each the sum modulo 2^64 of the matching lane of every item hash. Adding
// and subtracting item hashes commute, so the sum depends only on the set of
// items present, and the store keeps it current in O(1) per change.
type digestSum [4]uint64

func (d *digestSum) add(h [32]byte) {
	for i := range d {
		d[i] += binary.LittleEndian.Uint64(h[8*i:])
	}
}

func (d *digestSum) sub(h [32]byte) {
	for i := range d {
		d[i] -= binary.LittleEndian.Uint64(h[8*i:])
	}
}

func (d *digestSum) digest() Digest {
	var out Digest
	for i, v := range d {
		binary.LittleEndian.PutUint64(out[8*i:], v)
	}
	return out
}

// hasher computes item hashes with a reusable buffer. It is owned by one
// goroutine at a time (the store's writer, or a snapshot reader).
type hasher struct{ buf []byte }

// maxKeptBuf bounds the buffer a hasher keeps between calls, so one large
// concept does not pin its size for the life of the store.
const maxKeptBuf = 64 << 10

// concept hashes tag 0x01, the ID and the record: exactly the snapshot's
// concept record behind the tag.
func (h *hasher) concept(id ConceptID, r record) [32]byte {
	h.buf = append(h.buf[:0], tagConcept)
	h.buf = append(h.buf, id[:]...)
	h.buf = append(h.buf, r...)
	return h.sum()
}

// newRecord builds the record for c with the given times and returns it with
// its item hash, encoding the fields once for both. The record's bytes are
// the hasher's buffer: valid until its next use.
func (h *hasher) newRecord(c *Concept, created, updated int64) ([]byte, [32]byte) {
	h.buf = append(h.buf[:0], tagConcept)
	h.buf = append(h.buf, c.ID[:]...)
	h.buf = appendRecord(h.buf, c, created, updated)
	r := h.buf[1+len(c.ID):]
	return r, h.sum()
}

// association hashes tag 0x02 and the 40-byte association layout.
func (h *hasher) association(a *Association) [32]byte {
	h.buf = append(h.buf[:0], tagAssociation)
	h.buf = appendAssociation(h.buf, a)
	return h.sum()
}

func (h *hasher) sum() [32]byte {
	s := sha256.Sum256(h.buf)
	if cap(h.buf) > maxKeptBuf {
		h.buf = nil
	}
	return s
}
