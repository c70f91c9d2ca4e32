package store

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// Overwrites and deletes leave dead space that compaction reclaims, and
// every live concept reads back as last written throughout.
func TestArenaCompactsAndKeepsRecords(t *testing.T) {
	s := New()
	want := map[uint64]string{}
	for round := 0; round < 40; round++ {
		for n := uint64(1); n <= 2000; n++ {
			switch {
			case round > 0 && n%7 == uint64(round%7):
				if _, ok := want[n]; ok {
					applyAll(t, s, delOp(n))
					delete(want, n)
				}
			default:
				c := fmt.Sprintf("round %d concept %d %s", round, n, strings.Repeat("x", int(n%97)))
				applyAll(t, s, putOp(n, c, int64(round)))
				want[n] = c
			}
		}
	}
	var live, dead, chunks int
	for i := range s.shards {
		a := &s.shards[i].records
		live, dead, chunks = live+a.live, dead+a.dead, chunks+len(a.chunks)
		if a.wasteful() {
			t.Fatalf("shard %d left uncompacted: %d live, %d dead bytes", i, a.live, a.dead)
		}
	}
	if dead > live/2+shardCount*compactMin {
		t.Fatalf("%d dead bytes against %d live: compaction did not run", dead, live)
	}
	for n, c := range want {
		got, ok := s.Get(cid(n))
		if !ok || string(got.Content) != c {
			t.Fatalf("concept %d: %q %v, want %q", n, got.Content, ok, c)
		}
	}
	if s.Stats().ConceptCount != len(want) {
		t.Fatalf("count %d, want %d", s.Stats().ConceptCount, len(want))
	}
	checkInvariants(t, s)
	t.Logf("%d concepts: %d live bytes, %d dead, %d chunks", len(want), live, dead, chunks)
}

// A snapshot taken while its shards are rewritten and compacted still
// writes the state of its instant.
func TestSnapshotDuringCompaction(t *testing.T) {
	s := New()
	for n := uint64(1); n <= 3000; n++ {
		applyAll(t, s, putOp(n, fmt.Sprintf("first %d", n), 1))
	}
	want := s.Digest()
	info, views := s.freeze()
	for round := 0; round < 10; round++ { // enough dead space to compact every shard
		for n := uint64(1); n <= 3000; n++ {
			applyAll(t, s, putOp(n, fmt.Sprintf("round %d %d %s", round, n, strings.Repeat("y", 50)), 2))
		}
	}
	got, _ := viewContent(views)
	s.thaw()
	if len(got) != info.Concepts {
		t.Fatalf("view holds %d concepts, want %d", len(got), info.Concepts)
	}
	for id, r := range got {
		c := r.concept(id)
		if !strings.HasPrefix(string(c.Content), "first ") {
			t.Fatalf("frozen view of %s reads %q", id, c.Content)
		}
	}
	var buf bytes.Buffer
	if _, err := s.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	restored, _, err := ReadSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if restored.Digest() != s.Digest() || s.Digest() == want {
		t.Fatal("snapshot after compaction does not restore the current state")
	}
	checkInvariants(t, s)
	checkInvariants(t, restored)
}

// A record larger than a chunk gets a chunk of its own.
func TestArenaLargeRecord(t *testing.T) {
	s := New()
	big := strings.Repeat("z", 3*maxChunk)
	applyAll(t, s, putOp(1, "small", 1), putOp(2, big, 1), putOp(3, "after", 1))
	for n, c := range map[uint64]string{1: "small", 2: big, 3: "after"} {
		got, ok := s.Get(cid(n))
		if !ok || string(got.Content) != c {
			t.Fatalf("concept %d: %d bytes %v", n, len(got.Content), ok)
		}
	}
	checkInvariants(t, s)
}

// An arena's chunks stay in proportion to what it holds: the unused end of
// its open chunk is at most a sixteenth of its records (or one smallest
// chunk), and a large record in between small ones leaves the open chunk
// open instead of abandoning its unused end.
func TestArenaChunksFitTheirRecords(t *testing.T) {
	var a arena
	small := bytes.Repeat([]byte{1}, 136)
	for i := range 20_000 {
		a.put(small)
		if i%1000 == 999 {
			if unused := arenaUnused(&a); unused > max(a.live/16, minChunk) {
				t.Fatalf("%d records: %d bytes unused in %d chunks, more than a sixteenth of %d", i+1, unused, len(a.chunks), a.live)
			}
		}
	}
	before := arenaUnused(&a)
	first := a.put(small)
	a.put(bytes.Repeat([]byte{2}, maxChunk/4))
	second := a.put(small)
	if first>>32 != second>>32 {
		t.Fatalf("the small records around a large one are in chunks %d and %d", first>>32, second>>32)
	}
	if got := arenaUnused(&a); got > before {
		t.Fatalf("unused bytes grew from %d to %d around a large record", before, got)
	}
	if off := int(uint32(second)); !bytes.Equal(a.chunks[second>>32][off:off+len(small)], small) {
		t.Fatal("the record after the large one reads back wrong")
	}
}

// arenaUnused is the bytes of a's chunks that hold no record, live or dead.
func arenaUnused(a *arena) int {
	n := -a.live - a.dead
	for _, c := range a.chunks {
		n += len(c)
	}
	return n
}
