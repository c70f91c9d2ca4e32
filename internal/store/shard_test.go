package store

import (
	"fmt"
	"maps"
	"testing"
)

// viewContent copies what a frozen view holds, for later comparison.
func viewContent(views []frozenView) (map[ConceptID]record, map[ConceptID]int) {
	cs := map[ConceptID]record{}
	outs := map[ConceptID]int{}
	for _, v := range views {
		for id, l := range v.concepts {
			cs[id] = v.record(l)
		}
		for id, e := range v.out {
			outs[id] = len(e)
		}
	}
	return cs, outs
}

func TestFreezeKeepsViewsWhileWritesContinue(t *testing.T) {
	s := New()
	for i := uint64(1); i <= 600; i++ {
		applyAll(t, s, putOp(i, "v1", 1))
	}
	for i := uint64(1); i < 600; i++ {
		applyAll(t, s, linkOp(i, i+1, 0, 1))
	}
	infoA, viewsA := s.freeze()
	wantCA, wantOA := viewContent(viewsA)

	// Writes during freeze A touch every shard: replace, insert, link, delete.
	for i := uint64(1); i <= 600; i += 2 {
		applyAll(t, s, putOp(i, "v2", 2), putOp(1000+i, "new", 2), linkOp(i+1, i, 1, 1))
	}
	applyAll(t, s, delOp(300))

	infoB, viewsB := s.freeze() // nested: A still collecting
	wantCB, wantOB := viewContent(viewsB)
	for i := uint64(2); i <= 600; i += 2 {
		applyAll(t, s, putOp(i, "v3", 3), delOp(1000+i-1))
	}
	s.thaw() // A done; B still frozen
	for i := uint64(1); i <= 600; i += 3 {
		if i != 300 {
			applyAll(t, s, putOp(i, "v4", 4))
		}
	}

	for name, tc := range map[string]struct {
		views []frozenView
		wantC map[ConceptID]record
		wantO map[ConceptID]int
		info  SnapshotInfo
	}{"A": {viewsA, wantCA, wantOA, infoA}, "B": {viewsB, wantCB, wantOB, infoB}} {
		gotC, gotO := viewContent(tc.views)
		if !maps.Equal(gotC, tc.wantC) || !maps.Equal(gotO, tc.wantO) {
			t.Fatalf("frozen view %s changed under later writes", name)
		}
		if len(gotC) != tc.info.Concepts {
			t.Fatalf("view %s holds %d concepts, info says %d", name, len(gotC), tc.info.Concepts)
		}
	}
	s.thaw()
	if s.freezers != 0 {
		t.Fatalf("freezers = %d after thawing both", s.freezers)
	}
	// Thawed: a write modifies its shard in place instead of cloning.
	sh := &s.shards[shardIndex(cid(7))]
	before := fmt.Sprintf("%p", sh.concepts)
	applyAll(t, s, putOp(7, "v5", 5))
	if after := fmt.Sprintf("%p", sh.concepts); after != before {
		t.Fatal("write after thaw cloned its shard")
	}
	checkInvariants(t, s)
}

func TestShardIndexSpreadsSequentialIDs(t *testing.T) {
	const n = 256 * 200
	var counts [shardCount]int
	for i := uint64(0); i < n; i++ {
		counts[shardIndex(cid(i))]++
		var timePrefixed ConceptID // time-ordered IDs: varying prefix, constant tail
		timePrefixed[0], timePrefixed[1], timePrefixed[2] = byte(i>>16), byte(i>>8), byte(i)
		counts[shardIndex(timePrefixed)]++
	}
	for i, c := range counts {
		if c < 2*n/shardCount/2 || c > 2*n/shardCount*3/2 {
			t.Fatalf("shard %d holds %d of %d IDs, mean %d", i, c, 2*n, 2*n/shardCount)
		}
	}
}
