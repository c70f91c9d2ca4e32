package store

import (
	"encoding/binary"
	"math"
)

// record is a concept as held in memory: the "concept body" layout of the
// snapshot format (see the package comment) without the ID, which is the
// map key. It is a view of bytes in a shard's arena that never change once
// written (see arena.go): a write appends a new record and points the map
// at it, so readers and snapshots may use a record after releasing the
// lock. 32 bytes of header plus content plus 4 bytes per embedding
// dimension.
type record string

// Offsets within a record.
const (
	recCreated    = 0
	recUpdated    = 8
	recStrength   = 16
	recConfidence = 20
	recContentLen = 24
	recDims       = 28
	recHeaderSize = 32
)

// appendRecord appends the record layout of c with the given times.
func appendRecord(dst []byte, c *Concept, created, updated int64) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, uint64(created))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(updated))
	return appendConceptBody(dst, c)
}

func (r record) created() int64 { return int64(r.u64(recCreated)) }

// concept decodes r into a Concept that the caller owns.
func (r record) concept(id ConceptID) Concept {
	c := Concept{
		ID:         id,
		Created:    int64(r.u64(recCreated)),
		Updated:    int64(r.u64(recUpdated)),
		Strength:   math.Float32frombits(r.u32(recStrength)),
		Confidence: math.Float32frombits(r.u32(recConfidence)),
	}
	clen := int(r.u32(recContentLen))
	dims := int(r.u32(recDims))
	if clen > 0 {
		c.Content = []byte(r[recHeaderSize : recHeaderSize+clen])
	}
	if dims > 0 {
		c.Embedding = make([]float32, dims)
		off := recHeaderSize + clen
		for i := range c.Embedding {
			c.Embedding[i] = math.Float32frombits(r.u32(off + 4*i))
		}
	}
	return c
}

func (r record) u32(off int) uint32 {
	_ = r[off+3] // one bounds check
	return uint32(r[off]) | uint32(r[off+1])<<8 | uint32(r[off+2])<<16 | uint32(r[off+3])<<24
}

func (r record) u64(off int) uint64 {
	return uint64(r.u32(off)) | uint64(r.u32(off+4))<<32
}

// edge is one outgoing association in a source's adjacency list: 24 bytes.
type edge struct {
	target   ConceptID
	typ      AssocType
	strength float32
}

// compareEdgeKey orders edges by target, then type: the Neighbors order.
func compareEdgeKey(e edge, target ConceptID, typ AssocType) int {
	if c := compareIDs(e.target, target); c != 0 {
		return c
	}
	switch {
	case e.typ < typ:
		return -1
	case e.typ > typ:
		return 1
	}
	return 0
}

// searchEdges returns the index of key (target, typ) in edges, which are
// sorted by compareEdgeKey, or where it would be inserted, and whether it is
// present. (A hand-written search: slices.BinarySearchFunc would make the
// caller's key escape to the heap.)
func searchEdges(edges []edge, target ConceptID, typ AssocType) (int, bool) {
	lo, hi := 0, len(edges)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if compareEdgeKey(edges[m], target, typ) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(edges) && edges[lo].target == target && edges[lo].typ == typ
}
