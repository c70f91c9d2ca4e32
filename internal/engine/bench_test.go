package engine

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/sutra/sutra-operator/internal/store"
	"github.com/sutra/sutra-operator/internal/wal"
)

// BenchmarkRecovery1M measures opening a node that holds 1,000,000
// concepts of 100 bytes: once by replaying the whole log, once from a
// snapshot. It reports milliseconds and records (or concepts) per second.
func BenchmarkRecovery1M(b *testing.B) {
	const n = 1_000_000
	dir := b.TempDir()
	o := Options{WAL: wal.Options{NoSync: true}, Logger: quiet(), CheckpointBytes: -1}
	e, _, err := Open(dir, o)
	if err != nil {
		b.Fatal(err)
	}
	content := make([]byte, 100)
	ops := make([]store.Op, 1000)
	for i := 0; i < n; i += len(ops) {
		for j := range ops {
			var id store.ConceptID
			binary.BigEndian.PutUint64(id[8:], uint64(i+j+1))
			ops[j] = store.Op{Type: store.OpWriteConcept, Concept: store.Concept{ID: id, Content: content, Strength: 1, Confidence: 1}}
		}
		if _, err := e.Write(ops); err != nil {
			b.Fatal(err)
		}
	}
	if err := e.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		e, rec, err := Open(dir, o)
		if err != nil {
			b.Fatal(err)
		}
		replay := time.Since(start)
		if rec.Replayed != n {
			b.Fatalf("replayed %d", rec.Replayed)
		}
		b.ReportMetric(float64(replay.Milliseconds()), "replay-open-ms")
		b.ReportMetric(float64(n)/replay.Seconds(), "replayed-records/s")
		if _, err := e.Checkpoint(); err != nil {
			b.Fatal(err)
		}
		_ = e.Close()
		start = time.Now()
		e, rec, err = Open(dir, o)
		if err != nil {
			b.Fatal(err)
		}
		snap := time.Since(start)
		if rec.SnapshotConcepts != n {
			b.Fatalf("snapshot restored %d concepts", rec.SnapshotConcepts)
		}
		b.ReportMetric(float64(snap.Milliseconds()), "snapshot-open-ms")
		_ = e.Close()
	}
}
