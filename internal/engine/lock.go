package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockFile is the name of the data directory's lock file. Open takes an
// exclusive flock(2) on it for as long as the engine is open, as etcd and
// PostgreSQL do, and writes the holder's process id into it; the lock, not
// the file, is what counts, so a file left by a killed process is harmless.
const LockFile = "LOCK"

// ErrLocked says the data directory is held by another open engine.
var ErrLocked = errors.New("engine: data directory is in use")

// LockedError names the process holding a data directory. It wraps
// ErrLocked.
type LockedError struct {
	Dir  string
	Lock string // path of the lock file
	PID  int    // the holder's process id, 0 if it could not be read
}

func (e *LockedError) Error() string {
	holder := "another process"
	if e.PID > 0 {
		holder = fmt.Sprintf("process %d", e.PID)
	}
	return fmt.Sprintf("data directory %s is in use by %s (lock %s)", e.Dir, holder, e.Lock)
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// lockDir takes the exclusive lock on dir's LOCK file and records this
// process's id in it. Closing the returned file releases the lock.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("engine: open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			b, _ := os.ReadFile(path)
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			return nil, &LockedError{Dir: dir, Lock: path, PID: pid}
		}
		return nil, fmt.Errorf("engine: lock %s: %w", path, err)
	}
	if err := writePID(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("engine: write lock file %s: %w", path, err)
	}
	return f, nil
}

// writePID replaces the lock file's content with this process's id.
func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		return err
	}
	return f.Sync()
}
