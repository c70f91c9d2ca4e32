package engine

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sutra/sutra-operator/internal/store"
)

// logBuf collects an engine's log lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// twoCheckpoints fills dir with writes spanning many segments, two
// checkpoints and a tail after the newest, and returns the acknowledged
// concept numbers, the digest at close and the two snapshot paths.
type twoCheckpoints struct {
	acked          []uint64
	digest         store.Digest
	older, newest  string
	olderSeq, last uint64
}

func makeTwoCheckpoints(t *testing.T, dir string) twoCheckpoints {
	t.Helper()
	e, _ := openT(t, dir, testOpts())
	var tc twoCheckpoints
	n := uint64(0)
	writeN := func(k int) {
		for range k {
			n++
			write(t, e, put(n, fmt.Sprintf("concept %d with padding to fill several log segments", n)))
			tc.acked = append(tc.acked, n)
		}
	}
	writeN(1500)
	older, err := e.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	writeN(1500)
	newest, err := e.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	writeN(200)
	if first := e.Log().FirstSeq(); first <= 1 || first > older.Seq+1 {
		t.Errorf("after checkpoints at %d and %d the log starts at %d: want 1 < first <= %d",
			older.Seq, newest.Seq, first, older.Seq+1)
	}
	tc.digest, tc.last = e.Store().Digest(), e.AppliedSeq()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	tc.olderSeq = older.Seq
	tc.older = filepath.Join(dir, "snapshots", fmt.Sprintf("%020d.snap", older.Seq))
	tc.newest = filepath.Join(dir, "snapshots", fmt.Sprintf("%020d.snap", newest.Seq))
	return tc
}

// corruptFunc damages a snapshot file in place.
type corruptFunc func(t *testing.T, path string, tc twoCheckpoints)

func flipByte(t *testing.T, path string, _ twoCheckpoints) {
	b := readT(t, path)
	b[len(b)/2] ^= 0x01
	writeT(t, path, b)
}

func truncateHalf(t *testing.T, path string, _ twoCheckpoints) {
	b := readT(t, path)
	writeT(t, path, b[:len(b)/2])
}

func truncateEmpty(t *testing.T, path string, _ twoCheckpoints) { writeT(t, path, nil) }

func zeroAll(t *testing.T, path string, _ twoCheckpoints) {
	writeT(t, path, make([]byte, len(readT(t, path))))
}

// wrongName puts the older snapshot's (valid) contents under the newest
// snapshot's name.
func wrongName(t *testing.T, path string, tc twoCheckpoints) { writeT(t, path, readT(t, tc.older)) }

func readT(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeT(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

// missing returns how many of the acknowledged concepts e cannot read.
func missing(e *Engine, acked []uint64) (n int, first []uint64) {
	for _, i := range acked {
		if _, ok := e.Store().Get(cid(i)); !ok {
			n++
			if len(first) < 10 {
				first = append(first, i)
			}
		}
	}
	return n, first
}

func TestDamagedNewestSnapshotFallsBackToOlder(t *testing.T) {
	for _, c := range []struct {
		name    string
		corrupt corruptFunc
		reason  string
	}{
		{"flip a byte", flipByte, "corrupt snapshot"},
		{"truncate half", truncateHalf, "corrupt snapshot"},
		{"truncate to empty", truncateEmpty, "corrupt snapshot"},
		{"zero every byte", zeroAll, "corrupt snapshot"},
		{"contents of another sequence", wrongName, "file name says sequence"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			tc := makeTwoCheckpoints(t, dir)
			c.corrupt(t, tc.newest, tc)

			var logs logBuf
			o := testOpts()
			o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			e, rec, err := Open(dir, o)
			if err != nil {
				t.Fatalf("open with a damaged newest snapshot: %v", err)
			}
			if got := e.Store().Digest(); got != tc.digest {
				t.Errorf("digest after recovery %s, before close %s", got, tc.digest)
			}
			if n, first := missing(e, tc.acked); n != 0 {
				t.Errorf("%d of %d acknowledged writes missing after recovery, first: %v", n, len(tc.acked), first)
			}
			if rec.SnapshotSeq != tc.olderSeq || rec.LastSeq != tc.last {
				t.Errorf("recovered from %d up to %d, want from %d up to %d", rec.SnapshotSeq, rec.LastSeq, tc.olderSeq, tc.last)
			}
			if len(rec.SkippedSnapshots) != 1 || rec.SkippedSnapshots[0] != tc.newest {
				t.Errorf("SkippedSnapshots = %q, want [%s]", rec.SkippedSnapshots, tc.newest)
			}
			warn := ""
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, "skipping damaged snapshot") {
					warn = l
				}
			}
			if !strings.Contains(warn, tc.newest) || !strings.Contains(warn, c.reason) || strings.Contains(warn, tc.older) {
				t.Errorf("warning should name %s and say %q, got %q", tc.newest, c.reason, warn)
			}
			// The damaged file is moved aside and no longer counts as one
			// of the two kept snapshots.
			if _, err := os.Stat(tc.newest); !os.IsNotExist(err) {
				t.Errorf("damaged snapshot still in place: %v", err)
			}
			if _, err := os.Stat(tc.newest + damagedSuffix); err != nil {
				t.Errorf("damaged snapshot not kept aside: %v", err)
			}
			write(t, e, put(100000, "after recovery"))
			if _, err := e.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			snaps, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*.snap"))
			if len(snaps) != 2 || !strings.Contains(strings.Join(snaps, " "), tc.older) {
				t.Errorf("after the next checkpoint the snapshots are %q, want the new one and %s", snaps, tc.older)
			}
			want := e.Store().Digest()
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			again, _ := openT(t, dir, testOpts())
			defer func() { _ = again.Close() }()
			if again.Store().Digest() != want {
				t.Error("state differs after a second restart")
			}
		})
	}
}

func TestBothSnapshotsDamagedNamesBothAndTheGap(t *testing.T) {
	dir := t.TempDir()
	tc := makeTwoCheckpoints(t, dir)
	flipByte(t, tc.newest, tc)
	truncateHalf(t, tc.older, tc)
	_, _, err := Open(dir, testOpts())
	if err == nil {
		t.Fatal("opened with both snapshots damaged and the log truncated")
	}
	if !errors.Is(err, ErrLogGap) {
		t.Errorf("err = %v, want ErrLogGap", err)
	}
	msg := err.Error()
	t.Log(msg)
	for _, want := range []string{tc.newest, tc.older, "empty store", "records 1.."} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	// A failed start changes nothing on disk.
	for _, p := range []string{tc.newest, tc.older} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

func TestFallbackRefusedWhenLogDoesNotReachOlderSnapshot(t *testing.T) {
	dir := t.TempDir()
	tc := makeTwoCheckpoints(t, dir)
	flipByte(t, tc.newest, tc)
	// Lose the front of the log, as an operator deleting segments would.
	segs, _ := filepath.Glob(filepath.Join(dir, "wal", "*.wal"))
	if len(segs) < 3 {
		t.Fatalf("only %d segments", len(segs))
	}
	if err := os.Remove(segs[0]); err != nil {
		t.Fatal(err)
	}
	_, _, err := Open(dir, testOpts())
	if !errors.Is(err, ErrLogGap) {
		t.Fatalf("err = %v, want ErrLogGap", err)
	}
	msg := err.Error()
	t.Log(msg)
	for _, want := range []string{tc.newest, "snapshot " + tc.older, fmt.Sprintf("records %d..", tc.olderSeq+1)} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
}

func TestFirstCheckpointKeepsWholeLog(t *testing.T) {
	e, _ := openT(t, t.TempDir(), testOpts())
	defer func() { _ = e.Close() }()
	for i := uint64(1); i <= 2000; i++ {
		write(t, e, put(i, "some content to fill segments"))
	}
	if _, err := e.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if first := e.Log().FirstSeq(); first != 1 {
		t.Fatalf("with one snapshot the log must reach back to the empty store, it starts at %d", first)
	}
}
