package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sutra/sutra-operator/internal/history"
	"github.com/sutra/sutra-operator/internal/store"
	"github.com/sutra/sutra-operator/internal/wal"
)

// Options configure an Engine. Zero fields take the documented defaults.
type Options struct {
	// WAL configures the log; see wal.Options.
	WAL wal.Options
	// Limits bound what a write may carry. Default store.DefaultLimits().
	Limits store.Limits
	// CheckpointBytes is the log growth since the last checkpoint that
	// triggers an automatic one. Default 256 MiB; negative disables.
	CheckpointBytes int64
	// Retain returns the lowest sequence the log must keep for readers
	// such as lagging replicas; 0 means no constraint. Optional.
	Retain func() uint64
	// Clock returns the time stamped on writes. Default time.Now.
	Clock func() time.Time
	// OnQueued, if set, is called for each write once it has its sequences
	// and is queued for the log, in sequence order, with its last sequence
	// and the time it was stamped with. It runs before the write is
	// durable, so whatever measures from it (replication lag) has the
	// sample before any reader of the log can see the records.
	OnQueued func(last uint64, at time.Time)
	// VerifyEvery is the sequence interval at which the store's digest is
	// noted for continuous verification, at the end of the write holding
	// each multiple (see verify.go); 0 disables.
	VerifyEvery uint64
	// Logger for recovery and checkpoint messages. Default slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Limits == (store.Limits{}) {
		o.Limits = store.DefaultLimits()
	}
	if o.CheckpointBytes == 0 {
		o.CheckpointBytes = 256 << 20
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.WAL.Logger == nil {
		o.WAL.Logger = o.Logger
	}
	return o
}

// Recovery reports what Open restored.
type Recovery struct {
	SnapshotSeq      uint64   // sequence covered by the restored snapshot, 0 if none
	SnapshotConcepts int      // concepts in that snapshot
	Replayed         uint64   // log records applied after the snapshot
	LastSeq          uint64   // last sequence applied
	Repaired         []string // torn tails and incomplete writes cut from the log
	Lost             uint64   // durable records missing from the log, accepted (wal.Options.AcceptLoss)
	// SkippedSnapshots are the paths of snapshots that failed to load and
	// were passed over, newest first. Damaged ones have been renamed to
	// <path>.damaged.
	SkippedSnapshots []string
	NoHistory        bool // the data directory had no epoch history (new, or written before histories)
	Duration         time.Duration
}

// Engine is a durable concept store. Its methods are safe for concurrent use.
type Engine struct {
	dir     string
	snapDir string
	opts    Options
	log     *wal.Log
	st      atomic.Pointer[store.Store]

	orderMu sync.Mutex // orders log appends with the pending queue
	applyMu sync.Mutex // serialises apply; held while draining the queue
	qMu     sync.Mutex
	queue   []*pending // appended, not yet applied, in sequence order
	applied atomic.Uint64

	digests digestRing    // store digests at checkpoints (verify.go)
	noted   atomic.Uint64 // end of the last write note saw

	histMu sync.Mutex
	hist   history.History // the log's epochs (see internal/history)
	epoch  atomic.Uint64   // newest epoch of hist, stamped on writes

	ckptMu      sync.Mutex // one checkpoint at a time
	ckptSize    atomic.Int64
	lastSnapSeq atomic.Uint64
	snapPin     atomic.Int32 // >0 while a snapshot is being sent; blocks pruning
	stop        chan struct{}
	wg          sync.WaitGroup
	lock        *os.File // holds the data directory's LOCK; see lock.go
}

type pending struct {
	seq  uint64
	op   store.Op
	more bool // more operations of the same write follow
	err  error
}

// Open opens or creates the engine in dir and recovers its state.
func Open(dir string, opts Options) (*Engine, Recovery, error) {
	start := time.Now()
	opts = opts.withDefaults()
	e := &Engine{dir: dir, snapDir: filepath.Join(dir, "snapshots"), opts: opts, stop: make(chan struct{})}
	if err := os.MkdirAll(e.snapDir, 0o750); err != nil {
		return nil, Recovery{}, fmt.Errorf("engine: create data dir: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, Recovery{}, err
	}
	e.lock = lock
	log, err := wal.Open(filepath.Join(dir, "wal"), opts.WAL)
	if err != nil {
		_ = lock.Close()
		return nil, Recovery{}, err
	}
	e.log = log
	rec := Recovery{Repaired: log.Repaired(), Lost: log.Lost()}
	st, err := e.recoverState(&rec)
	if err != nil {
		_ = log.Close()
		_ = lock.Close()
		return nil, Recovery{}, err
	}
	if err := e.loadHistory(&rec); err != nil {
		_ = log.Close()
		_ = lock.Close()
		return nil, Recovery{}, err
	}
	e.st.Store(st)
	e.lastSnapSeq.Store(rec.SnapshotSeq)
	e.ckptSize.Store(log.Size())
	rec.LastSeq = e.applied.Load()
	rec.Duration = time.Since(start)
	opts.Logger.Info("engine: recovered", "dir", dir, "snapshot_seq", rec.SnapshotSeq,
		"replayed", rec.Replayed, "last_seq", rec.LastSeq, "lost", rec.Lost, "duration", rec.Duration)
	if opts.CheckpointBytes > 0 {
		e.wg.Add(1)
		go e.checkpointer()
	}
	return e, rec, nil
}

// Close stops background work and closes the log.
func (e *Engine) Close() error {
	select {
	case <-e.stop:
		return errors.New("engine: already closed")
	default:
	}
	close(e.stop)
	e.wg.Wait()
	err := e.log.Close()
	_ = e.lock.Close() // releases the data directory
	return err
}

// Log exposes the write-ahead log for readers such as the replication
// streamer. Callers must not append to it directly.
func (e *Engine) Log() *wal.Log { return e.log }

// Store returns the current store for reads. A replica that installs a
// snapshot replaces it, so do not hold on to the result.
func (e *Engine) Store() *store.Store { return e.st.Load() }

// AppliedSeq returns the last applied sequence. It is always the end of a
// write: a write is applied whole.
func (e *Engine) AppliedSeq() uint64 { return e.applied.Load() }

// DurableSeq returns the last durable sequence that ends a write: what a
// replica reports to its leader as durable. On a replica holding only the
// first records of a write it is below Log().LastSeq().
func (e *Engine) DurableSeq() uint64 { return e.log.LastCompleteSeq() }

// Dir returns the data directory.
func (e *Engine) Dir() string { return e.dir }
