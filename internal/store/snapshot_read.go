package store

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"unsafe"
)

// ReadSnapshot reads a snapshot written by WriteSnapshot and returns the
// store it holds, with LastApplied set to the snapshot's sequence.
//
// Everything is verified before the store is returned: magic and version,
// the CRC-32C of every section, the order and uniqueness of records, that
// every association joins two present, distinct concepts, that all floats
// are finite, that nothing follows the trailer, and finally that the digest
// recomputed from the records equals the one stored. Any failure, including
// a truncated input, returns an error wrapping ErrCorruptSnapshot that gives
// the byte offset and what was wrong. Errors of r other than io.EOF are
// returned wrapped as they are, not as corruption.
//
// Memory grows with the data actually present, not with counts or lengths
// claimed by a damaged file. r is read to EOF through a bufio.Reader.
func ReadSnapshot(r io.Reader) (*Store, SnapshotInfo, error) {
	l := &loader{
		sr:  snapReader{br: bufio.NewReaderSize(r, snapBufSize)},
		s:   New(),
		buf: make([]byte, 0, 512),
	}
	info, err := l.load()
	info.Bytes = l.sr.n
	if err != nil {
		return nil, info, err
	}
	return l.s, info, nil
}

// loader rebuilds a store from a snapshot, section by section.
type loader struct {
	sr  snapReader
	s   *Store
	sum digestSum // recomputed from the records
	// buf holds the domain tag followed by the current record, so the
	// record's bytes are read once and serve for the CRC, the store and
	// the item hash.
	buf []byte
}

func (l *loader) load() (SnapshotInfo, error) {
	info, nConcepts, nAssocs, err := l.header()
	if err != nil {
		return info, err
	}
	if err := l.concepts(nConcepts); err != nil {
		return info, err
	}
	if err := l.associations(nAssocs); err != nil {
		return info, err
	}
	if info.Digest, err = l.trailer(); err != nil {
		return info, err
	}
	s := l.s
	s.lastApplied = info.Seq
	s.nConcepts = int(nConcepts)
	s.assocs = int(nAssocs)
	s.digest = l.sum
	info.Concepts = s.nConcepts
	info.Associations = s.assocs
	return info, nil
}

func (l *loader) header() (info SnapshotInfo, nConcepts, nAssocs uint64, err error) {
	b, err := l.sr.read(l.buf[:0], snapHeaderSize)
	if err != nil {
		return info, 0, 0, err
	}
	if string(b[0:8]) != snapMagic {
		return info, 0, 0, corruptf(0, "bad magic %q", b[0:8])
	}
	if v := binary.LittleEndian.Uint32(b[8:12]); v != snapVersion {
		return info, 0, 0, corruptf(8, "unsupported version %d, want %d", v, snapVersion)
	}
	if err := l.sr.endSection("header"); err != nil {
		return info, 0, 0, err
	}
	if f := binary.LittleEndian.Uint32(b[12:16]); f != 0 {
		return info, 0, 0, corruptf(12, "reserved field is %#x, want 0", f)
	}
	info.Seq = binary.LittleEndian.Uint64(b[16:24])
	return info, binary.LittleEndian.Uint64(b[24:32]), binary.LittleEndian.Uint64(b[32:40]), nil
}

// concepts reads n concept records, strictly ascending by ID.
func (l *loader) concepts(n uint64) error {
	var prev ConceptID
	for i := uint64(0); i < n; i++ {
		at := l.sr.n
		b, err := l.sr.read(append(l.buf[:0], tagConcept), 16+recHeaderSize)
		if err != nil {
			return err
		}
		id := ConceptID(b[1:17])
		if i > 0 && compareIDs(id, prev) <= 0 {
			return corruptf(at, "concept %d: id %s does not follow %s", i, id, prev)
		}
		prev = id
		clen := uint64(binary.LittleEndian.Uint32(b[17+recContentLen:]))
		dims := uint64(binary.LittleEndian.Uint32(b[17+recDims:]))
		if b, err = l.sr.read(b, clen+4*dims); err != nil {
			return err
		}
		if err := checkRecord(record(unsafe.String(&b[17], len(b)-17))); err != nil { // a view: nothing is kept
			return corruptf(at, "concept %s: %v", id, err)
		}
		l.s.shards[shardIndex(id)].setRecord(id, b[17:], 0, false) // IDs ascend: never a replacement
		l.sum.add(sha256.Sum256(b))
		l.keep(b)
	}
	return l.sr.endSection("concepts")
}

// associations reads n association records, strictly ascending by (source,
// target, type); each source's run becomes its adjacency list.
func (l *loader) associations(n uint64) error {
	var (
		prev Association
		run  []edge
	)
	flush := func() {
		if len(run) > 0 {
			l.s.shards[shardIndex(prev.Source)].out[prev.Source] = slices.Clone(run)
			run = run[:0]
		}
	}
	for i := uint64(0); i < n; i++ {
		at := l.sr.n
		b, err := l.sr.read(append(l.buf[:0], tagAssociation), 40)
		if err != nil {
			return err
		}
		a := decodeAssociation(b[1:])
		if i > 0 && compareAssocKeys(&a, &prev) <= 0 {
			return corruptf(at, "association %d does not follow the previous one", i)
		}
		if err := checkStoredAssociation(l.s, &a); err != nil {
			return corruptf(at, "association %d: %v", i, err)
		}
		if i > 0 && a.Source != prev.Source {
			flush()
		}
		prev = a
		run = append(run, edge{target: a.Target, typ: a.Type, strength: a.Strength})
		l.s.in[a.Target] = append(l.s.in[a.Target], a.Source)
		l.sum.add(sha256.Sum256(b))
		l.keep(b)
	}
	flush()
	return l.sr.endSection("associations")
}

// trailer reads the stored digest, compares it with the recomputed one and
// checks that the input ends there.
func (l *loader) trailer() (Digest, error) {
	at := l.sr.n
	b, err := l.sr.read(l.buf[:0], uint64(len(Digest{})))
	if err != nil {
		return Digest{}, err
	}
	stored := Digest(b)
	if err := l.sr.endSection("trailer"); err != nil {
		return Digest{}, err
	}
	if got := l.sum.digest(); got != stored {
		return Digest{}, corruptf(at, "digest mismatch: trailer says %s, records hash to %s", stored, got)
	}
	if _, err := l.sr.br.ReadByte(); err == nil {
		return Digest{}, corruptf(l.sr.n, "unexpected bytes after the trailer")
	} else if !errors.Is(err, io.EOF) {
		return Digest{}, fmt.Errorf("store: reading snapshot: %w", err)
	}
	return stored, nil
}

// keep retains b's storage for the next record unless it grew large.
func (l *loader) keep(b []byte) {
	if cap(b) <= maxKeptBuf {
		l.buf = b
	}
}

// checkRecord rejects non-finite floats, which Apply never stores.
func checkRecord(r record) error {
	if isNonFinite(math.Float32frombits(r.u32(recStrength))) || isNonFinite(math.Float32frombits(r.u32(recConfidence))) {
		return errors.New("non-finite strength or confidence")
	}
	off := recHeaderSize + int(r.u32(recContentLen))
	for i := range int(r.u32(recDims)) {
		if isNonFinite(math.Float32frombits(r.u32(off + 4*i))) {
			return fmt.Errorf("non-finite embedding[%d]", i)
		}
	}
	return nil
}

// checkStoredAssociation checks what Apply guarantees of every association.
func checkStoredAssociation(s *Store, a *Association) error {
	if a.Source == a.Target {
		return fmt.Errorf("source and target are both %s", a.Source)
	}
	if _, ok := s.lookup(a.Source); !ok {
		return fmt.Errorf("source %s is not in the snapshot", a.Source)
	}
	if _, ok := s.lookup(a.Target); !ok {
		return fmt.Errorf("target %s is not in the snapshot", a.Target)
	}
	if isNonFinite(a.Strength) {
		return errors.New("non-finite strength")
	}
	return nil
}

// compareAssocKeys orders associations by (source, target, type).
func compareAssocKeys(a, b *Association) int {
	if c := compareIDs(a.Source, b.Source); c != 0 {
		return c
	}
	return compareEdgeKey(edge{target: a.Target, typ: a.Type}, b.Target, b.Type)
}

// snapReader reads sections and checks the CRC-32C that ends each one.
type snapReader struct {
	br  *bufio.Reader
	crc uint32 // of the current section so far
	n   int64  // bytes consumed
}

// readChunk bounds how much read allocates ahead of the data it has seen,
// so a damaged length cannot make it reserve gigabytes.
const readChunk = 1 << 20

// read appends the next n bytes to dst. Running out of input is corruption.
func (sr *snapReader) read(dst []byte, n uint64) ([]byte, error) {
	for n > 0 {
		k := int(min(n, readChunk))
		dst = slices.Grow(dst, k)
		p := dst[len(dst) : len(dst)+k]
		got, err := io.ReadFull(sr.br, p)
		sr.crc = crc32.Update(sr.crc, castagnoli, p[:got])
		sr.n += int64(got)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return dst, corruptf(sr.n, "truncated: %d more bytes expected", n-uint64(got))
			}
			return dst, fmt.Errorf("store: reading snapshot: %w", err)
		}
		dst = dst[:len(dst)+k]
		n -= uint64(k)
	}
	return dst, nil
}

// endSection reads the CRC that closes a section and compares it with the
// CRC of the section's bytes.
func (sr *snapReader) endSection(name string) error {
	want := sr.crc
	at := sr.n
	b, err := sr.read(make([]byte, 0, 4), 4)
	if err != nil {
		return err
	}
	sr.crc = 0
	if got := binary.LittleEndian.Uint32(b); got != want {
		return corruptf(at, "%s checksum %#08x, computed %#08x", name, got, want)
	}
	return nil
}

func corruptf(at int64, format string, args ...any) error {
	return fmt.Errorf("%w: offset %d: %s", ErrCorruptSnapshot, at, fmt.Sprintf(format, args...))
}
