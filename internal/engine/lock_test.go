package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A second Open of a directory fails, naming the holder, until the first
// engine closes it.
func TestOpenLocksDataDir(t *testing.T) {
	dir := t.TempDir()
	e, _ := openT(t, dir, testOpts())
	b, err := os.ReadFile(filepath.Join(dir, LockFile))
	if err != nil || strings.TrimSpace(string(b)) != fmt.Sprint(os.Getpid()) {
		t.Fatalf("lock file holds %q (%v), want this process's id %d", b, err, os.Getpid())
	}
	_, _, err = Open(dir, testOpts())
	var locked *LockedError
	if !errors.As(err, &locked) || !errors.Is(err, ErrLocked) || locked.PID != os.Getpid() {
		t.Fatalf("second open: %v, want a LockedError naming pid %d", err, os.Getpid())
	}
	want := fmt.Sprintf("data directory %s is in use by process %d (lock %s)", dir, os.Getpid(), filepath.Join(dir, LockFile))
	if err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	t.Log(err)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e2, _ := openT(t, dir, testOpts()) // released on close
	_ = e2.Close()
}
