package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

const (
	// HeaderSize is the size of a record header in bytes.
	HeaderSize = 32
	// SegmentHeaderSize is the size of a segment file header in bytes.
	SegmentHeaderSize = 16
	// MaxRecordSize bounds a record payload. A larger length field is
	// treated as damage, never as an allocation request.
	MaxRecordSize = 64 << 20

	// MaxEpoch is the largest epoch a record can carry: the epoch shares
	// its 8-byte word with the More flag in bit 63.
	MaxEpoch = 1<<63 - 1

	segmentMagic   = "SWAL"
	segmentVersion = 1
	moreBit        = 1 << 63
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Entry is what a writer hands to Append: the log assigns the sequence.
type Entry struct {
	Epoch uint64 // at most MaxEpoch
	// More means more records of the same write follow this one: a write
	// of n records sets it on all but the last. A log never ends, once
	// opened, in the middle of a write (see doc.go).
	More bool
	Time int64 // leader wall clock, Unix nanoseconds
	Data []byte
}

// Record is a stored entry with its sequence and checksum.
type Record struct {
	Seq   uint64
	Epoch uint64
	More  bool // more records of the same write follow (see Entry)
	Time  int64
	CRC   uint32 // CRC-32C of sequence, epoch word (with More), time and data (see doc.go)
	Data  []byte
}

// Size is the number of bytes the record occupies in a segment.
func (r *Record) Size() int { return HeaderSize + len(r.Data) }

// Checksum computes the CRC of the record's fields as stored on disk: the
// More flag is part of the epoch word it covers.
func Checksum(seq, epoch uint64, more bool, t int64, data []byte) uint32 {
	var h [24]byte
	binary.LittleEndian.PutUint64(h[0:], seq)
	binary.LittleEndian.PutUint64(h[8:], epochWord(epoch, more))
	binary.LittleEndian.PutUint64(h[16:], uint64(t))
	c := crc32.Update(0, castagnoli, h[:])
	return crc32.Update(c, castagnoli, data)
}

// epochWord is the stored form of the epoch and the More flag.
func epochWord(epoch uint64, more bool) uint64 {
	if more {
		return epoch | moreBit
	}
	return epoch
}

// appendRecord encodes r (computing its CRC) onto dst.
func appendRecord(dst []byte, seq, epoch uint64, more bool, t int64, data []byte) ([]byte, uint32) {
	n := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	dst = append(dst, data...)
	h := dst[n:]
	binary.LittleEndian.PutUint32(h[0:], uint32(len(data)))
	binary.LittleEndian.PutUint64(h[8:], seq)
	binary.LittleEndian.PutUint64(h[16:], epochWord(epoch, more))
	binary.LittleEndian.PutUint64(h[24:], uint64(t))
	crc := crc32.Checksum(h[8:], castagnoli)
	binary.LittleEndian.PutUint32(h[4:], crc)
	return dst, crc
}

// decodeHeader reads the length and CRC fields of a record header.
func decodeHeader(h []byte) (length int, crc uint32) {
	return int(binary.LittleEndian.Uint32(h[0:])), binary.LittleEndian.Uint32(h[4:])
}

// DecodeRecord decodes one record from the start of b and returns it with the
// number of bytes it occupied. The returned Data aliases b. It fails with
// ErrShort when b ends inside the record and with ErrCorrupt when the length
// is impossible or the CRC does not match.
func DecodeRecord(b []byte) (Record, int, error) {
	if len(b) < HeaderSize {
		return Record{}, 0, ErrShort
	}
	l, crc := decodeHeader(b)
	if l > MaxRecordSize {
		return Record{}, 0, fmt.Errorf("%w: record length %d exceeds limit %d", ErrCorrupt, l, MaxRecordSize)
	}
	if len(b) < HeaderSize+l {
		return Record{}, 0, ErrShort
	}
	body := b[8 : HeaderSize+l]
	if got := crc32.Checksum(body, castagnoli); got != crc {
		return Record{}, 0, fmt.Errorf("%w: checksum mismatch (stored %08x, computed %08x)", ErrCorrupt, crc, got)
	}
	word := binary.LittleEndian.Uint64(b[16:])
	r := Record{
		Seq:   binary.LittleEndian.Uint64(b[8:]),
		Epoch: word &^ moreBit,
		More:  word&moreBit != 0,
		Time:  int64(binary.LittleEndian.Uint64(b[24:])),
		CRC:   crc,
		Data:  b[HeaderSize : HeaderSize+l],
	}
	if r.Seq == 0 {
		return Record{}, 0, fmt.Errorf("%w: record with sequence 0", ErrCorrupt)
	}
	return r, HeaderSize + l, nil
}

func segmentHeader(first uint64) []byte {
	h := make([]byte, SegmentHeaderSize)
	copy(h, segmentMagic)
	binary.LittleEndian.PutUint16(h[4:], segmentVersion)
	binary.LittleEndian.PutUint64(h[8:], first)
	return h
}

func parseSegmentHeader(h []byte) (uint64, error) {
	if len(h) < SegmentHeaderSize {
		return 0, fmt.Errorf("%w: segment header is %d bytes", ErrCorrupt, len(h))
	}
	if string(h[:4]) != segmentMagic {
		return 0, fmt.Errorf("%w: bad segment magic %q", ErrCorrupt, h[:4])
	}
	if v := binary.LittleEndian.Uint16(h[4:]); v != segmentVersion {
		return 0, fmt.Errorf("%w: unsupported segment version %d", ErrCorrupt, v)
	}
	return binary.LittleEndian.Uint64(h[8:]), nil
}
