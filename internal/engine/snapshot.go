package engine

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sutra/sutra-operator/internal/store"
)

const (
	snapSuffix = ".snap"
	keepSnaps  = 2
)

type snapFile struct {
	seq  uint64
	path string
}

func (e *Engine) snapPath(seq uint64) string {
	return filepath.Join(e.snapDir, fmt.Sprintf("%020d%s", seq, snapSuffix))
}

// listSnapshots returns snapshot files, newest first, removing leftovers
// of interrupted writes.
func (e *Engine) listSnapshots() ([]snapFile, error) {
	ents, err := os.ReadDir(e.snapDir)
	if err != nil {
		return nil, fmt.Errorf("engine: read snapshot dir: %w", err)
	}
	var out []snapFile
	for _, d := range ents {
		name := d.Name()
		if strings.HasSuffix(name, ".tmp") {
			_ = os.Remove(filepath.Join(e.snapDir, name))
			continue
		}
		if !strings.HasSuffix(name, snapSuffix) {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, snapSuffix), 10, 64)
		if err != nil {
			continue
		}
		out = append(out, snapFile{seq: seq, path: filepath.Join(e.snapDir, name)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq > out[j].seq })
	return out, nil
}

func readSnapshotFile(path string) (*store.Store, store.SnapshotInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, store.SnapshotInfo{}, err
	}
	defer func() { _ = f.Close() }()
	return store.ReadSnapshot(f)
}

// Checkpoint writes a snapshot of the applied state, then truncates the log
// front. The log is kept back to the older of the two retained snapshots,
// so that recovery can fall back to it should the newest one be damaged,
// and further back if Options.Retain asks for it.
func (e *Engine) Checkpoint() (store.SnapshotInfo, error) {
	e.ckptMu.Lock()
	defer e.ckptMu.Unlock()
	start := time.Now()
	st := e.Store()
	tmp, err := os.CreateTemp(e.snapDir, "checkpoint-*.tmp")
	if err != nil {
		return store.SnapshotInfo{}, fmt.Errorf("engine: create snapshot: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	info, err := st.WriteSnapshot(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil && !e.opts.WAL.NoSync {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return store.SnapshotInfo{}, fmt.Errorf("engine: write snapshot: %w", err)
	}
	if err := e.waitDurable(info.Seq); err != nil {
		return store.SnapshotInfo{}, err
	}
	kept, err := e.publishSnapshot(tmp.Name(), info.Seq)
	if err != nil {
		return store.SnapshotInfo{}, err
	}
	e.lastSnapSeq.Store(info.Seq)
	floor := min(fallbackFloor(kept), info.Seq+1)
	if e.opts.Retain != nil {
		if r := e.opts.Retain(); r > 0 && r < floor {
			floor = r
		}
	}
	first, err := e.log.TruncateFront(floor)
	if err != nil {
		return info, err
	}
	e.ckptSize.Store(e.log.Size())
	e.opts.Logger.Info("engine: checkpoint", "seq", info.Seq, "concepts", info.Concepts,
		"bytes", info.Bytes, "first_retained", first, "duration", time.Since(start))
	return info, nil
}

// waitDurable waits until the log has made seq durable. A replica applies
// ahead of its log (Replicated.Show), so its state can hold records the
// log has yet to sync; a snapshot of it is published only once they are
// synced, so recovery never starts from a state the log does not reach.
func (e *Engine) waitDurable(seq uint64) error {
	deadline := time.Now().Add(durableWait)
	for e.log.LastCompleteSeq() < seq {
		if time.Now().After(deadline) {
			return fmt.Errorf("engine: snapshot at %d: the log made only %d durable in %v", seq, e.log.LastCompleteSeq(), durableWait)
		}
		time.Sleep(100 * time.Microsecond)
	}
	return nil
}

// durableWait bounds waitDurable: a log that syncs nothing for this long
// has failed.
const durableWait = 30 * time.Second

// publishSnapshot moves a complete snapshot file into place and prunes all
// but the keepSnaps newest snapshots. It returns the snapshots it keeps,
// newest first: while a snapshot is being sent nothing is pruned, but only
// the keepSnaps newest count as kept.
func (e *Engine) publishSnapshot(tmp string, seq uint64) ([]snapFile, error) {
	if err := os.Rename(tmp, e.snapPath(seq)); err != nil {
		return nil, fmt.Errorf("engine: publish snapshot: %w", err)
	}
	if !e.opts.WAL.NoSync {
		if err := syncDir(e.snapDir); err != nil {
			return nil, err
		}
	}
	snaps, err := e.listSnapshots()
	if err != nil {
		return nil, err
	}
	if len(snaps) <= keepSnaps {
		return snaps, nil
	}
	if e.snapPin.Load() == 0 { // else a snapshot is being sent; prune next time
		for _, s := range snaps[keepSnaps:] {
			_ = os.Remove(s.path)
		}
	}
	return snaps[:keepSnaps], nil
}

// fallbackFloor returns the first sequence the log must keep so that
// recovery can start from the oldest of the kept snapshots (newest first):
// its sequence + 1. With fewer than keepSnaps snapshots the fallback is the
// empty store, so the whole log is kept.
func fallbackFloor(kept []snapFile) uint64 {
	if len(kept) < keepSnaps {
		return 1
	}
	return kept[len(kept)-1].seq + 1
}

func (e *Engine) checkpointer() {
	defer e.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			if e.log.Size()-e.ckptSize.Load() < e.opts.CheckpointBytes {
				continue
			}
			if _, err := e.Checkpoint(); err != nil {
				e.opts.Logger.Error("engine: checkpoint failed", "err", err)
			}
		}
	}
}

// Snapshot is an open snapshot file for sending to a replica.
type Snapshot struct {
	Seq  uint64 // last sequence the snapshot includes
	Size int64
	io.ReadCloser
}

// OpenSnapshot returns the newest snapshot, writing one first when none
// covers the start of the retained log. While it is open, old snapshots are
// not pruned. The caller must Close it.
func (e *Engine) OpenSnapshot() (*Snapshot, error) {
	snaps, err := e.listSnapshots()
	if err != nil {
		return nil, err
	}
	if len(snaps) == 0 || snaps[0].seq+1 < e.log.FirstSeq() {
		if _, err := e.Checkpoint(); err != nil {
			return nil, err
		}
		if snaps, err = e.listSnapshots(); err != nil {
			return nil, err
		}
	}
	if len(snaps) == 0 {
		return nil, fmt.Errorf("engine: no snapshot available")
	}
	e.snapPin.Add(1)
	f, err := os.Open(snaps[0].path)
	if err != nil {
		e.snapPin.Add(-1)
		return nil, fmt.Errorf("engine: open snapshot: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		e.snapPin.Add(-1)
		return nil, fmt.Errorf("engine: stat snapshot: %w", err)
	}
	return &Snapshot{Seq: snaps[0].seq, Size: st.Size(), ReadCloser: &pinnedFile{File: f, e: e}}, nil
}

type pinnedFile struct {
	*os.File
	e    *Engine
	done bool
}

func (p *pinnedFile) Close() error {
	if !p.done {
		p.done = true
		p.e.snapPin.Add(-1)
	}
	return p.File.Close()
}

// InstallSnapshot replaces the whole state with a snapshot received from
// the leader: it stores and verifies the snapshot, swaps the store, and
// restarts the log after the snapshot's sequence. On any error the current
// state is kept. It must not run concurrently with ApplyReplicated.
func (e *Engine) InstallSnapshot(r io.Reader) (store.SnapshotInfo, error) {
	e.ckptMu.Lock()
	defer e.ckptMu.Unlock()
	tmp, err := os.CreateTemp(e.snapDir, "install-*.tmp")
	if err != nil {
		return store.SnapshotInfo{}, fmt.Errorf("engine: create snapshot: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	_, err = io.Copy(tmp, r)
	if err == nil && !e.opts.WAL.NoSync {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return store.SnapshotInfo{}, fmt.Errorf("engine: receive snapshot: %w", err)
	}
	st, info, err := readSnapshotFile(tmp.Name())
	if err != nil {
		return info, fmt.Errorf("engine: received snapshot: %w", err)
	}
	e.applyMu.Lock()
	defer e.applyMu.Unlock()
	if _, err := e.publishSnapshot(tmp.Name(), info.Seq); err != nil {
		return info, err
	}
	// A local snapshot past the installed one holds a state the leader's
	// log never had (this node's log diverged); it must not win at the
	// next start.
	if err := e.removeSnapshotsAfter(info.Seq); err != nil {
		return info, err
	}
	if err := e.log.Reset(info.Seq + 1); err != nil {
		return info, err
	}
	// Records of a write left unfinished before the snapshot are gone
	// with the old log.
	e.qMu.Lock()
	e.queue = nil
	e.qMu.Unlock()
	e.st.Store(st)
	e.digests.reset()
	e.noted.Store(info.Seq)
	e.applied.Store(info.Seq)
	e.lastSnapSeq.Store(info.Seq)
	e.ckptSize.Store(e.log.Size())
	e.opts.Logger.Info("engine: installed snapshot", "seq", info.Seq, "concepts", info.Concepts)
	return info, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("engine: open dir: %w", err)
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("engine: sync dir: %w", err)
	}
	return nil
}

// removeSnapshotsAfter deletes every snapshot covering more than seq.
func (e *Engine) removeSnapshotsAfter(seq uint64) error {
	snaps, err := e.listSnapshots()
	if err != nil {
		return err
	}
	for _, s := range snaps {
		if s.seq > seq {
			if err := os.Remove(s.path); err != nil && !os.IsNotExist(err) {
				return fmt.Errorf("engine: remove snapshot past %d: %w", seq, err)
			}
		}
	}
	return nil
}
