package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Commit is the receipt for records queued by Begin: their sequences and the
// group commit that will make them durable.
type Commit struct {
	First, Last uint64
	g           *group
}

// Wait blocks until the records are durable, or returns the error that kept
// them from becoming so.
func (c Commit) Wait() error {
	<-c.g.done
	return c.g.err
}

// Done is closed once the records are durable or failed to become so:
// when Wait would return at once.
func (c Commit) Done() <-chan struct{} { return c.g.done }

// Durable reports, without blocking, whether the records are durable (or
// failed to become so): whether Wait would return at once.
func (c Commit) Durable() bool {
	select {
	case <-c.g.done:
		return true
	default:
		return false
	}
}

// Append queues entries, waits for their group commit and returns the
// sequence of the first. The entries get consecutive sequences.
func (l *Log) Append(entries ...Entry) (uint64, error) {
	c, err := l.Begin(entries)
	if err != nil {
		return 0, err
	}
	return c.First, c.Wait()
}

// Begin assigns sequences to entries and queues them for the next group
// commit without waiting. Records become visible to readers, in sequence
// order, once durable. Data is copied; the caller may reuse it. The
// entries are queued together and always share one group commit, so a
// write whose entries set More on all but the last becomes durable, and
// visible to readers, whole.
func (l *Log) Begin(entries []Entry) (Commit, error) {
	for i := range entries {
		if len(entries[i].Data) > MaxRecordSize {
			return Commit{}, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(entries[i].Data))
		}
		if entries[i].Epoch > MaxEpoch {
			return Commit{}, fmt.Errorf("%w: %d", ErrEpoch, entries[i].Epoch)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return Commit{}, err
	}
	first := l.nextSeq
	for i := range entries {
		e := &entries[i]
		l.queue(l.nextSeq, e.Epoch, e.More, e.Time, e.Data)
	}
	return l.committed(first), nil
}

// BeginRecords queues records that already carry their sequences, as a
// replica does with entries from its leader. The first must follow the
// log's last record and the rest must be consecutive. A record with a
// non-zero CRC must match it. Nothing is queued unless every record passes.
// The records may end in the middle of a write (the last has More set):
// LastCompleteSeq then stays at the previous write's end until a later
// call brings the rest.
func (l *Log) BeginRecords(recs []Record) (Commit, error) {
	for i := range recs {
		r := &recs[i]
		if len(r.Data) > MaxRecordSize {
			return Commit{}, fmt.Errorf("%w: sequence %d has %d bytes", ErrTooLarge, r.Seq, len(r.Data))
		}
		if r.Epoch > MaxEpoch {
			return Commit{}, fmt.Errorf("%w: sequence %d has epoch %d", ErrEpoch, r.Seq, r.Epoch)
		}
		if r.CRC != 0 {
			if got := Checksum(r.Seq, r.Epoch, r.More, r.Time, r.Data); got != r.CRC {
				return Commit{}, fmt.Errorf("%w: sequence %d: carried %08x, computed %08x", ErrChecksum, r.Seq, r.CRC, got)
			}
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return Commit{}, err
	}
	first := l.nextSeq
	for i := range recs {
		if want := first + uint64(i); recs[i].Seq != want {
			return Commit{}, fmt.Errorf("%w: got %d, want %d", ErrSequence, recs[i].Seq, want)
		}
	}
	for i := range recs {
		r := &recs[i]
		l.queue(r.Seq, r.Epoch, r.More, r.Time, r.Data)
	}
	return l.committed(first), nil
}

func (l *Log) usable() error {
	if l.closed {
		return ErrClosed
	}
	return l.err
}

func (l *Log) committed(first uint64) Commit {
	c := Commit{First: first, Last: l.nextSeq - 1, g: l.group}
	if c.Last >= c.First {
		l.signal()
	} else {
		c.g = doneGroup
	}
	return c
}

// Barrier returns the receipt for every record queued so far: its Wait
// returns once all of them are durable, or with the error that kept them
// from becoming so. Records queued after the call may share its commit.
func (l *Log) Barrier() Commit {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.pendingCount > 0:
		return Commit{First: l.durable.Load() + 1, Last: l.nextSeq - 1, g: l.group}
	case l.writing != nil:
		return Commit{First: l.durable.Load() + 1, Last: l.nextSeq - 1, g: l.writing}
	default:
		return Commit{First: l.nextSeq, Last: l.nextSeq - 1, g: doneGroup}
	}
}

var doneGroup = func() *group { g := &group{done: make(chan struct{})}; close(g.done); return g }()

// queue encodes one record into the pending chunks, rolling to a new
// segment when the active one is full. Called with l.mu held.
func (l *Log) queue(seq, epoch uint64, more bool, t int64, data []byte) {
	seg := l.segs[len(l.segs)-1]
	size := int64(HeaderSize + len(data))
	if seg.size+size > l.opts.SegmentSize && seg.last >= seg.first {
		seg = &segment{first: seq, last: seq - 1, path: filepath.Join(l.dir, segmentName(seq)), size: SegmentHeaderSize}
		l.segs = append(l.segs, seg)
		l.addChunk(seg)
	}
	if len(l.pending) == 0 {
		l.addChunk(nil)
	}
	if n := len(seg.index); n == 0 || seg.size-seg.index[n-1].off >= l.opts.IndexInterval {
		seg.index = append(seg.index, indexPoint{seq: seq, off: seg.size})
	}
	c := &l.pending[len(l.pending)-1]
	c.data, _ = appendRecord(c.data, seq, epoch, more, t, data)
	l.pendingCount++
	l.pendingBytes += int(size)
	if l.pendingBytes >= spacedBytes {
		l.endSpaceWait()
	}
	if l.gatherWant > 0 && l.pendingCount >= l.gatherWant {
		l.gatherWant = 0
		select {
		case l.gathered <- struct{}{}:
		default:
		}
	}
	seg.size += size
	seg.last = seq
	if !more {
		seg.lastEnd = seq
		l.queuedEnd, l.queuedEndSeg = seq, seg.first
	}
	l.nextSeq = seq + 1
}

// addChunk starts a pending chunk, reusing the buffer a previous group
// commit left in the slot. Called with l.mu held.
func (l *Log) addChunk(seg *segment) {
	n := len(l.pending)
	if n == cap(l.pending) {
		l.pending = append(l.pending, chunk{})
	}
	l.pending = l.pending[:n+1]
	l.pending[n].seg = seg
	l.pending[n].data = l.pending[n].data[:0]
	if want := min(l.lastBytes, maxChunkHint); cap(l.pending[n].data) < want {
		// Large commits (a replica catching up, batch writes): start at
		// the last commit's size instead of doubling up to it.
		l.pending[n].data = make([]byte, 0, want+want/4)
	}
}

// maxKeptChunk bounds the buffer a chunk keeps for reuse after a commit;
// maxChunkHint the size a new buffer starts at.
const (
	maxKeptChunk = 4 << 20
	maxChunkHint = 16 << 20
)

// flusher is the single writer: it takes everything queued, writes it with
// one write per segment and one fsync, and releases the group.
func (l *Log) flusher() {
	defer l.flushing.Done()
	var spare []chunk
	var released, arrived int // records in the last group; records queued while it was written
	var lastSync time.Duration
	var gs gatherState
	var lastEnd time.Time // when the last group commit was released
	for range l.kick {
		for {
			l.space(lastEnd)
			l.gather(&gs, released, arrived, lastSync)
			l.mu.Lock()
			chunks, g, last, closed := l.pending, l.group, l.nextSeq-1, l.closed
			end := mark{seq: l.queuedEnd, seg: l.queuedEndSeg}
			first := l.durable.Load() + 1
			if len(chunks) == 0 {
				l.mu.Unlock()
				if closed {
					return
				}
				break
			}
			l.pending = spare[:0]
			l.pendingCount, l.pendingBytes = 0, 0
			l.hurried = false // what it asked for is in this commit
			l.writing = g
			l.group = &group{done: make(chan struct{})}
			l.mu.Unlock()

			start := time.Now()
			l.fileMu.Lock()
			written, err := l.write(chunks, first, last)
			if err == nil && end.seq > 0 {
				// After the sync: the mark never claims more than the
				// segments hold. Synced later, off the write path.
				if merr := l.marks.write(end); merr != nil {
					l.markFailed(merr)
				}
			}
			l.fileMu.Unlock()
			lastSync = time.Since(start)
			released = int(last - first + 1)
			l.mu.Lock()
			arrived = l.pendingCount
			l.lastBytes = written
			l.mu.Unlock()
			if err != nil {
				l.mu.Lock()
				l.err = fmt.Errorf("%w: %w", ErrUnusable, err)
				g.err = l.err
				l.mu.Unlock()
			} else {
				l.publishTail()
				l.ended.Store(end.seq) // the records are on disk already
				l.durable.Store(last)
				l.wake()
			}
			close(g.done)
			lastEnd = time.Now()
			for i := range chunks {
				data := chunks[i].data[:0]
				if cap(data) > maxKeptChunk {
					data = nil
				}
				chunks[i] = chunk{data: data}
			}
			if !l.opts.NoPreallocate && l.activeOff > l.opts.SegmentSize/2 {
				l.requestSpare()
			}
			spare = chunks
		}
	}
}

// SetSyncInterval spaces group commits: once one is released, the next
// starts no sooner than d later, unless spacedBytes are pending or the log
// is closing; 0 (the default) starts each as soon as records are queued.
// Spacing trades the latency of Commit.Wait for fewer writes and syncs: a
// replica whose acks are held anyway sets it, so it costs its disk and
// CPU one sync per interval instead of one per leader commit (its readers
// do not wait for its log, see engine.Replicated.Show). It may be changed
// at any time and applies from the next group commit.
func (l *Log) SetSyncInterval(d time.Duration) { l.spacing.Store(int64(max(d, 0))) }

// Hurry has what is queued written and synced without waiting out the sync
// interval: the flusher's current wait ends, or the next one is skipped if
// the flusher is writing. Records queued after that commit wait for the
// interval again.
func (l *Log) Hurry() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hurried = true
	l.endSpaceWait()
}

// SyncInterval is what SetSyncInterval set last.
func (l *Log) SyncInterval() time.Duration { return time.Duration(l.spacing.Load()) }

// spacedBytes ends a SetSyncInterval wait early: a replica catching up
// writes full batches at once.
const spacedBytes = 1 << 20

// space waits until the sync interval has passed since last, when one is
// set, or until spacedBytes are pending or the log closes.
func (l *Log) space(last time.Time) {
	d := time.Duration(l.spacing.Load())
	if d <= 0 || last.IsZero() {
		return
	}
	wait := d - time.Since(last)
	if wait <= 0 {
		return
	}
	l.mu.Lock()
	if l.closed || l.pendingBytes >= spacedBytes || l.hurried {
		l.mu.Unlock()
		return
	}
	l.spaceWait = true
	l.mu.Unlock()
	signalOrTimeout(l.spaced, wait)
	l.mu.Lock()
	l.spaceWait = false
	l.mu.Unlock()
	drain(l.spaced)
}

// signalOrTimeout waits for a signal on ch or for d, whichever is first.
func signalOrTimeout(ch <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	}
}

// drain drops a signal on ch that raced with a timeout.
func drain(ch <-chan struct{}) {
	select {
	case <-ch:
	default:
	}
}

// endSpaceWait ends the flusher's wait in space. Called with l.mu held.
func (l *Log) endSpaceWait() {
	if l.spaceWait {
		l.spaceWait = false
		select {
		case l.spaced <- struct{}{}:
		default:
		}
	}
}

// Group commit gathering. With many concurrent writers, a flusher that
// starts the next fsync the moment the last one ends splits the writers into
// two cohorts that alternate, each waiting for the other's fsync: every
// append then costs two fsyncs. When the last round suggests more writers
// are about to return (those just released plus those that queued during
// the fsync), the flusher waits a moment for them, up to half the last
// fsync and never more than maxGather, so the cohorts merge and each
// append costs one fsync. Below minGatherWriters it never waits.
//
// Writers that do not come straight back (a client pacing its requests, as
// a server under a steady request rate sees) make every wait run out, which
// only delays each commit. After maxGatherMisses waits in a row time out,
// the flusher stops waiting and tries again only every gatherProbe rounds;
// a wait that reaches its target resumes gathering every round.
const (
	maxGather        = time.Millisecond
	minGatherWriters = 8
	maxGatherMisses  = 2
	gatherProbe      = 8
)

// gatherState is the flusher's record of how its recent waits went.
type gatherState struct {
	misses int // consecutive waits that timed out short of their target
	skips  int // rounds without waiting since the last probe
}

// try reports whether this round should wait for writers.
func (g *gatherState) try() bool {
	if g.misses < maxGatherMisses {
		return true
	}
	g.skips++
	if g.skips < gatherProbe {
		return false
	}
	g.skips = 0
	return true
}

// result records whether a wait reached its target.
func (g *gatherState) result(hit bool) {
	if hit {
		g.misses, g.skips = 0, 0
	} else {
		g.misses++
	}
}

func (l *Log) gather(g *gatherState, released, arrived int, lastSync time.Duration) {
	want := released + arrived
	wait := min(lastSync/2, maxGather)
	if l.opts.NoSync || want < minGatherWriters || wait <= 0 {
		return
	}
	l.mu.Lock()
	if l.pendingCount >= want || l.closed {
		l.mu.Unlock()
		return
	}
	if !g.try() {
		l.mu.Unlock()
		return
	}
	l.gatherWant = want
	l.mu.Unlock()
	signalOrTimeout(l.gathered, wait)
	l.mu.Lock()
	l.gatherWant = 0
	g.result(l.pendingCount >= want)
	l.mu.Unlock()
	drain(l.gathered)
}

// write writes the chunks, rolling segments where they start one, syncs
// the active segment and returns the bytes written.
func (l *Log) write(chunks []chunk, first, last uint64) (int, error) {
	n := 0
	for _, c := range chunks {
		if c.seg != nil {
			if err := l.roll(c.seg); err != nil {
				return n, err
			}
		}
		if len(c.data) == 0 {
			continue
		}
		if _, err := l.active.WriteAt(c.data, l.activeOff); err != nil {
			return n, fmt.Errorf("write %s: %w", l.active.Name(), err)
		}
		l.activeOff += int64(len(c.data))
		n += len(c.data)
	}
	var took time.Duration
	if l.opts.SyncFault != nil {
		if err := l.opts.SyncFault(); err != nil {
			return n, fmt.Errorf("sync %s: %w", l.active.Name(), err)
		}
	}
	if !l.opts.NoSync {
		start := time.Now()
		if err := datasync(l.active); err != nil {
			return n, fmt.Errorf("sync %s: %w", l.active.Name(), err)
		}
		took = time.Since(start)
	}
	if l.opts.OnSync != nil {
		l.opts.OnSync(int(last-first+1), n, took)
	}
	return n, nil
}

// roll seals the active segment (sync, record its final size, close) and
// makes seg the active one, in a prepared zero-filled file when one is
// ready.
func (l *Log) roll(seg *segment) error {
	if !l.opts.NoSync {
		if err := datasync(l.active); err != nil {
			return fmt.Errorf("sync %s: %w", l.active.Name(), err)
		}
	}
	l.activeSeg.end.Store(l.activeOff)
	if err := l.active.Close(); err != nil {
		return fmt.Errorf("close %s: %w", l.active.Name(), err)
	}
	var f *os.File
	select {
	case spare := <-l.spare:
		var err error
		if f, err = l.adoptSpare(spare, seg); err != nil {
			return err
		}
	default:
		var err error
		if f, err = createSegmentFile(l.dir, seg.first, l.opts.NoSync); err != nil {
			return err
		}
	}
	l.active, l.activeSeg, l.activeOff = f, seg, SegmentHeaderSize
	if !l.opts.NoPreallocate {
		l.requestSpare()
	}
	l.kickMarkSync()
	return nil
}

// createSegmentFile creates a segment file with its header, synced along
// with the directory entry unless noSync.
func createSegmentFile(dir string, first uint64, noSync bool) (*os.File, error) {
	path := filepath.Join(dir, segmentName(first))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, fmt.Errorf("wal: create segment: %w", err)
	}
	if _, err := f.Write(segmentHeader(first)); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("wal: write segment header: %w", err)
	}
	if !noSync {
		if err := f.Sync(); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("wal: sync segment header: %w", err)
		}
		if err := syncDir(dir); err != nil {
			_ = f.Close()
			return nil, err
		}
	}
	return f, nil
}

// datasync flushes a file's data and the metadata needed to read it back
// (its size), which is all an append-only log needs; it skips the timestamp
// updates a full fsync also writes.
func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
