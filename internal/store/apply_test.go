package store

import (
	"errors"
	"math"
	"slices"
	"testing"
)

// checkInvariants recomputes everything Apply maintains incrementally and
// compares: association count, reverse index, adjacency order, Digest.
func checkInvariants(t testing.TB, s *Store) {
	t.Helper()
	s.mu.RLock()
	defer s.mu.RUnlock()
	var h hasher
	var sum digestSum
	n, nc := 0, 0
	reverse := map[ConceptID][]ConceptID{}
	for i := range s.shards {
		for id, l := range s.shards[i].concepts {
			r := s.shards[i].records.at(l)
			if shardIndex(id) != i {
				t.Fatalf("concept %s in shard %d, belongs in %d", id, i, shardIndex(id))
			}
			sum.add(h.concept(id, r))
			nc++
		}
	}
	if nc != s.nConcepts {
		t.Fatalf("concept count %d, shards hold %d", s.nConcepts, nc)
	}
	for i := range s.shards {
		for src, edges := range s.shards[i].out {
			if shardIndex(src) != i {
				t.Fatalf("adjacency of %s in shard %d, belongs in %d", src, i, shardIndex(src))
			}
			if len(edges) == 0 {
				t.Fatalf("source %s has an empty adjacency entry", src)
			}
			if _, ok := s.lookup(src); !ok {
				t.Fatalf("adjacency for missing source %s", src)
			}
			for j, e := range edges {
				if j > 0 && compareEdgeKey(edges[j-1], e.target, e.typ) >= 0 {
					t.Fatalf("adjacency of %s not strictly sorted at %d", src, j)
				}
				if _, ok := s.lookup(e.target); !ok {
					t.Fatalf("edge %s -> missing %s", src, e.target)
				}
				sum.add(h.association(&Association{Source: src, Target: e.target, Type: e.typ, Strength: e.strength}))
				reverse[e.target] = append(reverse[e.target], src)
				n++
			}
		}
	}
	if n != s.assocs {
		t.Fatalf("association count %d, adjacency holds %d", s.assocs, n)
	}
	if len(reverse) != len(s.in) {
		t.Fatalf("reverse index has %d targets, want %d", len(s.in), len(reverse))
	}
	for target, want := range reverse {
		got := slices.Clone(s.in[target])
		slices.SortFunc(got, compareIDs)
		slices.SortFunc(want, compareIDs)
		if !slices.Equal(got, want) {
			t.Fatalf("reverse index of %s = %v, want %v", target, got, want)
		}
	}
	if sum != s.digest {
		t.Fatalf("incremental digest %s, recomputed %s", s.digest.digest(), sum.digest())
	}
}

func TestApply(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		name  string
		setup []Op
		op    Op
		seq   uint64 // 0: LastApplied+1
		want  error
		check func(t *testing.T, s *Store)
	}{
		{
			name: "create concept",
			op: Op{Type: OpWriteConcept, Time: 100, Concept: Concept{
				ID: cid(1), Content: []byte("c"), Embedding: []float32{1, 2}, Strength: 0.5, Confidence: 0.25,
				Created: 7, Updated: 8, // ignored
			}},
			check: func(t *testing.T, s *Store) {
				want := Concept{ID: cid(1), Content: []byte("c"), Embedding: []float32{1, 2}, Strength: 0.5, Confidence: 0.25, Created: 100, Updated: 100}
				if got, ok := s.Get(cid(1)); !ok || !sameConcept(got, want) {
					t.Fatalf("Get = %+v, %v; want %+v", got, ok, want)
				}
				if st := s.Stats(); st != (Stats{ConceptCount: 1, LastApplied: 1}) {
					t.Fatalf("Stats = %+v", st)
				}
			},
		},
		{
			name:  "replace keeps Created and associations",
			setup: []Op{putOp(1, "old", 100), putOp(2, "x", 100), linkOp(1, 2, 0, 1), linkOp(2, 1, 0, 1)},
			op: Op{Type: OpWriteConcept, Time: 200, Concept: Concept{
				ID: cid(1), Content: []byte("new"), Strength: 1, Confidence: 1,
			}},
			check: func(t *testing.T, s *Store) {
				got, _ := s.Get(cid(1))
				want := Concept{ID: cid(1), Content: []byte("new"), Strength: 1, Confidence: 1, Created: 100, Updated: 200}
				if !sameConcept(got, want) {
					t.Fatalf("Get = %+v, want %+v", got, want)
				}
				if st := s.Stats(); st.ConceptCount != 2 || st.AssociationCount != 2 {
					t.Fatalf("Stats = %+v", st)
				}
			},
		},
		{
			name:  "replace drops embedding",
			setup: []Op{{Type: OpWriteConcept, Time: 1, Concept: Concept{ID: cid(1), Embedding: []float32{3}}}},
			op:    putOp(1, "", 2),
			check: func(t *testing.T, s *Store) {
				if got, _ := s.Get(cid(1)); got.Embedding != nil || got.Content != nil {
					t.Fatalf("Get = %+v, want no content and no embedding", got)
				}
			},
		},
		{
			name:  "association insert",
			setup: []Op{putOp(1, "a", 1), putOp(2, "b", 1)},
			op:    linkOp(1, 2, 5, 0.5),
			check: func(t *testing.T, s *Store) {
				want := []Association{{Source: cid(1), Target: cid(2), Type: 5, Strength: 0.5}}
				if got := s.Neighbors(cid(1), 0); !slices.Equal(got, want) {
					t.Fatalf("Neighbors = %+v, want %+v", got, want)
				}
				if got := s.Neighbors(cid(2), 0); got != nil {
					t.Fatalf("Neighbors(target) = %+v, want none (outgoing only)", got)
				}
			},
		},
		{
			name:  "association upsert replaces strength",
			setup: []Op{putOp(1, "a", 1), putOp(2, "b", 1), linkOp(1, 2, 5, 0.5), linkOp(1, 2, 6, 0.5)},
			op:    linkOp(1, 2, 5, 0.75),
			check: func(t *testing.T, s *Store) {
				want := []Association{
					{Source: cid(1), Target: cid(2), Type: 5, Strength: 0.75},
					{Source: cid(1), Target: cid(2), Type: 6, Strength: 0.5},
				}
				if got := s.Neighbors(cid(1), 0); !slices.Equal(got, want) {
					t.Fatalf("Neighbors = %+v, want %+v", got, want)
				}
				if st := s.Stats(); st.AssociationCount != 2 || st.LastApplied != 5 {
					t.Fatalf("Stats = %+v", st)
				}
			},
		},
		{
			name:  "association rewrite with same value advances LastApplied",
			setup: []Op{putOp(1, "a", 1), putOp(2, "b", 1), linkOp(1, 2, 5, 0.5)},
			op:    linkOp(1, 2, 5, 0.5),
			check: func(t *testing.T, s *Store) {
				if st := s.Stats(); st.AssociationCount != 1 || st.LastApplied != 4 {
					t.Fatalf("Stats = %+v", st)
				}
			},
		},
		{
			name:  "neighbors ordered by target then type, limited",
			setup: []Op{putOp(1, "", 1), putOp(2, "", 1), putOp(3, "", 1), putOp(4, "", 1), linkOp(1, 4, 1, 0), linkOp(1, 2, 9, 0), linkOp(1, 3, 0, 0)},
			op:    linkOp(1, 2, 3, 0),
			check: func(t *testing.T, s *Store) {
				var got []uint64
				for _, a := range s.Neighbors(cid(1), 0) {
					got = append(got, uint64(a.Target[15])*100+uint64(a.Type))
				}
				if want := []uint64{203, 209, 300, 401}; !slices.Equal(got, want) {
					t.Fatalf("Neighbors order (target*100+type) = %v, want %v", got, want)
				}
				if n := len(s.Neighbors(cid(1), 2)); n != 2 {
					t.Fatalf("Neighbors(limit 2) returned %d", n)
				}
				if n := len(s.Neighbors(cid(1), 10)); n != 4 {
					t.Fatalf("Neighbors(limit 10) returned %d", n)
				}
			},
		},
		{
			name: "delete cascades both directions",
			setup: []Op{
				putOp(1, "", 1), putOp(2, "", 1), putOp(3, "", 1), putOp(4, "", 1),
				linkOp(1, 2, 0, 1), linkOp(1, 2, 1, 1), linkOp(2, 3, 0, 1), linkOp(3, 2, 0, 1),
				linkOp(4, 2, 0, 1), linkOp(4, 3, 0, 1), linkOp(1, 3, 0, 1),
			},
			op: delOp(2),
			check: func(t *testing.T, s *Store) {
				if _, ok := s.Get(cid(2)); ok {
					t.Fatal("deleted concept still readable")
				}
				if st := s.Stats(); st.ConceptCount != 3 || st.AssociationCount != 2 {
					t.Fatalf("Stats = %+v, want 3 concepts and 2 associations", st)
				}
				for _, src := range []uint64{1, 3, 4} {
					for _, a := range s.Neighbors(cid(src), 0) {
						if a.Target == cid(2) {
							t.Fatalf("edge %d -> 2 survived", src)
						}
					}
				}
				if s.Neighbors(cid(2), 0) != nil {
					t.Fatal("deleted concept still has neighbors")
				}
			},
		},
		{
			name:  "recreate after delete starts fresh",
			setup: []Op{putOp(1, "", 10), putOp(2, "", 10), linkOp(1, 2, 0, 1), delOp(1)},
			op:    putOp(1, "again", 50),
			check: func(t *testing.T, s *Store) {
				got, _ := s.Get(cid(1))
				if got.Created != 50 || s.Neighbors(cid(1), 0) != nil {
					t.Fatalf("recreated concept %+v keeps old state", got)
				}
			},
		},
		{
			name:  "gap in sequence allowed",
			setup: []Op{putOp(1, "", 1)},
			op:    putOp(2, "", 1),
			seq:   10,
			check: func(t *testing.T, s *Store) {
				if s.LastApplied() != 10 {
					t.Fatalf("LastApplied = %d", s.LastApplied())
				}
			},
		},
		// Failures: the runner checks nothing changed.
		{name: "association missing source", setup: []Op{putOp(2, "", 1)}, op: linkOp(1, 2, 0, 1), want: ErrNotFound},
		{name: "association missing target", setup: []Op{putOp(1, "", 1)}, op: linkOp(1, 2, 0, 1), want: ErrNotFound},
		{name: "delete missing", setup: []Op{putOp(1, "", 1)}, op: delOp(2), want: ErrNotFound},
		{name: "seq equal to last applied", setup: []Op{putOp(1, "", 1)}, op: putOp(2, "", 1), seq: 1, want: ErrOutOfOrder},
		{name: "seq zero", op: putOp(2, "", 1), seq: 0, want: ErrOutOfOrder},
		{name: "seq below last applied", setup: []Op{putOp(1, "", 1), putOp(2, "", 1)}, op: putOp(3, "", 1), seq: 1, want: ErrOutOfOrder},
		{name: "unknown op type", setup: []Op{putOp(1, "", 1)}, op: Op{Type: 42}, want: ErrBadOp},
		{name: "NaN strength", setup: []Op{putOp(1, "", 1)}, op: Op{Type: OpWriteConcept, Concept: Concept{ID: cid(1), Strength: nan}}, want: ErrInvalidValue},
		{name: "self association", setup: []Op{putOp(1, "", 1)}, op: linkOp(1, 1, 0, 1), want: ErrInvalidValue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New()
			applyAll(t, s, tc.setup...)
			checkInvariants(t, s)
			seq := tc.seq
			if seq == 0 && tc.want != ErrOutOfOrder {
				seq = s.LastApplied() + 1
			}
			beforeStats, beforeDigest := s.Stats(), s.Digest()
			beforeC, beforeA := dump(t, s)

			err := s.Apply(seq, tc.op)
			checkInvariants(t, s)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("Apply error = %v, want %v", err, tc.want)
				}
				if st, d := s.Stats(), s.Digest(); st != beforeStats || d != beforeDigest {
					t.Fatalf("failed Apply changed Stats %+v -> %+v or Digest", beforeStats, st)
				}
				afterC, afterA := dump(t, s)
				if !slices.EqualFunc(afterC, beforeC, sameConcept) || !slices.Equal(afterA, beforeA) {
					t.Fatal("failed Apply changed the content")
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if s.LastApplied() != seq {
				t.Fatalf("LastApplied = %d, want %d", s.LastApplied(), seq)
			}
			tc.check(t, s)
		})
	}
}

func TestApplyAndGetDoNotAlias(t *testing.T) {
	s := New()
	op := Op{Type: OpWriteConcept, Time: 1, Concept: Concept{ID: cid(1), Content: []byte("abc"), Embedding: []float32{1}}}
	applyAll(t, s, op)
	op.Concept.Content[0] = 'X'
	op.Concept.Embedding[0] = 9
	got, _ := s.Get(cid(1))
	if string(got.Content) != "abc" || got.Embedding[0] != 1 {
		t.Fatalf("store shares the op's slices: %+v", got)
	}
	got.Content[0] = 'Y'
	got.Embedding[0] = 7
	again, _ := s.Get(cid(1))
	if string(again.Content) != "abc" || again.Embedding[0] != 1 {
		t.Fatalf("Get result shares the store's memory: %+v", again)
	}
}

// TestApplyRandomizedInvariants drives a small random workload and checks
// the incrementally maintained structures after every op.
func TestApplyRandomizedInvariants(t *testing.T) {
	s := New()
	rng := newRand(1)
	for i := 0; i < 3000; i++ {
		var op Op
		switch r := rng.next() % 10; {
		case r < 4:
			op = putOp(rng.next()%40, "v", int64(i))
		case r < 8:
			op = linkOp(rng.next()%40, rng.next()%40, AssocType(rng.next()%3), float32(rng.next()%4))
		default:
			op = delOp(rng.next() % 40)
		}
		err := s.Apply(uint64(i+1), op)
		if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrInvalidValue) {
			t.Fatalf("op %d: %v", i, err)
		}
		if i%50 == 0 {
			checkInvariants(t, s)
		}
	}
	checkInvariants(t, s)
}

// rand is a tiny deterministic generator (splitmix64), so tests need no
// seeding policy.
type rand struct{ x uint64 }

func newRand(seed uint64) *rand { return &rand{seed} }

func (r *rand) next() uint64 {
	r.x += 0x9e3779b97f4a7c15
	z := r.x
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
