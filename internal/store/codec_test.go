package store

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"
)

func codecOps() map[string]Op {
	return map[string]Op{
		"concept minimal":      {Type: OpWriteConcept, Time: 1, Concept: Concept{ID: cid(1)}},
		"concept with content": putOp(2, "hello, world", 1_700_000_000_000_000_000),
		"concept with embedding": {Type: OpWriteConcept, Time: -5, Concept: Concept{
			ID: cid(3), Content: []byte{0, 1, 2}, Embedding: []float32{1, -2.5, 0, float32(math.Copysign(0, -1)), math.MaxFloat32},
			Strength: -1, Confidence: math.SmallestNonzeroFloat32,
		}},
		"concept large content": {Type: OpWriteConcept, Time: math.MaxInt64, Concept: Concept{
			ID: cid(4), Content: bytes.Repeat([]byte("x"), 70_000), Embedding: make([]float32, 300),
		}},
		"association": linkOp(1, 2, 7, 0.25),
		"association max type": {Type: OpWriteAssociation, Time: math.MinInt64, Association: Association{
			Source: cid(9), Target: cid(8), Type: math.MaxUint32, Strength: -3,
		}},
		"delete": delOp(5),
	}
}

func TestOpRoundTrip(t *testing.T) {
	for name, op := range codecOps() {
		t.Run(name, func(t *testing.T) {
			b := op.AppendBinary(nil)
			got, err := DecodeOp(b)
			if err != nil {
				t.Fatalf("DecodeOp: %v", err)
			}
			if !sameOp(got, op) {
				t.Fatalf("round trip changed the op:\n got %+v\nwant %+v", got, op)
			}
			// Appending keeps the prefix and is deterministic.
			prefix := []byte("prefix")
			if b2 := op.AppendBinary(prefix); !bytes.Equal(b2[len(prefix):], b) || string(b2[:len(prefix)]) != "prefix" {
				t.Fatalf("AppendBinary with a prefix gave different bytes")
			}
			// Decoded slices do not alias the buffer.
			for i := range b {
				b[i] = 0xee
			}
			if !sameOp(got, op) {
				t.Fatalf("decoded op aliases the input buffer")
			}
		})
	}
}

// TestOpEncodingLayout pins the byte layout documented in doc.go.
func TestOpEncodingLayout(t *testing.T) {
	op := Op{Type: OpWriteConcept, Time: 0x0102030405060708, Concept: Concept{
		ID: ConceptID{0: 0xaa, 15: 0xbb}, Content: []byte("hi"), Embedding: []float32{1},
		Strength: 2, Confidence: 0.5,
	}}
	want := "01" + "0807060504030201" + // type, time
		"aa" + strings.Repeat("00", 14) + "bb" + // id
		"00000040" + "0000003f" + // strength 2.0, confidence 0.5
		"02000000" + "01000000" + // content length, dims
		"6869" + "0000803f" // "hi", 1.0
	if got := hex.EncodeToString(op.AppendBinary(nil)); got != want {
		t.Fatalf("encoding\n got %s\nwant %s", got, want)
	}
	a := linkOp(1, 2, 3, 1)
	if n := len(a.AppendBinary(nil)); n != 49 {
		t.Errorf("association encodes to %d bytes, want 49", n)
	}
	d := delOp(1)
	if n := len(d.AppendBinary(nil)); n != 25 {
		t.Errorf("delete encodes to %d bytes, want 25", n)
	}
}

func TestDecodeOpRejects(t *testing.T) {
	concept := putOp(1, "abc", 1)
	concept.Concept.Embedding = []float32{1, 2}
	good := concept.AppendBinary(nil) // 41 + 3 + 8 bytes
	assoc := linkOp(1, 2, 3, 1)
	goodAssoc := assoc.AppendBinary(nil)
	del := delOp(1)
	goodDel := del.AppendBinary(nil)

	with := func(b []byte, f func([]byte)) []byte {
		c := bytes.Clone(b)
		f(c)
		return c
	}
	tests := map[string][]byte{
		"empty":                   nil,
		"header only short":       {1, 0, 0},
		"type zero":               with(goodDel, func(b []byte) { b[0] = 0 }),
		"type four":               with(goodDel, func(b []byte) { b[0] = 4 }),
		"type 255":                with(goodAssoc, func(b []byte) { b[0] = 255 }),
		"concept header only":     good[:9],
		"concept fixed part cut":  good[:40],
		"concept content cut":     good[:42],
		"concept embedding cut":   good[:len(good)-1],
		"concept trailing byte":   append(bytes.Clone(good), 0),
		"concept length too big":  with(good, func(b []byte) { binary.LittleEndian.PutUint32(b[33:], 4) }),
		"concept length small":    with(good, func(b []byte) { binary.LittleEndian.PutUint32(b[33:], 2) }),
		"concept dims too big":    with(good, func(b []byte) { binary.LittleEndian.PutUint32(b[37:], 3) }),
		"concept dims huge":       with(good, func(b []byte) { binary.LittleEndian.PutUint32(b[37:], math.MaxUint32) }),
		"concept length huge":     with(good, func(b []byte) { binary.LittleEndian.PutUint32(b[33:], math.MaxUint32) }),
		"association short":       goodAssoc[:48],
		"association long":        append(bytes.Clone(goodAssoc), 0),
		"delete short":            goodDel[:24],
		"delete long":             append(bytes.Clone(goodDel), 1),
		"delete as concept bytes": with(good[:25], func(b []byte) { b[0] = byte(OpDeleteConcept) })[:24],
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			op, err := DecodeOp(b)
			if !errors.Is(err, ErrBadOp) {
				t.Fatalf("DecodeOp error = %v, want ErrBadOp (op %+v)", err, op)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	small := Limits{MaxContentBytes: 4, MaxEmbeddingDims: 2}
	withConcept := func(f func(c *Concept)) Op {
		op := putOp(1, "abc", 1)
		f(&op.Concept)
		return op
	}
	tests := []struct {
		name  string
		op    Op
		lim   Limits
		want  error
		field string // must appear in the message
	}{
		{"concept ok", putOp(1, "abc", 1), Limits{}, nil, ""},
		{"delete ok", delOp(1), Limits{}, nil, ""},
		{"association ok", linkOp(1, 2, 0, 1), Limits{}, nil, ""},
		{"content at limit", withConcept(func(c *Concept) { c.Content = []byte("abcd") }), small, nil, ""},
		{"embedding at limit", withConcept(func(c *Concept) { c.Embedding = []float32{1, 2} }), small, nil, ""},
		{"unknown type", Op{Type: 9}, Limits{}, ErrBadOp, "9"},
		{"zero type", Op{}, Limits{}, ErrBadOp, ""},
		{"content over limit", withConcept(func(c *Concept) { c.Content = []byte("abcde") }), small, ErrTooLarge, "5 bytes, limit 4"},
		{"content over default", withConcept(func(c *Concept) { c.Content = make([]byte, DefaultMaxContentBytes+1) }), Limits{}, ErrTooLarge, "limit 1048576"},
		{"embedding over limit", withConcept(func(c *Concept) { c.Embedding = []float32{1, 2, 3} }), small, ErrTooLarge, "3 dimensions, limit 2"},
		{"embedding over default", withConcept(func(c *Concept) { c.Embedding = make([]float32, 4097) }), Limits{}, ErrTooLarge, "limit 4096"},
		{"NaN strength", withConcept(func(c *Concept) { c.Strength = nan }), Limits{}, ErrInvalidValue, "concept.strength"},
		{"Inf confidence", withConcept(func(c *Concept) { c.Confidence = -inf }), Limits{}, ErrInvalidValue, "concept.confidence"},
		{"NaN embedding", withConcept(func(c *Concept) { c.Embedding = []float32{0, nan} }), Limits{}, ErrInvalidValue, "concept.embedding[1]"},
		{"Inf embedding", withConcept(func(c *Concept) { c.Embedding = []float32{inf} }), Limits{}, ErrInvalidValue, "concept.embedding[0]"},
		{"association NaN", linkOp(1, 2, 0, nan), Limits{}, ErrInvalidValue, "association.strength"},
		{"self association", linkOp(3, 3, 0, 1), Limits{}, ErrInvalidValue, "source and target"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.op.Validate(tc.lim)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Validate error = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Validate error %q does not mention %q", err, tc.field)
			}
		})
	}
}

func FuzzDecodeOp(f *testing.F) {
	for _, op := range codecOps() {
		f.Add(op.AppendBinary(nil))
	}
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add([]byte{3, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(append([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 32)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		op, err := DecodeOp(b)
		if err != nil {
			if !errors.Is(err, ErrBadOp) {
				t.Fatalf("DecodeOp error %v does not wrap ErrBadOp", err)
			}
			return
		}
		// The encoding is canonical: a buffer that decodes re-encodes to
		// the same bytes, and decoding that again gives the same op.
		enc := op.AppendBinary(nil)
		if !bytes.Equal(enc, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, enc)
		}
		again, err := DecodeOp(enc)
		if err != nil || !sameOp(again, op) {
			t.Fatalf("decode(encode(op)) = %+v, %v; want %+v", again, err, op)
		}
		_ = op.Validate(Limits{}) // must not panic either
	})
}
