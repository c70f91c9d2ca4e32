package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// The durable high-water mark: a fixed-size file beside the segments
// holding the highest write boundary ever made durable (see doc.go,
// "Durable mark").
const (
	markName    = "durable"
	markSize    = 32
	markMagic   = "SDUR"
	markVersion = 1
	// markSyncInterval is how often a changed mark is synced.
	markSyncInterval = time.Second
)

// mark is the highest durable record that ends a write, and the segment
// holding it. The zero mark claims nothing.
type mark struct {
	seq uint64 // 0: no claim
	seg uint64 // first sequence of the segment holding seq
}

func encodeMark(dst []byte, m mark) {
	clear(dst[:markSize])
	copy(dst, markMagic)
	binary.LittleEndian.PutUint16(dst[4:], markVersion)
	binary.LittleEndian.PutUint64(dst[8:], m.seq)
	binary.LittleEndian.PutUint64(dst[16:], m.seg)
	binary.LittleEndian.PutUint32(dst[24:], crc32.Checksum(dst[:24], castagnoli))
}

// decodeMark decodes a mark file's contents. Anything but a whole, intact
// mark of this version fails with ErrCorrupt.
func decodeMark(b []byte) (mark, error) {
	if len(b) != markSize {
		return mark{}, fmt.Errorf("%w: durable mark is %d bytes, want %d", ErrCorrupt, len(b), markSize)
	}
	if string(b[:4]) != markMagic {
		return mark{}, fmt.Errorf("%w: bad durable mark magic %q", ErrCorrupt, b[:4])
	}
	if v := binary.LittleEndian.Uint16(b[4:]); v != markVersion {
		return mark{}, fmt.Errorf("%w: unsupported durable mark version %d", ErrCorrupt, v)
	}
	if got, want := crc32.Checksum(b[:24], castagnoli), binary.LittleEndian.Uint32(b[24:]); got != want {
		return mark{}, fmt.Errorf("%w: durable mark checksum mismatch (stored %08x, computed %08x)", ErrCorrupt, want, got)
	}
	m := mark{seq: binary.LittleEndian.Uint64(b[8:]), seg: binary.LittleEndian.Uint64(b[16:])}
	if m.seq > 0 && (m.seg == 0 || m.seg > m.seq+1) {
		return mark{}, fmt.Errorf("%w: durable mark sequence %d in segment %d", ErrCorrupt, m.seq, m.seg)
	}
	return m, nil
}

// readMark reads the mark in dir. found is false when there is none: no
// file (a fresh or older data directory) or, with err set, one that cannot
// be read or decoded.
func readMark(dir string) (m mark, found bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, markName))
	if errors.Is(err, os.ErrNotExist) {
		return mark{}, false, nil
	}
	if err != nil {
		return mark{}, false, fmt.Errorf("wal: read durable mark: %w", err)
	}
	if m, err = decodeMark(b); err != nil {
		return mark{}, false, err
	}
	return m, true, nil
}

// markFile is the open mark file with what was last written to it and
// what was last synced.
type markFile struct {
	mu      sync.Mutex
	f       *os.File
	noSync  bool
	written mark
	synced  mark
	failed  bool // a write or sync failed (logged once)
	buf     [markSize]byte
}

// openMarkFile opens (creating) the mark file and makes it hold m, synced
// along with the directory entry.
func openMarkFile(dir string, m mark, noSync bool) (*markFile, error) {
	path := filepath.Join(dir, markName)
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("wal: open durable mark: %w", err)
	}
	mf := &markFile{f: f, noSync: noSync}
	if err := mf.set(m); err != nil {
		_ = f.Close()
		return nil, err
	}
	if statErr != nil && !noSync {
		if err := syncDir(dir); err != nil {
			_ = f.Close()
			return nil, err
		}
	}
	return mf, nil
}

// write stores m with one write at offset 0, without syncing. Called by the
// flusher after a group commit's sync, so the file never claims more than
// the segments hold.
func (mf *markFile) write(m mark) error {
	mf.mu.Lock()
	defer mf.mu.Unlock()
	return mf.writeLocked(m)
}

func (mf *markFile) writeLocked(m mark) error {
	if m == mf.written {
		return nil
	}
	encodeMark(mf.buf[:], m)
	if _, err := mf.f.WriteAt(mf.buf[:], 0); err != nil {
		return fmt.Errorf("wal: write durable mark: %w", err)
	}
	mf.written = m
	return nil
}

// set writes m and syncs it before returning: for changes that must be on
// disk before the log is cut or replaced.
func (mf *markFile) set(m mark) error {
	mf.mu.Lock()
	defer mf.mu.Unlock()
	mf.written = mark{seq: ^uint64(0)} // force the write
	if err := mf.writeLocked(m); err != nil {
		return err
	}
	return mf.syncLocked()
}

// sync syncs the file if it changed since the last sync.
func (mf *markFile) sync() error {
	mf.mu.Lock()
	defer mf.mu.Unlock()
	if mf.written == mf.synced {
		return nil
	}
	return mf.syncLocked()
}

func (mf *markFile) syncLocked() error {
	if !mf.noSync {
		if err := datasync(mf.f); err != nil {
			return fmt.Errorf("wal: sync durable mark: %w", err)
		}
	}
	mf.synced = mf.written
	return nil
}

// current returns the mark last written.
func (mf *markFile) current() mark {
	mf.mu.Lock()
	defer mf.mu.Unlock()
	return mf.written
}

func (mf *markFile) close() error {
	err := mf.sync()
	if cerr := mf.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// markFailed logs a mark write or sync failure the first time. A mark that could
// not be written is only lower than it should be, which is safe: the log
// goes on.
func (l *Log) markFailed(err error) {
	l.marks.mu.Lock()
	first := !l.marks.failed
	l.marks.failed = true
	l.marks.mu.Unlock()
	if first {
		l.opts.Logger.Warn("wal: cannot update the durable mark; loss of the newest records may go undetected", "err", err)
	}
}

// markSyncer syncs the mark file when it changed, at most every
// markSyncInterval and when a segment roll asks for it, off the write path.
func (l *Log) markSyncer() {
	defer l.markWG.Done()
	t := time.NewTicker(markSyncInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stopMark:
			return
		case <-t.C:
		case <-l.markKick:
		}
		if err := l.marks.sync(); err != nil {
			l.markFailed(err)
		}
	}
}

func (l *Log) kickMarkSync() {
	select {
	case l.markKick <- struct{}{}:
	default:
	}
}

// markFor returns the mark for write boundary end: end and the segment
// that holds it. Called with l.mu held (or before the log is shared).
func (l *Log) markFor(end uint64) mark {
	if end == 0 {
		return mark{}
	}
	seg := l.segs[0].first
	for _, s := range l.segs {
		if s.first <= end {
			seg = s.first
		}
	}
	return mark{seq: end, seg: seg}
}

// Mark returns the durable high-water mark: the highest sequence that ends
// a write and is recorded as durable in the mark file.
func (l *Log) Mark() uint64 { return l.marks.current().seq }

// Lost returns how many records below the durable mark Open found missing
// and accepted as lost (Options.AcceptLoss); 0 normally.
func (l *Log) Lost() uint64 { return l.lost }
