package engine

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"github.com/sutra/sutra-operator/internal/store"
)

// ErrLogGap is returned by Open when no snapshot that verifies, nor the
// empty store, is followed without a gap by the retained log.
var ErrLogGap = errors.New("engine: records missing between the snapshots and the log")

// damagedSuffix is appended to a snapshot that failed verification once
// recovery has succeeded without it, so that later checkpoints do not count
// it among the snapshots they keep.
const damagedSuffix = ".damaged"

// skippedSnap is a snapshot recovery could not use.
type skippedSnap struct {
	snapFile
	err     error
	corrupt bool // the contents are damaged, not merely unreadable
}

// recoverState restores the newest snapshot that verifies and that the
// retained log continues, then replays the log after it. Snapshots are
// tried newest first; a damaged one is skipped with a warning. Falling back
// past a damaged snapshot is only allowed when the log still holds every
// record from the fallback's sequence + 1 through the damaged snapshot's
// sequence, so that nothing the damaged snapshot covered is lost.
func (e *Engine) recoverState(rec *Recovery) (*store.Store, error) {
	snaps, err := e.listSnapshots()
	if err != nil {
		return nil, err
	}
	var skipped []skippedSnap
	base, baseInfo, basePath := store.New(), store.SnapshotInfo{}, ""
	for _, s := range snaps {
		st, info, err := readSnapshotFile(s.path)
		if err == nil && info.Seq != s.seq {
			err = fmt.Errorf("%w: file name says sequence %d, contents say %d", store.ErrCorruptSnapshot, s.seq, info.Seq)
		}
		if err != nil {
			e.opts.Logger.Warn("engine: skipping damaged snapshot", "path", s.path, "err", err)
			skipped = append(skipped, skippedSnap{snapFile: s, err: err, corrupt: errors.Is(err, store.ErrCorruptSnapshot)})
			continue
		}
		base, baseInfo, basePath = st, info, s.path
		break
	}
	if err := e.checkLogReaches(baseInfo.Seq, basePath, skipped); err != nil {
		return nil, err
	}
	if len(skipped) > 0 {
		from := "the empty store"
		if basePath != "" {
			from = basePath
		}
		e.opts.Logger.Warn("engine: recovering from an older snapshot", "from", from, "seq", baseInfo.Seq,
			"skipped", len(skipped), "replay_from", baseInfo.Seq+1)
	}
	rec.SnapshotSeq, rec.SnapshotConcepts = baseInfo.Seq, baseInfo.Concepts
	for _, s := range skipped {
		rec.SkippedSnapshots = append(rec.SkippedSnapshots, s.path)
	}
	if err := e.replay(base, baseInfo.Seq, rec); err != nil {
		return nil, err
	}
	e.moveAside(skipped)
	return base, nil
}

// checkLogReaches returns an error wrapping ErrLogGap unless the log holds
// every record after seq (the state recovery starts from, restored from
// path or empty) up to the newest skipped snapshot's sequence.
func (e *Engine) checkLogReaches(seq uint64, path string, skipped []skippedSnap) error {
	first, last := e.log.FirstSeq(), e.log.LastSeq()
	var need uint64 // the newest sequence a skipped snapshot claims to cover
	for _, s := range skipped {
		need = max(need, s.seq)
	}
	var missFrom, missTo uint64
	switch {
	case last >= seq && first > seq+1:
		missFrom, missTo = seq+1, first-1
	case need > max(last, seq):
		missFrom, missTo = max(last, seq)+1, need
	default:
		return nil
	}
	from := "the empty store (sequence 0)"
	if path != "" {
		from = fmt.Sprintf("snapshot %s (sequence %d)", path, seq)
	}
	held := "holds no records"
	if last >= first {
		held = fmt.Sprintf("holds sequences %d..%d", first, last)
	}
	var b strings.Builder
	if len(skipped) > 0 {
		b.WriteString("damaged snapshots: ")
		for i, s := range skipped {
			if i > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "%s (%v)", s.path, s.err)
		}
		b.WriteString("; ")
	}
	return fmt.Errorf("%w: %sthe newest usable state is %s and the log %s: records %d..%d are missing",
		ErrLogGap, b.String(), from, held, missFrom, missTo)
}

// moveAside renames damaged snapshots to <name>.damaged, keeping them for
// analysis without counting them as snapshots. Unreadable but not corrupt
// files (permissions, I/O errors) are left where they are.
func (e *Engine) moveAside(skipped []skippedSnap) {
	moved := false
	for _, s := range skipped {
		if !s.corrupt {
			continue
		}
		to := s.path + damagedSuffix
		if err := os.Rename(s.path, to); err != nil {
			e.opts.Logger.Warn("engine: cannot move damaged snapshot aside", "path", s.path, "err", err)
			continue
		}
		moved = true
		e.opts.Logger.Warn("engine: moved damaged snapshot aside", "path", s.path, "to", to)
	}
	if moved && !e.opts.WAL.NoSync {
		if err := syncDir(e.snapDir); err != nil {
			e.opts.Logger.Warn("engine: sync snapshot dir", "err", err)
		}
	}
}

// replay applies the log from snapSeq+1 onto st. checkLogReaches has
// established that the log continues snapSeq.
func (e *Engine) replay(st *store.Store, snapSeq uint64, rec *Recovery) error {
	if e.log.LastSeq() < snapSeq {
		// Everything the log holds is already in the snapshot (the log was
		// reset past it, or truncated): continue after the snapshot.
		if err := e.log.Reset(snapSeq + 1); err != nil {
			return err
		}
		e.applied.Store(snapSeq)
		return nil
	}
	r, err := e.log.ReadFrom(snapSeq + 1)
	if err != nil {
		return fmt.Errorf("engine: replay: %w", err)
	}
	// Replay only grows the heap; collecting less often while it runs
	// roughly halves recovery time.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	defer func() { _ = r.Close() }()
	e.applied.Store(snapSeq)
	e.noted.Store(snapSeq)
	for {
		wr, ok, err := r.Next()
		if err != nil {
			return fmt.Errorf("engine: replay: %w", err)
		}
		if !ok {
			return nil
		}
		op, err := store.DecodeOp(wr.Data)
		if err != nil {
			return fmt.Errorf("engine: replay sequence %d: %w", wr.Seq, err)
		}
		// Apply errors are deterministic no-ops, identical on every node.
		_ = st.Apply(wr.Seq, op)
		if !wr.More {
			e.note(st, wr.Seq)
		}
		e.applied.Store(wr.Seq)
		rec.Replayed++
	}
}
