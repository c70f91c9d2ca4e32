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
	sr := &snapReader{br: bufio.NewReaderSize(r, snapBufSize)}
	s, info, err := sr.readAll()
	info.Bytes = sr.n
	if err != nil {
		return nil, info, err
	}
	return s, info, nil
}

// readAll decodes the sections in order. The hash buffer holds the domain
// tag followed by the record, so a concept's record bytes are read once and
// serve for the hash, the store and the CRC.
func (sr *snapReader) readAll() (*Store, SnapshotInfo, error) {
	var info SnapshotInfo
	buf := make([]byte, 0, 512)

	// Header.
	buf, err := sr.read(buf[:0], snapHeaderSize)
	if err != nil {
		return nil, info, err
	}
	if string(buf[0:8]) != snapMagic {
		return nil, info, corruptf(0, "bad magic %q", buf[0:8])
	}
	if v := binary.LittleEndian.Uint32(buf[8:12]); v != snapVersion {
		return nil, info, corruptf(8, "unsupported version %d, want %d", v, snapVersion)
	}
	if err := sr.endSection("header"); err != nil {
		return nil, info, err
	}
	if f := binary.LittleEndian.Uint32(buf[12:16]); f != 0 {
		return nil, info, corruptf(12, "reserved field is %#x, want 0", f)
	}
	info.Seq = binary.LittleEndian.Uint64(buf[16:24])
	nConcepts := binary.LittleEndian.Uint64(buf[24:32])
	nAssocs := binary.LittleEndian.Uint64(buf[32:40])

	s := New()
	var sum digestSum

	// Concepts, strictly ascending by ID.
	var prev ConceptID
	for i := uint64(0); i < nConcepts; i++ {
		at := sr.n
		buf = append(buf[:0], tagConcept)
		if buf, err = sr.read(buf, 16+recHeaderSize); err != nil {
			return nil, info, err
		}
		id := ConceptID(buf[1:17])
		if i > 0 && compareIDs(id, prev) <= 0 {
			return nil, info, corruptf(at, "concept %d: id %s does not follow %s", i, id, prev)
		}
		prev = id
		hdr := buf[17:]
		clen := uint64(binary.LittleEndian.Uint32(hdr[recContentLen:]))
		dims := uint64(binary.LittleEndian.Uint32(hdr[recDims:]))
		if buf, err = sr.read(buf, clen+4*dims); err != nil {
			return nil, info, err
		}
		rec := record(buf[17:])
		if err := checkRecord(rec); err != nil {
			return nil, info, corruptf(at, "concept %s: %v", id, err)
		}
		s.shards[shardIndex(id)].concepts[id] = rec
		sum.add(sha256.Sum256(buf))
		if cap(buf) > maxKeptBuf {
			buf = make([]byte, 0, 512)
		}
	}
	if err := sr.endSection("concepts"); err != nil {
		return nil, info, err
	}

	// Associations, strictly ascending by (source, target, type). Each
	// source's run becomes its adjacency list.
	var (
		prevA Association
		run   []edge
	)
	flush := func() {
		if len(run) > 0 {
			s.shards[shardIndex(prevA.Source)].out[prevA.Source] = slices.Clone(run)
			run = run[:0]
		}
	}
	for i := uint64(0); i < nAssocs; i++ {
		at := sr.n
		buf = append(buf[:0], tagAssociation)
		if buf, err = sr.read(buf, 40); err != nil {
			return nil, info, err
		}
		a := decodeAssociation(buf[1:])
		if i > 0 && compareAssocKeys(&a, &prevA) <= 0 {
			return nil, info, corruptf(at, "association %d does not follow the previous one", i)
		}
		if err := checkStoredAssociation(s, &a); err != nil {
			return nil, info, corruptf(at, "association %d: %v", i, err)
		}
		if i > 0 && a.Source != prevA.Source {
			flush()
		}
		prevA = a
		run = append(run, edge{target: a.Target, typ: a.Type, strength: a.Strength})
		s.in[a.Target] = append(s.in[a.Target], a.Source)
		sum.add(sha256.Sum256(buf))
	}
	flush()
	if err := sr.endSection("associations"); err != nil {
		return nil, info, err
	}

	// Trailer: the digest.
	at := sr.n
	if buf, err = sr.read(buf[:0], uint64(len(Digest{}))); err != nil {
		return nil, info, err
	}
	stored := Digest(buf)
	if err := sr.endSection("trailer"); err != nil {
		return nil, info, err
	}
	if got := sum.digest(); got != stored {
		return nil, info, corruptf(at, "digest mismatch: trailer says %s, records hash to %s", stored, got)
	}
	if _, err := sr.br.ReadByte(); err == nil {
		return nil, info, corruptf(sr.n, "unexpected bytes after the trailer")
	} else if !errors.Is(err, io.EOF) {
		return nil, info, fmt.Errorf("store: reading snapshot: %w", err)
	}

	s.lastApplied = info.Seq
	s.nConcepts = int(nConcepts)
	s.assocs = int(nAssocs)
	s.digest = sum
	info.Concepts = s.nConcepts
	info.Associations = s.assocs
	info.Digest = stored
	return s, info, nil
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
