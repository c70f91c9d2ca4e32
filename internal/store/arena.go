package store

import (
	"encoding/binary"
	"unsafe"
)

// A shard keeps its concept records in an arena: large append-only chunks of
// bytes, with the concept map holding each record's 8-byte location instead
// of a pointer to it. Neither the map nor the chunks then contain pointers,
// so the garbage collector never traces them: a million concepts are a few
// thousand chunk objects to it instead of a million records and a map of
// pointers it must walk on every cycle, which under write load cost a
// replica about a third of its CPU.
//
// A record's bytes never change once written: a write appends a new record
// and the old one becomes dead space. A record view (record, an unsafe
// string over the bytes) therefore stays valid and immutable after the lock
// is released, exactly like a separately allocated string would. When dead
// space exceeds half the live records, compaction copies the live ones into
// fresh chunks; old chunks live on for as long as a reader or frozen
// snapshot view still refers to them.

// loc is a record's location: chunk index in the high 32 bits, byte offset
// in the chunk in the low 32.
type loc uint64

// Chunk sizes are powers of two from minChunk to maxChunk: the
// allocator's exact sizes. Records start at recAlign-byte offsets.
const (
	minChunk = 4 << 10
	maxChunk = 64 << 10
	recAlign = 8
)

// arena is one shard's record storage. Callers hold the store's write lock
// to modify it.
type arena struct {
	// chunks are allocated at their full size and an entry never changes
	// once appended, so a snapshot's view shares the list: what is
	// appended later lies past the view's length.
	chunks     [][]byte
	open       int // 1 + the index of the chunk records are appended to; 0: none yet
	fill       int // bytes used in the open chunk
	live, dead int // bytes held by live records and by replaced or deleted ones
}

// put copies a record into the arena and returns its location.
func (a *arena) put(rec []byte) loc {
	size := alignRec(len(rec))
	a.live += size
	if 8*size > maxChunk {
		// A large record gets a chunk of its own, and the open chunk
		// stays open for the small records after it.
		c := make([]byte, size)
		copy(c, rec)
		a.chunks = append(a.chunks, c)
		return loc(uint64(len(a.chunks)-1) << 32)
	}
	if a.open == 0 || a.fill+size > len(a.chunks[a.open-1]) {
		a.chunks = append(a.chunks, make([]byte, chunkSize(a.live, size)))
		a.open, a.fill = len(a.chunks), 0
	}
	off := a.fill
	copy(a.chunks[a.open-1][off:], rec) // padding bytes are zero from make
	a.fill += size
	return loc(uint64(a.open-1)<<32 | uint64(off))
}

// chunkSize is the capacity of a new chunk opened for a record of size
// bytes in an arena holding live bytes, that record included: at most a
// sixteenth of what the arena holds, so that the unused end of its open
// chunk stays a small part of it in each of the 256 shards, but room for
// at least eight records, so that the end a record does not fit in stays
// a small part of a chunk.
func chunkSize(live, size int) int {
	c := minChunk
	for c < maxChunk && (2*c <= live/16 || c < 8*size) {
		c *= 2
	}
	return c
}

// at returns the record at l.
func (a *arena) at(l loc) record { return recordAt(a.chunks, l) }

// release accounts the record at l as dead space.
func (a *arena) release(l loc) {
	size := alignRec(len(a.at(l)))
	a.live -= size
	a.dead += size
}

// compactMin is the dead space below which a shard is never compacted, so
// small shards are not rewritten over and over: at most 4 MiB in all.
const compactMin = 16 << 10

// wasteful reports whether dead space exceeds half the live records, so
// that records never take more than 1.5 times their size (plus
// compactMin) and each compaction copies at most twice the bytes that died
// since the last one.
func (a *arena) wasteful() bool { return 2*a.dead > a.live && a.dead >= compactMin }

// compacted returns a new arena holding the records of concepts, whose
// locations it rewrites in place. The receiver is left untouched for views
// that still use it.
func (a *arena) compacted(concepts map[ConceptID]loc) arena {
	var fresh arena
	for id, l := range concepts {
		r := a.at(l)
		concepts[id] = fresh.put(unsafe.Slice(unsafe.StringData(string(r)), len(r)))
	}
	return fresh
}

// recordAt returns the record at l in chunks: its length comes from the
// record's own header.
func recordAt(chunks [][]byte, l loc) record {
	ch := chunks[l>>32]
	off := int(uint32(l))
	h := ch[off : off+recHeaderSize]
	n := recHeaderSize + int(binary.LittleEndian.Uint32(h[recContentLen:])) + 4*int(binary.LittleEndian.Uint32(h[recDims:]))
	return record(unsafe.String(&ch[off], n))
}

func alignRec(n int) int { return (n + recAlign - 1) &^ (recAlign - 1) }
