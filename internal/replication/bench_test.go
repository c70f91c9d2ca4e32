package replication

import (
	"context"
	"testing"
	"time"

	"github.com/sutra/sutra-operator/internal/engine"
	"github.com/sutra/sutra-operator/internal/wal"
)

// BenchmarkReplicaApply measures a replica on its own: frames of 500
// concepts of 100 bytes, as the leader sends them under batch load, are
// received, made durable with fsync in the replica's log and applied. It
// reports concepts/s, the figure that bounds how fast a replica can follow
// when it has its own disk and cores.
func BenchmarkReplicaApply(b *testing.B) {
	const perFrame = 500
	frames := (b.N + perFrame - 1) / perFrame
	s := &scriptStream{acks: make(chan Ack, 1), closed: make(chan struct{}), frames: []*Frame{helloFrame(1)}}
	content := make([]byte, 100)
	seq := uint64(1)
	for f := 0; f < frames; f++ {
		recs := make([]wal.Record, perFrame)
		for i := range recs {
			op := putOp(seq)
			op.Concept.Content = content
			recs[i] = wal.Record{Seq: seq, Epoch: 1, Time: time.Now().UnixNano(), Data: op.AppendBinary(nil)}
			seq++
		}
		s.frames = append(s.frames, &Frame{Entries: recs})
	}
	e, _, err := engine.Open(b.TempDir(), engine.Options{Logger: quiet(), CheckpointBytes: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = e.Close() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := NewFollower(e, func(context.Context, Start) (Stream, error) { return s, nil }, FollowerOptions{NodeID: "r", ClusterID: "c1", Logger: quiet()})
	b.ResetTimer()
	start := time.Now()
	go f.Run(ctx)
	want := uint64(frames * perFrame)
	for e.AppliedSeq() < want {
		time.Sleep(100 * time.Microsecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(want)/elapsed.Seconds(), "concepts/s")
}
