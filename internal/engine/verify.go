package engine

import (
	"sync"

	"github.com/sutra/sutra-operator/internal/store"
)

// Continuous verification: the engine notes its store's digest at the end
// of each write that holds a multiple of Options.VerifyEvery, on a leader
// and on a replica alike. Apply is deterministic, so two nodes that
// applied the same records hold the same digest at the same sequence; the
// replication stream carries the leader's newest one and the replica
// compares it with its own (internal/replication). The digest is kept
// current by the store in O(1) per change, so noting it costs nothing
// measurable.

// digestRingSize is how many checkpoints a node remembers: enough to cover
// a replica that lags the leader by many intervals.
const digestRingSize = 256

// Checkpoint is the store's digest after applying Seq.
type Checkpoint struct {
	Seq    uint64
	Digest store.Digest
}

type digestRing struct {
	mu   sync.Mutex
	ring [digestRingSize]Checkpoint
	next int
}

func (r *digestRing) add(c Checkpoint) {
	r.mu.Lock()
	r.ring[r.next%digestRingSize] = c
	r.next++
	r.mu.Unlock()
}

func (r *digestRing) reset() {
	r.mu.Lock()
	r.ring, r.next = [digestRingSize]Checkpoint{}, 0
	r.mu.Unlock()
}

// digester is what note reads the digest from: a store, or a transaction
// on it (store.Tx) while a write is being applied.
type digester interface{ Digest() store.Digest }

// note is told the end of every write applied, in order; it records the
// digest when the write holds a multiple of VerifyEvery (the write's
// sequences are those after the previous write's end). The checkpoint is
// thus the end of a write, the same on every node that applied the same
// log, and never a state in the middle of a write.
func (e *Engine) note(st digester, end uint64) {
	v := e.opts.VerifyEvery
	prev := e.noted.Swap(end)
	if v > 0 && end/v > prev/v {
		e.digests.add(Checkpoint{Seq: end, Digest: st.Digest()})
	}
}

// DigestAt returns the store's digest after applying seq, if seq is a
// checkpoint this node still remembers.
func (e *Engine) DigestAt(seq uint64) (store.Digest, bool) {
	r := &e.digests
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.ring {
		if c.Seq == seq && seq != 0 {
			return c.Digest, true
		}
	}
	return store.Digest{}, false
}

// LatestCheckpoint returns the newest checkpoint, ok false when there is
// none yet.
func (e *Engine) LatestCheckpoint() (Checkpoint, bool) {
	r := &e.digests
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next == 0 {
		return Checkpoint{}, false
	}
	return r.ring[(r.next-1)%digestRingSize], true
}
