package store

import (
	"math"
	"testing"
)

// finalStateOps returns ops that build one fixed state. Every concept is
// written once with its own time, so any order that writes endpoints before
// associations reaches the same state.
func finalStateOps() (concepts, assocs []Op) {
	for i := uint64(1); i <= 20; i++ {
		op := putOp(i, string(rune('a'+i)), int64(1000+i))
		if i%3 == 0 {
			op.Concept.Embedding = []float32{float32(i), -1, 0.5}
		}
		concepts = append(concepts, op)
	}
	for i := uint64(1); i <= 20; i++ {
		assocs = append(assocs, linkOp(i, i%20+1, AssocType(i%2), float32(i)/10))
		assocs = append(assocs, linkOp(i%20+1, i, 7, 1))
	}
	return concepts, assocs
}

func shuffled(ops []Op, seed uint64) []Op {
	out := append([]Op(nil), ops...)
	r := newRand(seed)
	for i := len(out) - 1; i > 0; i-- {
		j := int(r.next() % uint64(i+1))
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func TestDigestOrderIndependent(t *testing.T) {
	concepts, assocs := finalStateOps()

	ref := New()
	applyAll(t, ref, concepts...)
	applyAll(t, ref, assocs...)
	want := ref.Digest()

	routes := map[string]func(s *Store){
		"shuffled": func(s *Store) {
			applyAll(t, s, shuffled(concepts, 7)...)
			applyAll(t, s, shuffled(assocs, 8)...)
		},
		"reversed": func(s *Store) {
			for i := len(concepts) - 1; i >= 0; i-- {
				applyAll(t, s, concepts[i])
			}
			for i := len(assocs) - 1; i >= 0; i-- {
				applyAll(t, s, assocs[i])
			}
		},
		"detours: overwritten values and a deleted extra concept": func(s *Store) {
			extra := putOp(99, "temporary", 1)
			applyAll(t, s, extra)
			for _, op := range shuffled(concepts, 3) {
				detour := op
				detour.Concept.Content = []byte("draft")
				detour.Concept.Strength = 9
				applyAll(t, s, detour, op) // same Time: Created and Updated end equal
			}
			for _, op := range shuffled(assocs, 4) {
				detour := op
				detour.Association.Strength = -1
				applyAll(t, s, detour, op)
				side := op
				side.Association.Target = cid(99)
				applyAll(t, s, side) // removed again by the delete below
			}
			applyAll(t, s, delOp(99))
		},
	}
	for name, route := range routes {
		t.Run(name, func(t *testing.T) {
			s := New()
			route(s)
			checkInvariants(t, s)
			if got := s.Digest(); got != want {
				t.Fatalf("Digest = %s, want %s", got, want)
			}
		})
	}
}

func TestDigestDistinguishesContent(t *testing.T) {
	base := func() []Op {
		c := putOp(1, "content", 10)
		c.Concept.Embedding = []float32{1, 2}
		return []Op{c, putOp(2, "other", 10), linkOp(1, 2, 3, 0.5)}
	}
	edit := func(f func(ops []Op)) []Op {
		ops := base()
		f(ops)
		return ops
	}
	variants := map[string][]Op{
		"base":               base(),
		"content":            edit(func(o []Op) { o[0].Concept.Content = []byte("contenT") }),
		"no content":         edit(func(o []Op) { o[0].Concept.Content = nil }),
		"embedding value":    edit(func(o []Op) { o[0].Concept.Embedding = []float32{1, 3} }),
		"embedding length":   edit(func(o []Op) { o[0].Concept.Embedding = []float32{1, 2, 0} }),
		"no embedding":       edit(func(o []Op) { o[0].Concept.Embedding = nil }),
		"zero strength":      edit(func(o []Op) { o[1].Concept.Strength = 0 }),
		"negative zero":      edit(func(o []Op) { o[1].Concept.Strength = float32(math.Copysign(0, -1)) }),
		"strength":           edit(func(o []Op) { o[0].Concept.Strength = 0.51 }),
		"confidence":         edit(func(o []Op) { o[0].Concept.Confidence = 0.91 }),
		"time":               edit(func(o []Op) { o[0].Time = 11 }),
		"id":                 edit(func(o []Op) { o[1].Concept.ID = cid(3); o[2].Association.Target = cid(3) }),
		"association type":   edit(func(o []Op) { o[2].Association.Type = 4 }),
		"association weight": edit(func(o []Op) { o[2].Association.Strength = 0.25 }),
		"association flip":   edit(func(o []Op) { o[2].Association.Source, o[2].Association.Target = cid(2), cid(1) }),
		"no association":     edit(func(o []Op) { o[2] = putOp(2, "other", 10) }),
		"content moved":      edit(func(o []Op) { o[0].Concept.Content, o[1].Concept.Content = o[1].Concept.Content, o[0].Concept.Content }),
	}
	seen := map[Digest]string{}
	for name, ops := range variants {
		s := New()
		applyAll(t, s, ops...)
		d := s.Digest()
		if prev, dup := seen[d]; dup {
			t.Errorf("variants %q and %q have the same digest %s", prev, name, d)
		}
		seen[d] = name
	}
}

func TestDigestEmptyAndBackToEmpty(t *testing.T) {
	s := New()
	if s.Digest() != (Digest{}) {
		t.Fatalf("empty store digest = %s", s.Digest())
	}
	applyAll(t, s, putOp(1, "a", 1), putOp(2, "b", 1), linkOp(1, 2, 0, 1), linkOp(2, 1, 0, 1))
	if s.Digest() == (Digest{}) {
		t.Fatal("non-empty store has the zero digest")
	}
	applyAll(t, s, delOp(1), delOp(2))
	if s.Digest() != (Digest{}) {
		t.Fatalf("digest after deleting everything = %s", s.Digest())
	}
	if got := (Digest{0: 0xab, 31: 0x01}).String(); len(got) != 64 || got[:2] != "ab" || got[62:] != "01" {
		t.Fatalf("Digest.String() = %q", got)
	}
}
