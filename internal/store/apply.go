package store

import (
	"fmt"
	"math"
	"slices"
)

// Apply applies op as the log entry with sequence seq.
//
// Contract, identical on every replica because it depends only on the op,
// the sequence and the current state:
//
//   - seq must be greater than LastApplied (gaps are allowed), else
//     ErrOutOfOrder.
//   - The op must pass the Limits-independent part of Validate (known type,
//     finite values, no self-association), else that error. Size limits
//     are admission policy and are not rechecked here.
//   - OpWriteConcept creates the concept or replaces all its fields; Created
//     is op.Time on the first write and kept afterwards, Updated is op.Time.
//     Associations of a replaced concept are kept.
//   - OpWriteAssociation upserts by (Source, Target, Type). Both concepts
//     must exist, else ErrNotFound.
//   - OpDeleteConcept removes the concept and every association in which it
//     is source or target. A missing concept is ErrNotFound.
//
// An op that returns an error changes nothing: state, Digest and LastApplied
// stay as they were. ErrOutOfOrder means the caller replayed an entry. Any
// other error is a verdict on the op and the state alone, reached alike by
// every replica, so a node applying durable log entries skips the entry and
// goes on. ErrNotFound can legitimately happen that way (the leader checks
// endpoints before appending, but a delete logged just before can win);
// ErrBadOp and ErrInvalidValue only for an entry that bypassed Validate.
// The sequence after a skipped entry is LastApplied+2, hence gaps are
// allowed.
//
// Apply copies what it keeps from op; the caller may reuse op's slices.
func (s *Store) Apply(seq uint64, op Op) error {
	if err := op.check(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apply(seq, op)
}

// Tx applies operations inside Update: readers see all of them or none.
type Tx struct{ s *Store }

// Apply is Store.Apply within the transaction.
func (t Tx) Apply(seq uint64, op Op) error {
	if err := op.check(); err != nil {
		return err
	}
	return t.s.apply(seq, op)
}

// Digest is the store's digest after what the transaction applied so far.
func (t Tx) Digest() Digest { return t.s.digest.digest() }

// Update runs f with the store locked for writing, so that every operation
// f applies through its Tx becomes visible to readers at once: a write of
// several operations is never seen in part. f must not call other methods
// of the store.
func (s *Store) Update(f func(Tx)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(Tx{s: s})
}

// apply applies op; s.mu is held for writing.
func (s *Store) apply(seq uint64, op Op) error {
	if seq <= s.lastApplied {
		return fmt.Errorf("%w: seq %d, last applied %d", ErrOutOfOrder, seq, s.lastApplied)
	}
	var err error
	switch op.Type {
	case OpWriteConcept:
		s.writeConcept(&op.Concept, op.Time)
	case OpWriteAssociation:
		err = s.writeAssociation(&op.Association)
	case OpDeleteConcept:
		err = s.deleteConcept(op.ID)
	}
	if err != nil {
		return err
	}
	s.lastApplied = seq
	return nil
}

func (s *Store) writeConcept(c *Concept, now int64) {
	sh := s.writable(c.ID)
	created := now
	_, at, had := s.locate(c.ID)
	if had {
		old := sh.records.at(at)
		created = old.created()
		s.digest.sub(s.h.concept(c.ID, old))
	} else {
		s.nConcepts++
	}
	r, h := s.h.newRecord(c, created, now)
	sh.setRecord(c.ID, r, at, had)
	s.digest.add(h)
}

func (s *Store) writeAssociation(a *Association) error {
	if _, ok := s.lookup(a.Source); !ok {
		return fmt.Errorf("%w: association source %s", ErrNotFound, a.Source)
	}
	if _, ok := s.lookup(a.Target); !ok {
		return fmt.Errorf("%w: association target %s", ErrNotFound, a.Target)
	}
	sh := s.writable(a.Source)
	edges := sh.out[a.Source]
	i, found := searchEdges(edges, a.Target, a.Type)
	e := edge{target: a.Target, typ: a.Type, strength: a.Strength}
	if found {
		old := edges[i].strength
		if math.Float32bits(old) == math.Float32bits(a.Strength) {
			return nil // same value: nothing changes but LastApplied
		}
		s.digest.sub(s.h.association(&Association{Source: a.Source, Target: a.Target, Type: a.Type, Strength: old}))
		next := slices.Clone(edges)
		next[i] = e
		sh.out[a.Source] = next
	} else {
		next := make([]edge, len(edges)+1)
		copy(next, edges[:i])
		next[i] = e
		copy(next[i+1:], edges[i:])
		sh.out[a.Source] = next
		s.in[a.Target] = append(s.in[a.Target], a.Source)
		s.assocs++
	}
	s.digest.add(s.h.association(a))
	return nil
}

func (s *Store) deleteConcept(id ConceptID) error {
	found, at, ok := s.locate(id)
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	r := found.records.at(at)
	sh := s.writable(id) // may clone the map; the location stays valid
	// Outgoing edges: drop them, and id from each target's reverse list.
	for _, e := range sh.out[id] {
		s.digest.sub(s.h.association(&Association{Source: id, Target: e.target, Type: e.typ, Strength: e.strength}))
		s.dropReverse(e.target, id)
	}
	s.assocs -= len(sh.out[id])
	delete(sh.out, id)

	// Incoming edges: cut the run of edges targeting id out of each source's
	// list. A source listed twice (two types) finds an empty run the second
	// time. Self-associations do not exist, so no source is id itself.
	for _, src := range s.in[id] {
		edges := s.edgesOf(src)
		lo, _ := searchEdges(edges, id, 0) // first edge with target >= id
		hi := lo
		for hi < len(edges) && edges[hi].target == id {
			s.digest.sub(s.h.association(&Association{Source: src, Target: id, Type: edges[hi].typ, Strength: edges[hi].strength}))
			hi++
		}
		if lo == hi {
			continue
		}
		s.assocs -= hi - lo
		srcShard := s.writable(src)
		if hi-lo == len(edges) {
			delete(srcShard.out, src)
			continue
		}
		next := make([]edge, 0, len(edges)-(hi-lo))
		next = append(next, edges[:lo]...)
		srcShard.out[src] = append(next, edges[hi:]...)
	}
	delete(s.in, id)

	s.digest.sub(s.h.concept(id, r))
	sh.deleteRecord(id, at)
	s.nConcepts--
	return nil
}

// dropReverse removes every occurrence of src from target's reverse list.
func (s *Store) dropReverse(target, src ConceptID) {
	list := slices.DeleteFunc(s.in[target], func(x ConceptID) bool { return x == src })
	if len(list) == 0 {
		delete(s.in, target)
		return
	}
	s.in[target] = list
}
