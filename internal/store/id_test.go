package store

import (
	"errors"
	"strings"
	"testing"
)

func TestConceptIDText(t *testing.T) {
	id := ConceptID{0x00, 0x01, 0xab, 0xcd, 0xef, 0xff, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0x7f}
	s := id.String()
	if s != "0001abcdefff060708090a0b0c0d0e7f" {
		t.Fatalf("String() = %q", s)
	}
	for _, in := range []string{s, strings.ToUpper(s)} {
		got, err := ParseConceptID(in)
		if err != nil || got != id {
			t.Errorf("ParseConceptID(%q) = %v, %v; want %v", in, got, err, id)
		}
	}
}

func TestParseConceptIDRejects(t *testing.T) {
	for _, in := range []string{
		"",
		"0001",
		"0001abcdefff060708090a0b0c0d0e7",   // 31
		"0001abcdefff060708090a0b0c0d0e7f0", // 33
		"0001abcdefff060708090a0b0c0d0e7g",  // not hex
		" 001abcdefff060708090a0b0c0d0e7f",
	} {
		if _, err := ParseConceptID(in); !errors.Is(err, ErrInvalidID) {
			t.Errorf("ParseConceptID(%q) error = %v, want ErrInvalidID", in, err)
		}
	}
}

func TestConceptIDFromBytes(t *testing.T) {
	b := make([]byte, 17)
	for i := range b {
		b[i] = byte(i)
	}
	id, err := ConceptIDFromBytes(b[:16])
	if err != nil || id != ConceptID(b[:16]) {
		t.Fatalf("ConceptIDFromBytes(16 bytes) = %v, %v", id, err)
	}
	for _, n := range []int{0, 1, 15, 17} {
		_, err := ConceptIDFromBytes(b[:n])
		if !errors.Is(err, ErrInvalidID) {
			t.Errorf("ConceptIDFromBytes(%d bytes) error = %v, want ErrInvalidID", n, err)
		}
	}
}

func TestCompareIDsMatchesBytes(t *testing.T) {
	ids := []ConceptID{{}, {0: 1}, {15: 1}, {7: 0xff}, {8: 0xff}, {0: 0xff, 15: 0xff}}
	for _, a := range ids {
		for _, b := range ids {
			want := strings.Compare(string(a[:]), string(b[:]))
			if got := compareIDs(a, b); got != want {
				t.Errorf("compareIDs(%v, %v) = %d, want %d", a, b, got, want)
			}
		}
	}
}
