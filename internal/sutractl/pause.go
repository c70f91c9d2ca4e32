package sutractl

import (
	"syscall"
	"time"
)

// pause sleeps for d. The Go runtime's timers wake a process with nothing
// else to do no sooner than a millisecond later (its poller waits in whole
// milliseconds), so a pause below that sleeps in the kernel instead: a
// 200 µs poll of a marker then polls every 200 µs plus the timer slack,
// not every 1.1 ms. The goroutine holds its thread meanwhile.
func pause(d time.Duration) {
	if d <= 0 || d >= 2*time.Millisecond {
		time.Sleep(d)
		return
	}
	ts := syscall.NsecToTimespec(int64(d))
	for {
		var rest syscall.Timespec
		if err := syscall.Nanosleep(&ts, &rest); err != syscall.EINTR {
			return
		}
		ts = rest
	}
}
