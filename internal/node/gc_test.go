package node

import "testing"

func TestGCPercentFor(t *testing.T) {
	const floor = 16 << 20
	for _, c := range []struct {
		live    uint64
		percent int
		want    int
	}{
		{0, 25, 25},            // nothing measured yet
		{64 << 20, 25, 25},     // a quarter of 64 MiB is the floor
		{256 << 20, 25, 25},    // large heaps keep the percentage
		{32 << 20, 25, 50},     // 16 MiB of 32
		{4 << 20, 25, 400},     // a small heap may grow by the floor
		{3 << 20, 25, 534},     // rounded up, never below the floor
		{8 << 20, 300, 300},    // a percentage above the floor is kept
		{1, 25, 1_677_721_600}, // 1 byte live: the floor in percent of it
	} {
		if got := gcPercentFor(c.live, c.percent, floor); got != c.want {
			t.Errorf("gcPercentFor(%d, %d) = %d, want %d", c.live, c.percent, got, c.want)
		}
		if got := gcPercentFor(c.live, c.percent, floor); c.live > 0 && uint64(got)*c.live/100 < floor && got != c.percent {
			t.Errorf("gcPercentFor(%d, %d) = %d leaves less than the floor", c.live, c.percent, got)
		}
	}
}
