package store

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"testing"
)

// cid returns a deterministic ConceptID for n.
func cid(n uint64) ConceptID {
	var id ConceptID
	binary.BigEndian.PutUint64(id[8:], n)
	id[0] = 0xc0
	return id
}

func putOp(n uint64, content string, t int64) Op {
	return Op{Type: OpWriteConcept, Time: t, Concept: Concept{
		ID: cid(n), Content: []byte(content), Strength: 0.5, Confidence: 0.9,
	}}
}

func linkOp(src, dst uint64, typ AssocType, strength float32) Op {
	return Op{Type: OpWriteAssociation, Time: 1, Association: Association{
		Source: cid(src), Target: cid(dst), Type: typ, Strength: strength,
	}}
}

func delOp(n uint64) Op { return Op{Type: OpDeleteConcept, Time: 1, ID: cid(n)} }

// applyAll applies ops with sequences LastApplied+1, +2, ... and fails the
// test on any error.
func applyAll(t testing.TB, s *Store, ops ...Op) {
	t.Helper()
	for _, op := range ops {
		seq := s.LastApplied() + 1
		if err := s.Apply(seq, op); err != nil {
			t.Fatalf("Apply(%d, %s): %v", seq, op.Type, err)
		}
	}
}

// sameConcept compares concepts treating nil and empty slices alike and
// floats by bit pattern.
func sameConcept(a, b Concept) bool {
	return a.ID == b.ID && bytes.Equal(a.Content, b.Content) &&
		slices.EqualFunc(a.Embedding, b.Embedding, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) }) &&
		math.Float32bits(a.Strength) == math.Float32bits(b.Strength) &&
		math.Float32bits(a.Confidence) == math.Float32bits(b.Confidence) &&
		a.Created == b.Created && a.Updated == b.Updated
}

// sameOp compares the fields that op.Type uses, as the codec does.
func sameOp(a, b Op) bool {
	if a.Type != b.Type || a.Time != b.Time {
		return false
	}
	switch a.Type {
	case OpWriteConcept:
		ca, cb := a.Concept, b.Concept
		ca.Created, ca.Updated, cb.Created, cb.Updated = 0, 0, 0, 0
		return sameConcept(ca, cb)
	case OpWriteAssociation:
		x, y := a.Association, b.Association
		return x.Source == y.Source && x.Target == y.Target && x.Type == y.Type &&
			math.Float32bits(x.Strength) == math.Float32bits(y.Strength)
	case OpDeleteConcept:
		return a.ID == b.ID
	}
	return true
}

// dump returns every concept and association of s in a canonical order, to
// compare two stores field by field.
func dump(t testing.TB, s *Store) ([]Concept, []Association) {
	t.Helper()
	s.mu.RLock()
	var ids []ConceptID
	for i := range s.shards {
		for id := range s.shards[i].concepts {
			ids = append(ids, id)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(ids, compareIDs)
	var cs []Concept
	var as []Association
	for _, id := range ids {
		c, ok := s.Get(id)
		if !ok {
			t.Fatalf("concept %s vanished", id)
		}
		cs = append(cs, c)
		as = append(as, s.Neighbors(id, 0)...)
	}
	return cs, as
}
