package store

import (
	"encoding/binary"
	"maps"
)

// shardCount is the number of shards the maps are split into. Sharding
// exists for snapshots, not for lock contention: a snapshot freezes the
// shards in O(shardCount) under the write lock instead of copying a million
// map entries under it, and a write afterwards clones only the one shard it
// touches (about 1/256 of the maps, ~0.1 ms at a million concepts).
const shardCount = 256

// shard holds the concepts and adjacency lists of the IDs that hash to it.
type shard struct {
	// concepts maps each concept to its record's location in records.
	concepts map[ConceptID]loc
	records  arena

	// out holds each source's outgoing edges sorted by (target, type), the
	// Neighbors order. Slices stored here are never modified: a write builds
	// a new slice and replaces the entry (copy-on-write), so readers and
	// snapshots may keep using a slice after the lock is released. An
	// insertion therefore costs O(out-degree): adjacency lists are meant to
	// stay in the thousands, not millions. Sources without edges have no
	// entry.
	out map[ConceptID][]edge

	// epoch is the Store.epoch in which these maps were last cloned, that
	// is, known to be referenced by no snapshot.
	epoch uint64
}

// shardIndex spreads IDs over shards whatever their structure (sequential,
// time-prefixed): fold the 16 bytes to 64 bits, multiply by a large odd
// constant, keep the top 8 bits. The choice only affects balance, never
// results.
func shardIndex(id ConceptID) int {
	x := binary.LittleEndian.Uint64(id[:8]) ^ binary.LittleEndian.Uint64(id[8:])
	return int((x * 0x9e3779b97f4a7c15) >> 56)
}

// locate returns id's shard and, when id is present, its record's
// location. The caller holds mu, for reading or writing.
func (s *Store) locate(id ConceptID) (*shard, loc, bool) {
	sh := &s.shards[shardIndex(id)]
	l, ok := sh.concepts[id]
	return sh, l, ok
}

// lookup returns id's record. The caller holds mu, for reading or writing.
func (s *Store) lookup(id ConceptID) (record, bool) {
	sh, l, ok := s.locate(id)
	if !ok {
		return "", false
	}
	return sh.records.at(l), true
}

// setRecord stores rec as id's record in sh, a writable shard, releasing
// the record at old when had (the caller has located it already), and
// compacts the shard's arena once it is mostly dead space. The caller
// holds mu for writing.
func (sh *shard) setRecord(id ConceptID, rec []byte, old loc, had bool) {
	if had {
		sh.records.release(old)
	}
	sh.concepts[id] = sh.records.put(rec)
	sh.compactIfWasteful()
}

// deleteRecord removes id, whose record is at old, from sh, a writable
// shard.
func (sh *shard) deleteRecord(id ConceptID, old loc) {
	sh.records.release(old)
	delete(sh.concepts, id)
	sh.compactIfWasteful()
}

func (sh *shard) compactIfWasteful() {
	if sh.records.wasteful() {
		sh.records = sh.records.compacted(sh.concepts)
	}
}

// edgesOf returns id's outgoing edges, which the caller must not modify.
// The caller holds mu, for reading or writing.
func (s *Store) edgesOf(id ConceptID) []edge {
	return s.shards[shardIndex(id)].out[id]
}

// writable returns id's shard ready to be modified. While a snapshot is
// collecting (freezers > 0), a shard whose maps may be referenced by it is
// cloned first, so the snapshot reads its frozen maps without a lock. The
// caller holds mu for writing.
func (s *Store) writable(id ConceptID) *shard {
	sh := &s.shards[shardIndex(id)]
	if s.freezers > 0 && sh.epoch != s.epoch {
		sh.concepts = maps.Clone(sh.concepts)
		sh.out = maps.Clone(sh.out)
		sh.epoch = s.epoch
	}
	return sh
}

// frozenView is one shard's maps as a snapshot captured them; nobody
// modifies them while the snapshot's freeze lasts. chunks is the arena's
// chunk list as it was: its entries, and the records they hold, never
// change.
type frozenView struct {
	concepts map[ConceptID]loc
	chunks   [][]byte
	out      map[ConceptID][]edge
}

// record returns the record at l in the view.
func (v *frozenView) record(l loc) record { return recordAt(v.chunks, l) }

// freeze captures the state for a snapshot in O(shardCount) under the write
// lock. Until the matching thaw, writes clone a shard before changing it.
func (s *Store) freeze() (SnapshotInfo, []frozenView) {
	views := make([]frozenView, shardCount)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.epoch++
	s.freezers++
	for i := range s.shards {
		sh := &s.shards[i]
		views[i] = frozenView{sh.concepts, sh.records.chunks, sh.out}
	}
	return SnapshotInfo{
		Seq:          s.lastApplied,
		Concepts:     s.nConcepts,
		Associations: s.assocs,
		Digest:       s.digest.digest(),
	}, views
}

// thaw ends a freeze: once no snapshot is collecting, writes modify the
// shards in place again.
func (s *Store) thaw() {
	s.mu.Lock()
	s.freezers--
	s.mu.Unlock()
}
