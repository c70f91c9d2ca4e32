package wal

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkDurableAppend measures fsync-durable appends of 100-byte
// payloads with concurrent writers sharing group commits. It reports
// writes/s and per-write latency percentiles in microseconds.
func BenchmarkDurableAppend(b *testing.B) {
	for _, writers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			var syncs, records atomic.Int64
			var syncTime atomic.Int64
			l := openT(b, b.TempDir(), Options{OnSync: func(n, _ int, d time.Duration) {
				syncs.Add(1)
				records.Add(int64(n))
				syncTime.Add(int64(d))
			}})
			defer func() { _ = l.Close() }()
			data := make([]byte, 100)
			lat := make([][]time.Duration, writers)
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for w := 0; w < writers; w++ {
				n := b.N / writers
				if w < b.N%writers {
					n++
				}
				lat[w] = make([]time.Duration, 0, n)
				wg.Add(1)
				go func(w, n int) {
					defer wg.Done()
					for i := 0; i < n; i++ {
						t0 := time.Now()
						if _, err := l.Append(Entry{Epoch: 1, Time: t0.UnixNano(), Data: data}); err != nil {
							b.Error(err)
							return
						}
						lat[w] = append(lat[w], time.Since(t0))
					}
				}(w, n)
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			reportLatency(b, lat, elapsed)
			if n := syncs.Load(); n > 0 {
				b.ReportMetric(float64(records.Load())/float64(n), "records/fsync")
				b.ReportMetric(float64(time.Duration(syncTime.Load()/n).Microseconds()), "fsync-µs")
			}
		})
	}
}

func reportLatency(b *testing.B, per [][]time.Duration, elapsed time.Duration) {
	var all []time.Duration
	for _, l := range per {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) }
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "writes/s")
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

// BenchmarkReplay measures reading back a log of 100-byte records from its
// segments, the recovery path: Open (which verifies every record) plus a
// full sequential read. It reports records/s over both.
func BenchmarkReplay(b *testing.B) {
	const records = 1_000_000
	dir := b.TempDir()
	l := openT(b, dir, Options{NoSync: true})
	data := make([]byte, 100)
	batch := make([]Entry, 1000)
	for i := range batch {
		batch[i] = Entry{Epoch: 1, Time: 1, Data: data}
	}
	for i := 0; i < records/len(batch); i++ {
		if _, err := l.Append(batch...); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		l := openT(b, dir, Options{})
		opened := time.Since(start)
		r, err := l.ReadFrom(1)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			_, ok, err := r.Next()
			if err != nil {
				b.Fatal(err)
			}
			if !ok {
				break
			}
			n++
		}
		if n != records {
			b.Fatalf("read %d records", n)
		}
		_ = r.Close()
		_ = l.Close()
		total := time.Since(start)
		b.ReportMetric(float64(records)/total.Seconds(), "records/s")
		b.ReportMetric(float64(opened.Milliseconds()), "open-ms")
	}
}
