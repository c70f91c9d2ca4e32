package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// Log is a segmented write-ahead log. Its methods are safe for concurrent
// use. Appends are ordered by the sequence the log assigns; an append is
// acknowledged only once durable (see doc.go).
type Log struct {
	dir  string
	opts Options

	mu           sync.Mutex
	segs         []*segment    // sorted; the last is the active segment
	nextSeq      uint64        // sequence the next record will get
	pending      []chunk       // encoded records waiting for the flusher
	pendingCount int           // records in pending
	lastBytes    int           // bytes of the last group commit, to size the next buffer
	gatherWant   int           // wake the flusher when pendingCount reaches this (0: no one waits)
	gathered     chan struct{} // signalled when gatherWant is reached
	pendingBytes int           // bytes in pending
	spaceWait    bool          // the flusher waits out the sync interval: signal spaced at spacedBytes or Close
	hurried      bool          // Hurry: the flusher skips (or ends) its next interval wait
	spaced       chan struct{}
	group        *group // the group the next records join
	writing      *group // the group the flusher took last (done once it is durable)
	err          error  // sticky write/sync failure
	closed       bool
	kick         chan struct{}
	flushing     sync.WaitGroup

	durable atomic.Uint64 // last durable sequence
	// ended is the last durable sequence that ends a write (More unset);
	// it trails durable only on a replica holding part of a write.
	ended        atomic.Uint64
	queuedEnd    uint64 // last queued sequence that ends a write
	queuedEndSeg uint64 // first sequence of the segment holding queuedEnd
	notifyMu     sync.Mutex
	notify       chan struct{} // closed and replaced each time durable advances
	trunc        atomic.Uint64 // bumped by TruncateBack to invalidate readers
	spacing      atomic.Int64  // SetSyncInterval, nanoseconds

	repaired  []string
	lost      uint64    // durable records accepted as lost at open
	marks     *markFile // the durable high-water mark
	markKick  chan struct{}
	stopMark  chan struct{}
	markWG    sync.WaitGroup
	fileMu    sync.Mutex // held while the active file is written or replaced
	active    *os.File   // the active segment's file, written at activeOff
	activeSeg *segment
	activeOff int64
	// tail is where durable data ends: published by the flusher before
	// durable, so a reader that sees a durable sequence also sees its bytes.
	tail atomic.Pointer[tailPos]

	spare     chan *os.File // a zero-filled segment file ready for the next roll
	wantSpare chan struct{}
	stopPrep  chan struct{}
	prepping  sync.WaitGroup
	spares    atomic.Int64 // spare files made, for unique names
}

// tailPos is the end of the durable data: in segment seg (its first
// sequence), at file offset off.
type tailPos struct {
	seg uint64
	off int64
}

func (l *Log) publishTail() {
	l.tail.Store(&tailPos{seg: l.activeSeg.first, off: l.activeOff})
}

// chunk is a run of encoded records bound for one segment. A chunk whose
// seg is set starts that new segment.
type chunk struct {
	seg  *segment
	data []byte
}

// group is one group commit: every record queued between two flushes.
type group struct {
	done chan struct{}
	err  error
}

// Open opens or creates the log in dir, verifying and repairing it as
// described in doc.go.
func Open(dir string, opts Options) (*Log, error) {
	opts = opts.withDefaults()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("wal: create dir: %w", err)
	}
	segs, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	l := &Log{dir: dir, opts: opts, kick: make(chan struct{}, 1), notify: make(chan struct{}), gathered: make(chan struct{}, 1), spaced: make(chan struct{}, 1),
		spare: make(chan *os.File, 1), wantSpare: make(chan struct{}, 1), stopPrep: make(chan struct{}),
		markKick: make(chan struct{}, 1), stopMark: make(chan struct{})}
	removeSpares(dir)
	m, _, err := readMark(dir)
	if err != nil {
		opts.Logger.Warn("wal: ignoring an unreadable durable mark", "dir", dir, "err", err)
	}
	listed := map[uint64]bool{}
	for _, s := range segs {
		listed[s.first] = true
	}
	if err := l.verify(segs, m); err != nil {
		return nil, err
	}
	if err := l.checkMark(m, listed); err != nil {
		return nil, err
	}
	if err := l.cutIncomplete(); err != nil {
		return nil, err
	}
	if len(l.segs) == 0 {
		if err := l.startEmpty(1); err != nil {
			return nil, err
		}
	} else {
		act := l.segs[len(l.segs)-1]
		f, err := os.OpenFile(act.path, os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("wal: open active segment: %w", err)
		}
		l.active, l.activeSeg, l.activeOff = f, act, act.size
	}
	for _, s := range l.segs[:len(l.segs)-1] {
		s.end.Store(s.size)
	}
	last := l.segs[len(l.segs)-1]
	l.nextSeq = last.last + 1
	l.publishTail()
	l.durable.Store(last.last)
	l.ended.Store(last.last)
	l.queuedEnd = last.last
	mk := l.markFor(last.last)
	l.queuedEndSeg = mk.seg
	if l.marks, err = openMarkFile(dir, mk, opts.NoSync); err != nil {
		_ = l.active.Close()
		return nil, err
	}
	l.group = &group{done: make(chan struct{})}
	l.flushing.Add(1)
	go l.flusher()
	l.markWG.Add(1)
	go l.markSyncer()
	if !opts.NoPreallocate {
		l.prepping.Add(1)
		go l.prepare()
	}
	return l, nil
}

// startEmpty creates the first segment of an empty log at sequence first,
// preallocated unless Options.NoPreallocate.
func (l *Log) startEmpty(first uint64) error {
	seg := &segment{first: first, last: first - 1, path: filepath.Join(l.dir, segmentName(first)), size: SegmentHeaderSize}
	var f *os.File
	var err error
	if l.opts.NoPreallocate {
		f, err = createSegmentFile(l.dir, first, l.opts.NoSync)
	} else if f, err = l.zeroFilled(false); err == nil {
		f, err = l.adoptSpare(f, seg)
	}
	if err != nil {
		return err
	}
	l.active, l.activeSeg, l.activeOff = f, seg, SegmentHeaderSize
	l.segs = []*segment{seg}
	l.publishTail()
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("wal: open dir for sync: %w", err)
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("wal: sync dir: %w", err)
	}
	return nil
}

// Repaired describes what Open cut off or accepted, one line each: torn
// tails, incomplete trailing writes, and losses accepted with
// Options.AcceptLoss.
func (l *Log) Repaired() []string { return append([]string(nil), l.repaired...) }

// Dir returns the log directory.
func (l *Log) Dir() string { return l.dir }

// FirstSeq returns the first retained sequence (LastSeq+1 when empty).
func (l *Log) FirstSeq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.segs[0].first
}

// LastSeq returns the last durable sequence, 0 for an empty log.
func (l *Log) LastSeq() uint64 { return l.durable.Load() }

// LastCompleteSeq returns the last durable sequence that ends a write (a
// record without More). On a leader it equals LastSeq: a group commit
// holds whole writes. On a replica, whose leader's frames may split a
// write, it trails LastSeq while the end of a write is still to come.
func (l *Log) LastCompleteSeq() uint64 { return l.ended.Load() }

// NextSeq returns the sequence the next appended record will get.
func (l *Log) NextSeq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nextSeq
}

// Size returns the bytes held by retained segments.
func (l *Log) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, s := range l.segs {
		n += s.size
	}
	return n
}

// Close waits for queued records to be flushed and closes the log. Appends
// after Close fail with ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closed = true
	l.endSpaceWait()
	l.mu.Unlock()
	l.signal()
	l.flushing.Wait()
	close(l.stopPrep)
	l.prepping.Wait()
	select {
	case f := <-l.spare:
		_ = f.Close()
		_ = os.Remove(f.Name())
	default:
	}
	l.wake()
	close(l.stopMark)
	l.markWG.Wait()
	var err error
	if l.active != nil {
		err = l.active.Close()
	}
	if merr := l.marks.close(); err == nil {
		err = merr
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil && !errors.Is(l.err, ErrClosed) {
		return l.err
	}
	return err
}

func (l *Log) signal() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// wake releases everyone waiting for the durable sequence to change.
func (l *Log) wake() {
	l.notifyMu.Lock()
	close(l.notify)
	l.notify = make(chan struct{})
	l.notifyMu.Unlock()
}

// changed returns a channel closed at the next durable advance.
func (l *Log) changed() <-chan struct{} {
	l.notifyMu.Lock()
	defer l.notifyMu.Unlock()
	return l.notify
}
