package store

import (
	"sync"
)

// Store is the in-memory state of one node: concepts, the associations
// between them, and the sequence of the last applied op.
//
// Concurrency: any number of goroutines may call the read methods (Get,
// Neighbors, Stats, Digest, WriteSnapshot) while one goroutine calls Apply.
// Apply is safe to call concurrently too, but ops must reach it in log order,
// so the caller normally has a single applier. Readers hold the read lock
// only to look up a map entry; records and adjacency lists are immutable, so
// decoding and copying happen after the lock is released. WriteSnapshot
// holds the write lock only to freeze the shards (see shard.go), never for
// the size of the data.
type Store struct {
	mu sync.RWMutex

	// shards hold the concepts and adjacency lists, split by shardIndex.
	// About 200 bytes per concept with 100 bytes of content: a map slot
	// (24 bytes, at 45-90% load) and the record (32-byte header and the
	// content) in the shard's arena.
	shards [shardCount]shard

	// in is the reverse index used by delete's cascade: for each target,
	// the source of every edge into it (a source appears once per edge, in
	// no particular order). Only Apply reads or writes it, under the write
	// lock, so it is modified in place and never sharded or frozen.
	in map[ConceptID][]ConceptID

	nConcepts   int       // number of concepts
	assocs      int       // number of associations
	lastApplied uint64    // sequence of the last successful Apply
	digest      digestSum // current Digest, kept in step by every change
	h           hasher    // Apply's hashing buffer, used under the write lock

	epoch    uint64 // incremented by every freeze
	freezers int    // snapshots currently collecting from frozen shards
}

// New returns an empty store with LastApplied 0.
func New() *Store {
	s := &Store{in: make(map[ConceptID][]ConceptID)}
	for i := range s.shards {
		s.shards[i].concepts = make(map[ConceptID]loc)
		s.shards[i].out = make(map[ConceptID][]edge)
	}
	return s
}

// Stats is a consistent summary of a store at one moment.
type Stats struct {
	ConceptCount     int
	AssociationCount int
	LastApplied      uint64
}

// LastApplied returns the sequence of the last op Apply accepted, 0 for a
// new store, or the snapshot's sequence for a store from ReadSnapshot.
func (s *Store) LastApplied() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lastApplied
}

// Get returns a copy of the concept with the given ID. The caller owns the
// returned Content and Embedding.
func (s *Store) Get(id ConceptID) (Concept, bool) {
	s.mu.RLock()
	r, ok := s.lookup(id)
	s.mu.RUnlock()
	if !ok {
		return Concept{}, false
	}
	return r.concept(id), true
}

// Neighbors returns up to limit outgoing associations of id, ordered by
// target ID (bytewise) and then type; limit <= 0 means all. It returns nil
// when id has no outgoing associations or does not exist. The slice is new
// and owned by the caller.
func (s *Store) Neighbors(id ConceptID, limit int) []Association {
	s.mu.RLock()
	edges := s.edgesOf(id)
	s.mu.RUnlock()
	if limit > 0 && limit < len(edges) {
		edges = edges[:limit]
	}
	if len(edges) == 0 {
		return nil
	}
	out := make([]Association, len(edges))
	for i, e := range edges {
		out[i] = Association{Source: id, Target: e.target, Type: e.typ, Strength: e.strength}
	}
	return out
}

// Stats returns the counts and LastApplied, read together.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return Stats{ConceptCount: s.nConcepts, AssociationCount: s.assocs, LastApplied: s.lastApplied}
}

// Digest returns the order-independent checksum of the current content. It
// is maintained by Apply, so reading it is O(1).
func (s *Store) Digest() Digest {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.digest.digest()
}
