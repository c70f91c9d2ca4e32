package store

import (
	"bufio"
	"encoding/binary"
	"hash/crc32"
	"io"
	"slices"
)

// Snapshot format constants; the layout is in the package comment.
const (
	snapMagic      = "SUTRASNP"
	snapVersion    = 1
	snapHeaderSize = 40 // before the header's CRC
	snapBufSize    = 64 << 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SnapshotInfo describes a snapshot written or read.
type SnapshotInfo struct {
	Seq          uint64 // LastApplied of the store it holds
	Concepts     int
	Associations int
	Digest       Digest
	Bytes        int64 // size of the encoding
}

type conceptEntry struct {
	id  ConceptID
	rec record
}

type adjacency struct {
	source ConceptID
	edges  []edge
}

// WriteSnapshot writes the store's state at one instant to w.
//
// It holds the write lock only to freeze the shards, O(256) regardless of
// size (see shard.go). It then copies the map entries out of the frozen
// shards without any lock, thaws them, and sorts and encodes while Apply
// proceeds: records and adjacency lists are immutable. A write to a shard
// during the copy clones that shard first. The extra memory is ~32 bytes
// per concept and ~40 per source for the sorted entries, plus the write
// buffer and any shards cloned during the copy. Records are sorted, so
// equal states give byte-identical snapshots.
//
// The only errors are w's, returned as they are. On error the info is
// still filled in, with Bytes counting what was handed to the buffer.
func (s *Store) WriteSnapshot(w io.Writer) (SnapshotInfo, error) {
	info, views := s.freeze()
	concepts := make([]conceptEntry, 0, info.Concepts)
	var sources []adjacency
	for _, v := range views {
		for id, l := range v.concepts {
			concepts = append(concepts, conceptEntry{id, v.record(l)})
		}
		for id, edges := range v.out {
			sources = append(sources, adjacency{id, edges})
		}
	}
	s.thaw()

	slices.SortFunc(concepts, func(a, b conceptEntry) int { return compareIDs(a.id, b.id) })
	slices.SortFunc(sources, func(a, b adjacency) int { return compareIDs(a.source, b.source) })

	sw := &snapWriter{bw: bufio.NewWriterSize(w, snapBufSize)}
	b := make([]byte, 0, 512)
	b = append(b, snapMagic...)
	b = binary.LittleEndian.AppendUint32(b, snapVersion)
	b = binary.LittleEndian.AppendUint32(b, 0) // reserved
	b = binary.LittleEndian.AppendUint64(b, info.Seq)
	b = binary.LittleEndian.AppendUint64(b, uint64(info.Concepts))
	b = binary.LittleEndian.AppendUint64(b, uint64(info.Associations))
	sw.write(b)
	sw.endSection()

	for _, c := range concepts {
		b = append(b[:0], c.id[:]...)
		b = append(b, c.rec...)
		sw.write(b)
		if cap(b) > maxKeptBuf {
			b = nil
		}
	}
	sw.endSection()

	for _, src := range sources {
		for _, e := range src.edges {
			a := Association{Source: src.source, Target: e.target, Type: e.typ, Strength: e.strength}
			b = appendAssociation(b[:0], &a)
			sw.write(b)
		}
	}
	sw.endSection()

	sw.write(info.Digest[:])
	sw.endSection()
	if sw.err == nil {
		sw.err = sw.bw.Flush()
	}
	info.Bytes = sw.n
	return info, sw.err
}

// snapWriter writes sections, each followed by the CRC-32C of its bytes,
// and keeps the first error.
type snapWriter struct {
	bw  *bufio.Writer
	crc uint32
	n   int64
	err error
}

func (w *snapWriter) write(p []byte) {
	w.crc = crc32.Update(w.crc, castagnoli, p)
	w.raw(p)
}

func (w *snapWriter) raw(p []byte) {
	if w.err != nil {
		return
	}
	n, err := w.bw.Write(p)
	w.n += int64(n)
	w.err = err
}

// endSection writes the section's CRC (not itself covered) and starts a new
// section.
func (w *snapWriter) endSection() {
	var c [4]byte
	binary.LittleEndian.PutUint32(c[:], w.crc)
	w.raw(c[:])
	w.crc = 0
}
