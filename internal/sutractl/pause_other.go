//go:build !unix

package sutractl

import "time"

// pause sleeps for d (see pause_unix.go).
func pause(d time.Duration) { time.Sleep(d) }
