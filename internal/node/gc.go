package node

import (
	"context"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"time"
)

// gcHeadroomFloor is the least the heap may grow between collections. A
// percentage of a small live heap (a new node, a small data set) is a few
// hundred kilobytes: the collector would then run every few hundred writes
// and cost a busy node more CPU than the memory it saves.
const gcHeadroomFloor = 16 << 20

// gcPercentFor is the collector's target for a live heap: percent of it,
// raised so that the heap may grow by at least floor bytes.
func gcPercentFor(live uint64, percent int, floor uint64) int {
	if live == 0 || uint64(percent)*live/100 >= floor {
		return percent
	}
	return int((floor*100 + live - 1) / live)
}

// paceGC keeps the collector's target at gcPercentFor the live heap,
// re-read every interval, until ctx ends.
func paceGC(ctx context.Context, percent int, interval time.Duration) {
	sample := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	set := 0
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		rtmetrics.Read(sample)
		if sample[0].Value.Kind() == rtmetrics.KindUint64 {
			if p := gcPercentFor(sample[0].Value.Uint64(), percent, gcHeadroomFloor); p != set {
				debug.SetGCPercent(p)
				set = p
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
