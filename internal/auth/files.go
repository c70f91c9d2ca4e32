package auth

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// recheck is how long files are trusted between looks at them.
const recheck = time.Second

// reloader holds what parse made of a set of files, and makes it again
// when their contents change. It is safe for concurrent use.
type reloader[T any] struct {
	paths []string
	parse func(contents [][]byte) (T, error)
	log   *slog.Logger
	now   func() time.Time

	mu      sync.Mutex
	checked time.Time
	raw     [][]byte
	value   T
	lastErr string
}

// newReloader reads and parses paths once; an error there is the caller's
// to report (a node must not start with material it cannot use).
func newReloader[T any](paths []string, parse func([][]byte) (T, error), log *slog.Logger) (*reloader[T], error) {
	r := &reloader[T]{paths: paths, parse: parse, log: log, now: time.Now}
	raw, err := readAll(paths)
	if err != nil {
		return nil, err
	}
	if r.value, err = parse(raw); err != nil {
		return nil, err
	}
	r.raw, r.checked = raw, r.now()
	return r, nil
}

// get returns the current value, reading the files again when they were
// last checked a second or more ago.
func (r *reloader[T]) get() T {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.now(); now.Sub(r.checked) >= recheck {
		r.checked = now
		r.reload()
	}
	return r.value
}

// reload swaps in the files' new contents if they changed and parse; r.mu
// is held.
func (r *reloader[T]) reload() {
	raw, err := readAll(r.paths)
	if err == nil && sameContents(raw, r.raw) {
		return
	}
	var v T
	if err == nil {
		v, err = r.parse(raw)
	}
	if err != nil {
		if msg := err.Error(); msg != r.lastErr { // once per distinct failure, not per handshake
			r.lastErr = msg
			r.log.Warn("changed files not loaded; keeping the previous ones", "files", r.paths, "err", err)
		}
		return
	}
	r.raw, r.value, r.lastErr = raw, v, ""
	r.log.Info("reloaded changed files", "files", r.paths)
}

func readAll(paths []string) ([][]byte, error) {
	out := make([][]byte, len(paths))
	var errs []error
	for i, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("read %s: %w", p, err))
		}
		out[i] = b
	}
	return out, errors.Join(errs...)
}

func sameContents(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
