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

// gcHeapMinimum is the Go runtime's least heap goal at GOGC 100
// (runtime.defaultHeapMinimum). The runtime scales it by GOGC, so a
// percentage raised for a small heap raises it too.
const gcHeapMinimum = 4 << 20

// gcPercentFor is the collector's target for a live heap and the other
// roots it scans (goroutine stacks and globals): percent, raised so that
// the heap may grow by floor bytes, and no further. The runtime's goal is
// the larger of live + (live + roots) × GOGC/100 and gcHeapMinimum ×
// GOGC/100, so a raised percentage is a share of live and roots together
// and is capped where the minimum would pass live + floor: a new node with
// 1 MB live was otherwise allowed a heap of 64 MB.
func gcPercentFor(live, roots uint64, percent int, floor uint64) int {
	if live == 0 || uint64(percent)*live/100 >= floor {
		return percent
	}
	base := live + roots
	p := (floor*100 + base - 1) / base
	p = min(p, ((live+floor)*100+gcHeapMinimum-1)/gcHeapMinimum)
	return max(int(p), percent)
}

// paceGC keeps the collector's target at gcPercentFor the live heap,
// re-read every interval, until ctx ends.
func paceGC(ctx context.Context, percent int, interval time.Duration) {
	sample := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}}
	set := 0
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		rtmetrics.Read(sample)
		if v, ok := uint64s(sample); ok {
			if p := gcPercentFor(v[0], v[1]+v[2], percent, gcHeadroomFloor); p != set {
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

// uint64s returns the samples' values, ok false if any is not a uint64.
func uint64s(samples []rtmetrics.Sample) ([]uint64, bool) {
	v := make([]uint64, len(samples))
	for i, s := range samples {
		if s.Value.Kind() != rtmetrics.KindUint64 {
			return nil, false
		}
		v[i] = s.Value.Uint64()
	}
	return v, true
}
