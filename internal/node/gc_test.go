package node

import "testing"

// runtimeGoal is the Go runtime's heap goal for a live heap, its other
// roots and a GOGC percentage (runtime/mgcpacer.go).
func runtimeGoal(live, roots uint64, percent int) uint64 {
	return max(live+(live+roots)*uint64(percent)/100, gcHeapMinimum*uint64(percent)/100)
}

func TestGCPercentFor(t *testing.T) {
	const floor = 16 << 20
	for _, c := range []struct {
		live, roots uint64
		percent     int
		want        int
	}{
		{0, 0, 25, 25},               // nothing measured yet
		{64 << 20, 0, 25, 25},        // a quarter of 64 MiB is the floor
		{256 << 20, 3 << 20, 25, 25}, // large heaps keep the percentage
		{32 << 20, 0, 25, 50},        // 16 MiB of 32
		{8 << 20, 0, 25, 200},        // 16 MiB of 8
		{5 << 20, 0, 25, 320},        // rounded up, never below the floor
		{8 << 20, 0, 300, 300},       // a percentage above the floor is kept
		{2 << 20, 6 << 20, 25, 200},  // the floor is a share of heap and stacks together
		{40 << 20, 1 << 20, 25, 40},  // 16 MiB of 41
		{48 << 20, 16 << 20, 25, 25}, // the heap's and its roots' quarter make the floor
		{3 << 20, 0, 25, 475},        // below 4 MiB the runtime's minimum sets the goal
		{1 << 20, 0, 25, 425},        // a new node: 17 MiB, not 64
		{1, 0, 25, 401},              // 1 byte live: the floor, not 1.6 TB
	} {
		got := gcPercentFor(c.live, c.roots, c.percent, floor)
		if got != c.want {
			t.Errorf("gcPercentFor(%d, %d, %d) = %d, want %d", c.live, c.roots, c.percent, got, c.want)
		}
		if c.live == 0 || got == c.percent {
			continue
		}
		// A raised percentage lets the heap grow by the floor, give or take
		// the one percentage step the rounding up adds.
		step := max(c.live+c.roots, gcHeapMinimum) / 100
		if grow := runtimeGoal(c.live, c.roots, got) - c.live; grow < floor || grow > floor+step {
			t.Errorf("gcPercentFor(%d, %d, %d) = %d lets the heap grow by %d, want %d", c.live, c.roots, c.percent, got, grow, floor)
		}
	}
}
