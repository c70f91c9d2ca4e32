package store

import (
	"bytes"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var content100 = bytes.Repeat([]byte("0123456789"), 10)

// load applies n write-concept ops of 100-byte content to a new store.
func load(tb testing.TB, n int) *Store {
	s := New()
	op := Op{Type: OpWriteConcept, Concept: Concept{Content: content100, Strength: 1, Confidence: 1}}
	for i := 1; i <= n; i++ {
		op.Time = int64(i)
		op.Concept.ID = cid(uint64(i))
		if err := s.Apply(uint64(i), op); err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

func heapInuse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// residentKiB returns the process's resident set size from /proc (Linux),
// or 0 where that is not available.
func residentKiB() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return kb
		}
	}
	return 0
}

func BenchmarkApplyWriteConcept(b *testing.B) {
	b.Run("insert", func(b *testing.B) {
		s := New()
		op := Op{Type: OpWriteConcept, Concept: Concept{Content: content100, Strength: 1, Confidence: 1}}
		b.ReportAllocs()
		for i := 1; i <= b.N; i++ {
			op.Time = int64(i)
			op.Concept.ID = cid(uint64(i))
			if err := s.Apply(uint64(i), op); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("replace", func(b *testing.B) {
		const n = 1 << 14
		s := load(b, n)
		op := Op{Type: OpWriteConcept, Concept: Concept{Content: content100, Strength: 1, Confidence: 1}}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 1; i <= b.N; i++ {
			op.Time = int64(n + i)
			op.Concept.ID = cid(uint64(i%n + 1))
			if err := s.Apply(uint64(n+i), op); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkApplyWriteAssociation(b *testing.B) {
	const n = 1 << 14
	s := load(b, n)
	r := newRand(1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		src, dst := r.next()%n+1, r.next()%n+1
		if src == dst {
			dst = dst%n + 1
		}
		if err := s.Apply(uint64(n+i), linkOp(src, dst, AssocType(i%4), 1)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	const n = 1 << 17
	s := load(b, n)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := newRand(uint64(time.Now().UnixNano()))
		for pb.Next() {
			if _, ok := s.Get(cid(r.next()%n + 1)); !ok {
				b.Fatal("missing")
			}
		}
	})
}

// BenchmarkConceptHeap reports the heap a store of n concepts of 100
// bytes occupies per concept, at sizes where the arenas' last chunks and
// the maps' growth weigh differently.
func BenchmarkConceptHeap(b *testing.B) {
	for _, n := range []int{100_000, 300_000, 1_000_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for range b.N {
				before := heapInuse()
				s := load(b, n)
				after := heapInuse()
				b.ReportMetric(float64(after-before)/float64(n), "heap-bytes/concept")
				runtime.KeepAlive(s)
			}
		})
	}
}

// BenchmarkMillionConcepts loads 1,000,000 concepts of 100 bytes and
// reports the heap they occupy per concept. It then times a snapshot while
// a prober keeps taking the write lock, reporting the longest time a write
// would have waited (the snapshot's copy under the read lock), and times a
// restore.
func BenchmarkMillionConcepts(b *testing.B) {
	const n = 1_000_000
	for range b.N {
		before := heapInuse()
		s := load(b, n)
		after := heapInuse()
		b.ReportMetric(float64(after-before)/n, "heap-bytes/concept")
		b.ReportMetric(float64(after-before)/(1<<20), "heap-MiB")
		if kb := residentKiB(); kb > 0 {
			b.ReportMetric(float64(kb)/1024, "process-rss-MiB")
		}

		var buf bytes.Buffer
		buf.Grow(n * 160)
		var info SnapshotInfo
		var snapTime time.Duration
		wait := maxWriteLockWait(s, func() {
			t0 := time.Now()
			var err error
			info, err = s.WriteSnapshot(&buf)
			snapTime = time.Since(t0)
			if err != nil {
				b.Error(err)
			}
		})
		b.ReportMetric(float64(snapTime.Milliseconds()), "snapshot-ms")
		b.ReportMetric(float64(wait.Microseconds())/1e3, "max-write-wait-ms")
		b.ReportMetric(float64(info.Bytes)/(1<<20), "snapshot-MiB")

		t0 := time.Now()
		r, _, err := ReadSnapshot(&buf)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(t0).Milliseconds()), "restore-ms")
		runtime.KeepAlive(r)
		runtime.KeepAlive(s)
	}
}

// maxWriteLockWait runs f while a prober repeatedly takes and releases the
// store's write lock, as Apply does, and returns the longest wait. The
// prober does not allocate, so garbage-collector assists do not count.
func maxWriteLockWait(s *Store, f func()) time.Duration {
	var longest atomic.Int64
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			default:
			}
			t0 := time.Now()
			s.mu.Lock()
			s.mu.Unlock() //nolint:staticcheck // measuring the wait only
			if d := int64(time.Since(t0)); d > longest.Load() {
				longest.Store(d)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}()
	f()
	close(stop)
	<-stopped
	return time.Duration(longest.Load())
}

func BenchmarkWriteSnapshot(b *testing.B) {
	s := load(b, 1<<16)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		info, err := s.WriteSnapshot(io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(info.Bytes)
	}
}

// TestMemoryPerConcept guards the memory budget on a smaller load.
func TestMemoryPerConcept(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("memory figure needs a full, uninstrumented run")
	}
	const n = 200_000
	before := heapInuse()
	s := load(t, n)
	per := float64(heapInuse()-before) / n
	runtime.KeepAlive(s)
	t.Logf("%.0f heap bytes per concept of 100 bytes", per)
	if per > 260 {
		t.Fatalf("%.0f heap bytes per concept, budget 260", per)
	}
}
