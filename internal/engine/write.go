package engine

import (
	"errors"
	"fmt"

	"github.com/sutra/sutra-operator/internal/store"
	"github.com/sutra/sutra-operator/internal/wal"
)

// Errors returned by the write path. Validation errors from package store
// (store.ErrInvalidValue, store.ErrTooLarge, store.ErrBadOp, ...) are
// returned wrapped as they are.
var (
	// ErrEmptyBatch is returned for a write with no operations.
	ErrEmptyBatch = errors.New("engine: empty write")
	// ErrBatchTooLarge is returned for a write above MaxBatch operations.
	ErrBatchTooLarge = errors.New("engine: too many operations in one write")
	// ErrBadEntry is returned when a replicated record does not decode.
	ErrBadEntry = errors.New("engine: undecodable replicated entry")
)

// MaxBatch bounds the operations in one Write.
const MaxBatch = 10_000

// Result of a write: the sequences its operations got.
type Result struct {
	First, Last uint64
}

// Write validates ops, appends them to the log as one write (durable and
// visible whole or not at all, also across a crash), waits until they are
// durable and applied, and returns their sequences. Validation is
// all or nothing: if any op is invalid, nothing is written. An operation
// that passes validation but fails when applied (an association whose
// endpoint a concurrent write deleted) is a no-op on every node and its
// error is returned.
func (e *Engine) Write(ops []store.Op) (Result, error) {
	p, err := e.Begin(ops)
	if err != nil {
		return Result{}, err
	}
	return p.Wait()
}

// Settle waits until every write queued so far is durable and applied,
// and returns the error that kept one from becoming durable, if any. With
// new writes held off, the engine then has none in flight.
func (e *Engine) Settle() error {
	e.orderMu.Lock() // no write half queued
	c := e.log.Barrier()
	e.orderMu.Unlock()
	if err := c.Wait(); err != nil {
		return err
	}
	e.applyDurable()
	return nil
}

// Pending is a write queued by Begin.
type Pending struct {
	e  *Engine
	c  wal.Commit
	ps []*pending
}

// Wait blocks until the write is durable and applied and returns what
// Write would have.
func (p Pending) Wait() (Result, error) {
	if err := p.c.Wait(); err != nil {
		return Result{}, err
	}
	p.e.applyDurable()
	for _, op := range p.ps {
		if op.err != nil {
			return Result{First: p.c.First, Last: p.c.Last}, op.err
		}
	}
	return Result{First: p.c.First, Last: p.c.Last}, nil
}

// Begin is Write without the wait: it validates ops and queues them for
// the log's next group commit, so that one caller can have many writes in
// flight (a pipelined stream) without a goroutine each. Writes are durable
// and applied in the order Begin queued them.
func (e *Engine) Begin(ops []store.Op) (Pending, error) {
	if len(ops) == 0 {
		return Pending{}, ErrEmptyBatch
	}
	if len(ops) > MaxBatch {
		return Pending{}, fmt.Errorf("%w: %d > %d", ErrBatchTooLarge, len(ops), MaxBatch)
	}
	if err := e.validate(ops); err != nil {
		return Pending{}, err
	}
	now := e.opts.Clock()
	ts := now.UnixNano()
	// One buffer for the encodings and one array for the pending ops, not
	// two allocations per op.
	entries := make([]wal.Entry, len(ops))
	ps, pend := make([]*pending, len(ops)), make([]pending, len(ops))
	ends := make([]int, len(ops))
	var buf []byte
	for i := range ops {
		ops[i].Time = ts
		buf = ops[i].AppendBinary(buf)
		ends[i] = len(buf)
		pend[i].op, pend[i].more = ops[i], i < len(ops)-1
		ps[i] = &pend[i]
	}
	// More on all but the last record: the log keeps or drops the write
	// whole across a crash, and a replica applies it only once its last
	// record is durable.
	start := 0
	for i, end := range ends {
		entries[i] = wal.Entry{More: i < len(ends)-1, Time: ts, Data: buf[start:end:end]}
		start = end
	}
	c, err := e.enqueue(ps, func() (wal.Commit, error) {
		// The epoch is read under the append lock, so no record of an
		// older epoch follows one that BeginEpoch started.
		epoch := e.epoch.Load()
		for i := range entries {
			entries[i].Epoch = epoch
		}
		c, err := e.log.Begin(entries)
		if err == nil && e.opts.OnQueued != nil {
			e.opts.OnQueued(c.Last, now)
		}
		return c, err
	})
	if err != nil {
		return Pending{}, err
	}
	return Pending{e: e, c: c, ps: ps}, nil
}

// validate checks ops against the limits and the current state. Concepts
// written earlier in the same batch count as existing.
func (e *Engine) validate(ops []store.Op) error {
	st := e.Store()
	// Which concepts the batch itself writes or deletes matters only to
	// the associations and deletes that follow in it; a batch of concept
	// writes skips the bookkeeping.
	track := false
	for i := range ops {
		track = track || ops[i].Type != store.OpWriteConcept
	}
	written := map[store.ConceptID]bool{}
	exists := func(id store.ConceptID) bool {
		if w, ok := written[id]; ok {
			return w
		}
		_, ok := st.Get(id)
		return ok
	}
	for i := range ops {
		op := &ops[i]
		if err := op.Validate(e.opts.Limits); err != nil {
			return fmt.Errorf("operation %d: %w", i, err)
		}
		switch op.Type {
		case store.OpWriteConcept:
			if track {
				written[op.Concept.ID] = true
			}
		case store.OpWriteAssociation:
			for _, id := range []store.ConceptID{op.Association.Source, op.Association.Target} {
				if !exists(id) {
					return fmt.Errorf("operation %d: association endpoint %s: %w", i, id, store.ErrNotFound)
				}
			}
		case store.OpDeleteConcept:
			if !exists(op.ID) {
				return fmt.Errorf("operation %d: delete %s: %w", i, op.ID, store.ErrNotFound)
			}
			written[op.ID] = false
		}
	}
	return nil
}

// ApplyReplicated makes records received from the leader durable in the
// local log and applies them. The records must continue the local log
// (wal.ErrSequence otherwise), carry matching CRCs (wal.ErrChecksum) and
// decode (ErrBadEntry); a batch failing any check is rejected whole.
func (e *Engine) ApplyReplicated(recs []wal.Record) error {
	r, err := e.BeginReplicated(recs)
	if err != nil {
		return err
	}
	return r.Wait()
}

// Replicated is a batch of replicated records queued by BeginReplicated.
type Replicated struct {
	e *Engine
	c wal.Commit
}

// BeginReplicated checks and queues records from the leader for the local
// log's next group commit and returns without waiting, so that a replica
// can receive the next batch while this one is written: batches that
// arrive during an fsync share the next one. The checks are those of
// ApplyReplicated and a failing batch queues nothing. Batches are applied
// in sequence order once durable; Wait blocks until this one is.
//
// A batch may end in the middle of a write (its last record has More set,
// the leader's frame split the write): the write's records are durable
// but applied, and counted in AppliedSeq and DurableSeq, only once a later
// batch brings its last record and that is durable too.
func (e *Engine) BeginReplicated(recs []wal.Record) (Replicated, error) {
	if len(recs) == 0 {
		return Replicated{}, nil
	}
	ps, pend := make([]*pending, len(recs)), make([]pending, len(recs))
	for i := range recs {
		op, err := store.DecodeOp(recs[i].Data)
		if err != nil {
			return Replicated{}, fmt.Errorf("%w: sequence %d: %v", ErrBadEntry, recs[i].Seq, err)
		}
		pend[i].op, pend[i].more = op, recs[i].More
		ps[i] = &pend[i]
	}
	c, err := e.enqueue(ps, func() (wal.Commit, error) { return e.log.BeginRecords(recs) })
	if err != nil {
		return Replicated{}, err
	}
	return Replicated{e: e, c: c}, nil
}

// Show applies the batch's whole writes, and every write queued before
// them, before the local log has made them durable. A replica may: the
// leader streams only records it has made durable, so a reader sees
// nothing the leader could lose, and should the replica crash first, it
// recovers to its durable position and streams the rest again.
// AppliedSeq can then run ahead of DurableSeq until the log catches up;
// Wait still reports the log's verdict.
func (r Replicated) Show() {
	if r.e != nil {
		r.e.applyUpTo(r.c.Last)
	}
}

// Durable reports, without blocking, whether Wait would return at once.
func (r Replicated) Durable() bool { return r.e == nil || r.c.Durable() }

// Synced is closed once Wait would return at once. Nil for an empty
// batch, which is durable already.
func (r Replicated) Synced() <-chan struct{} {
	if r.e == nil {
		return nil
	}
	return r.c.Done()
}

// Wait blocks until the batch is durable, applies every durable queued
// write in order, and returns the error that kept the batch from becoming
// durable, if any. The records of a write the batch does not finish stay
// queued.
func (r Replicated) Wait() error {
	if r.e == nil { // an empty batch
		return nil
	}
	if err := r.c.Wait(); err != nil {
		return err
	}
	r.e.applyDurable()
	return nil
}

// enqueue appends to the log and queues ps for apply under one lock, so the
// queue is in sequence order.
func (e *Engine) enqueue(ps []*pending, begin func() (wal.Commit, error)) (wal.Commit, error) {
	e.orderMu.Lock()
	defer e.orderMu.Unlock()
	c, err := begin()
	if err != nil {
		return c, err
	}
	e.qMu.Lock()
	for i, p := range ps {
		p.seq = c.First + uint64(i)
		e.queue = append(e.queue, p)
	}
	e.qMu.Unlock()
	return c, nil
}

// applyDurable applies, in order, every queued operation that is durable
// and belongs to a write whose last record is durable.
func (e *Engine) applyDurable() { e.applyUpTo(e.log.LastCompleteSeq()) }

// applyUpTo applies, in order, every queued operation of a whole write
// that ends at or before limit. Each write is applied under one hold of
// the store's write lock (store.Update), so readers see it whole or not at
// all.
func (e *Engine) applyUpTo(limit uint64) {
	e.applyMu.Lock()
	defer e.applyMu.Unlock()
	st := e.Store()
	for {
		e.qMu.Lock()
		n := wholeDurable(e.queue, limit)
		batch := e.queue[:n:n]
		e.queue = e.queue[n:]
		e.qMu.Unlock()
		if n == 0 {
			return
		}
		for len(batch) > 0 {
			k := writesUpTo(batch, maxApplyHold)
			st.Update(func(tx store.Tx) {
				for _, p := range batch[:k] {
					p.err = tx.Apply(p.seq, p.op)
					if !p.more {
						e.note(tx, p.seq)
					}
				}
			})
			e.applied.Store(batch[k-1].seq)
			batch = batch[k:]
		}
	}
}

// wholeDurable returns how many operations at the head of queue make up
// whole writes whose records are all durable. The log can make a write's
// end durable before the engine queues that write's operations (a replica
// receives a write in more than one message, and enqueue queues after the
// log has the records), so a durable head can end in the middle of a write:
// those operations wait for the call that queues the rest.
func wholeDurable(queue []*pending, durable uint64) int {
	n := 0
	for i, p := range queue {
		if p.seq > durable {
			break
		}
		if !p.more {
			n = i + 1
		}
	}
	return n
}

// maxApplyHold bounds the operations applied under one hold of the store's
// write lock, so that readers wait for at most about this many; a single
// larger write is still applied under one hold.
const maxApplyHold = 1024

// writesUpTo returns how many of ps make up whole writes of at most limit
// operations together (at least one whole write). ps ends with the end of
// a write.
func writesUpTo(ps []*pending, limit int) int {
	k := 0
	for i, p := range ps {
		if !p.more {
			k = i + 1
			if k >= limit {
				break
			}
		}
	}
	return k
}
