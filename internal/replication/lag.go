package replication

import (
	"sort"
	"sync"
	"time"
)

// lagSampler remembers when sequences were written, on the leader's clock,
// in a ring of (sequence, time) samples at most one per millisecond.
type lagSampler struct {
	mu   sync.Mutex
	ring []sample
	head int // index of the next write
	n    int
}

type sample struct {
	seq uint64
	at  int64 // Unix nanoseconds
}

func newLagSampler(size int) *lagSampler { return &lagSampler{ring: make([]sample, size)} }

// record notes that every sequence up to last was written by time at.
func (s *lagSampler) record(last uint64, at time.Time) {
	ns := at.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n > 0 {
		prev := &s.ring[(s.head-1+len(s.ring))%len(s.ring)]
		if last <= prev.seq {
			return
		}
		if ns-prev.at < int64(time.Millisecond) {
			prev.seq = last // same millisecond: widen the newest sample
			return
		}
	}
	s.ring[s.head] = sample{seq: last, at: ns}
	s.head = (s.head + 1) % len(s.ring)
	if s.n < len(s.ring) {
		s.n++
	}
}

// writtenAt returns when sequence seq was written: the time of the oldest
// sample covering it. ok is false when no sample covers it (it was never
// written, or before the sampler started). A sequence older than every
// sample gets the oldest sample's time.
func (s *lagSampler) writtenAt(seq uint64) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == 0 {
		return 0, false
	}
	start := (s.head - s.n + len(s.ring)) % len(s.ring)
	at := func(i int) sample { return s.ring[(start+i)%len(s.ring)] }
	i := sort.Search(s.n, func(i int) bool { return at(i).seq >= seq })
	if i == s.n {
		return 0, false
	}
	return at(i).at, true
}

// lagMs is how long ago the oldest entry after applied was written, or 0
// when the replica has everything up to leaderSeq.
func (s *lagSampler) lagMs(applied, leaderSeq uint64, now time.Time) uint64 {
	if applied >= leaderSeq {
		return 0
	}
	at, ok := s.writtenAt(applied + 1)
	if !ok {
		return 0
	}
	d := now.UnixNano() - at
	if d <= 0 {
		return 0
	}
	return uint64(d / int64(time.Millisecond))
}
