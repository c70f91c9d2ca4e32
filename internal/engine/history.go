package engine

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/sutra/sutra-operator/internal/history"
	"github.com/sutra/sutra-operator/internal/store"
	"github.com/sutra/sutra-operator/internal/wal"
)

// loadHistory reads the log's epoch history. A data directory without one
// that holds records was written before histories existed: it gets the
// legacy history, saved at once. An empty one keeps an empty history until
// it begins an epoch or adopts its leader's.
func (e *Engine) loadHistory(rec *Recovery) error {
	h, ok, err := history.Load(e.dir)
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	if !ok {
		rec.NoHistory = true
		h = history.History{}
		if e.log.LastSeq() > 0 {
			h = history.Legacy()
			if err := history.Save(e.dir, h); err != nil {
				return fmt.Errorf("engine: %w", err)
			}
		}
	}
	e.useHistory(h)
	return nil
}

func (e *Engine) useHistory(h history.History) {
	e.histMu.Lock()
	e.hist = h
	e.histMu.Unlock()
	e.epoch.Store(h.Epoch())
}

// History returns the log's epoch history.
func (e *Engine) History() history.History {
	e.histMu.Lock()
	defer e.histMu.Unlock()
	return append(history.History(nil), e.hist...)
}

// Epoch is the epoch stamped on this node's writes: its history's newest.
func (e *Engine) Epoch() uint64 { return e.epoch.Load() }

func (e *Engine) setHistory(h history.History) error {
	if err := history.Save(e.dir, h); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	e.useHistory(h)
	return nil
}

// BeginEpoch starts epoch at the log's next sequence, as a node does when
// it becomes leader: the epoch is recorded durably before any record of it
// is written. A replica's log can end inside a write whose last records
// never arrived; that write was never acknowledged and is cut first.
// Nothing may be writing to the log meanwhile. The epoch must be higher
// than every epoch in the history.
func (e *Engine) BeginEpoch(epoch uint64) error {
	e.orderMu.Lock()
	defer e.orderMu.Unlock()
	if end := e.DurableSeq(); e.log.LastSeq() > end {
		e.opts.Logger.Warn("engine: dropping an unfinished replicated write before leading", "records", e.log.LastSeq()-end, "after", end)
		if err := e.log.TruncateBack(end); err != nil {
			return err
		}
		e.qMu.Lock()
		e.queue = nil // the unfinished write's records, never applied
		e.qMu.Unlock()
	}
	h, err := e.History().Begin(epoch, e.log.LastSeq(), history.NewID())
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	return e.setHistory(h)
}

// AdoptHistory records the history of the leader this node replicates. The
// caller has checked that the local log is a prefix of that leader's log
// (history.ForkPoint reaches the local log's end), so the leader's history
// describes the local records too.
func (e *Engine) AdoptHistory(h history.History) error {
	if err := h.Validate(); err != nil {
		return fmt.Errorf("engine: adopt history: %w", err)
	}
	if h.Checksum() == e.History().Checksum() {
		return nil
	}
	return e.setHistory(h)
}

// LastRecord returns the epoch and CRC of the log's last record, the proof a
// replica offers its leader that its log matches. After a snapshot install
// the log holds no record; the epoch then comes from the history and the
// CRC is 0 (unknown).
func (e *Engine) LastRecord() (seq, epoch uint64, crc uint32, err error) {
	seq = e.log.LastSeq()
	if seq == 0 {
		return 0, 0, 0, nil
	}
	rec, ok, err := e.Record(seq)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("engine: read record %d: %w", seq, err)
	}
	if ok {
		return seq, rec.Epoch, rec.CRC, nil
	}
	if ent, ok := e.History().At(seq); ok {
		return seq, ent.Epoch, 0, nil
	}
	return seq, 0, 0, nil
}

// Record returns the record at seq if the log still holds it.
func (e *Engine) Record(seq uint64) (wal.Record, bool, error) {
	if seq == 0 || seq < e.log.FirstSeq() || seq > e.log.LastSeq() {
		return wal.Record{}, false, nil
	}
	r, err := e.log.ReadFrom(seq)
	if err != nil {
		return wal.Record{}, false, err
	}
	defer func() { _ = r.Close() }()
	rec, ok, err := r.Next()
	if err != nil || !ok {
		return wal.Record{}, false, err
	}
	rec.Data = append([]byte(nil), rec.Data...)
	return rec, true, nil
}

// Rewound reports what Rewind did.
type Rewound struct {
	SetAside uint64 // records moved out of the log
	Dir      string // where they were moved, "" if none
	Resync   bool   // no snapshot and log could rebuild the state at the fork: the node starts empty
}

// Rewind discards every record after seq, as a node does whose log forked
// from its new leader's there. The records are first copied into a log of
// their own, diverged-<first>-<unix time> in the data directory, for
// forensics. The store is then rebuilt from the newest snapshot at or below
// seq and the log up to seq; when none can rebuild it (the log no longer
// reaches back), the node discards its whole state and resyncs from its
// leader. The caller must have stopped replication: nothing may be in
// flight.
func (e *Engine) Rewind(seq uint64) (Rewound, error) {
	e.ckptMu.Lock()
	defer e.ckptMu.Unlock()
	e.applyMu.Lock()
	defer e.applyMu.Unlock()
	e.orderMu.Lock()
	defer e.orderMu.Unlock()
	var out Rewound
	// Records queued but not applied (an unfinished replicated write) go
	// with the log they were read from; the state is rebuilt below.
	e.qMu.Lock()
	e.queue = nil
	e.qMu.Unlock()
	e.digests.reset()
	last := e.log.LastSeq()
	if last <= seq && e.applied.Load() <= seq {
		return out, nil
	}
	if last > seq {
		from := max(seq+1, e.log.FirstSeq())
		out.Dir = filepath.Join(e.dir, fmt.Sprintf("diverged-%020d-%d", from, time.Now().Unix()))
		n, err := copyRecords(e.log, from, out.Dir)
		if err != nil {
			return out, err
		}
		out.SetAside = n
	}
	// Snapshots past the fork hold state the new leader never had.
	if err := e.removeSnapshotsAfter(seq); err != nil {
		return out, err
	}
	if seq >= e.log.FirstSeq() {
		if err := e.log.TruncateBack(seq); err != nil {
			return out, err
		}
		var rec Recovery
		st, err := e.recoverState(&rec)
		if err == nil {
			e.st.Store(st)
			e.lastSnapSeq.Store(rec.SnapshotSeq)
			e.ckptSize.Store(e.log.Size())
			return out, e.setHistory(e.History().Upto(seq))
		}
		if !errors.Is(err, ErrLogGap) {
			return out, err
		}
	}
	// Nothing local rebuilds the state at seq: start empty.
	out.Resync = true
	if err := e.removeSnapshotsAfter(0); err != nil {
		return out, err
	}
	if err := e.log.Reset(1); err != nil {
		return out, err
	}
	e.st.Store(store.New())
	e.applied.Store(0)
	e.noted.Store(0)
	e.lastSnapSeq.Store(0)
	e.ckptSize.Store(e.log.Size())
	return out, e.setHistory(history.History{})
}

// copyRecords copies the records of log from seq on into a new log in dir
// and returns how many it copied.
func copyRecords(log *wal.Log, seq uint64, dir string) (uint64, error) {
	dst, err := wal.Open(dir, wal.Options{NoPreallocate: true})
	if err != nil {
		return 0, fmt.Errorf("engine: set aside diverged records: %w", err)
	}
	n, err := copyInto(log, seq, dst)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("engine: set aside diverged records in %s: %w", dir, err)
	}
	return n, nil
}

func copyInto(log *wal.Log, seq uint64, dst *wal.Log) (uint64, error) {
	if err := dst.Reset(seq); err != nil {
		return 0, err
	}
	r, err := log.ReadFrom(seq)
	if err != nil {
		return 0, err
	}
	defer func() { _ = r.Close() }()
	var n uint64
	var batch []wal.Record
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		c, err := dst.BeginRecords(batch)
		if err == nil {
			err = c.Wait()
		}
		n += uint64(len(batch))
		batch = batch[:0]
		return err
	}
	for {
		rec, ok, err := r.Next()
		if err != nil {
			return n, err
		}
		if !ok {
			return n, flush()
		}
		rec.Data = append([]byte(nil), rec.Data...)
		if batch = append(batch, rec); len(batch) == 1024 {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
}
