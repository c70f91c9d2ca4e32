package history

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestForkPoint(t *testing.T) {
	e1 := Entry{Epoch: 1, Start: 1, ID: 0xa}
	e2 := Entry{Epoch: 2, Start: 121, ID: 0xb}
	e2other := Entry{Epoch: 2, Start: 121, ID: 0xc}
	e3 := Entry{Epoch: 3, Start: 301, ID: 0xd}
	tests := []struct {
		name  string
		a     History
		aLast uint64
		b     History
		bLast uint64
		want  uint64
	}{
		{"both empty", nil, 0, nil, 0, 0},
		{"empty replica", nil, 0, History{e1}, 50, 0},
		{"same epoch, replica behind", History{e1}, 40, History{e1}, 100, 40},
		{"same epoch, replica ahead", History{e1}, 140, History{e1}, 100, 100},
		{"old leader past the promotion", History{e1}, 150, History{e1, e2}, 200, 120},
		{"replica behind the promotion", History{e1}, 50, History{e1, e2}, 200, 50},
		{"replica holds the leader's future epochs", History{e1, e2}, 50, History{e1, e2}, 200, 50},
		{"racing promotions", History{e1, e2other}, 150, History{e1, e2}, 200, 120},
		{"recreated leader", History{{Epoch: 1, Start: 1, ID: 0xf}}, 10, History{e1}, 100, 0},
		{"three epochs, common", History{e1, e2, e3}, 400, History{e1, e2, e3}, 350, 350},
		{"three epochs, second differs", History{e1, e2other, e3}, 400, History{e1, e2, e3}, 350, 120},
		{"epoch that wrote nothing", History{e1, {Epoch: 2, Start: 101, ID: 1}}, 100, History{e1}, 100, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ForkPoint(tc.a, tc.aLast, tc.b, tc.bLast); got != tc.want {
				t.Fatalf("ForkPoint = %d, want %d", got, tc.want)
			}
			if got := ForkPoint(tc.b, tc.bLast, tc.a, tc.aLast); got != tc.want {
				t.Fatalf("ForkPoint reversed = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestBeginDropsEpochsPastTheLog(t *testing.T) {
	h := History{{1, 1, 1}, {2, 121, 2}, {3, 301, 3}}
	got, err := h.Begin(4, 200, 9)
	if err != nil {
		t.Fatal(err)
	}
	want := History{{1, 1, 1}, {2, 121, 2}, {4, 201, 9}}
	if got.Checksum() != want.Checksum() {
		t.Fatalf("Begin = %v, want %v", got, want)
	}
	if _, err := h.Begin(3, 400, 1); err == nil {
		t.Fatal("Begin accepted an epoch that is not newer")
	}
	if e, ok := got.At(150); !ok || e.Epoch != 2 {
		t.Fatalf("At(150) = %v %v", e, ok)
	}
	if _, ok := got.At(0); ok {
		t.Fatal("At(0) found an epoch")
	}
}

func TestEncodeDecode(t *testing.T) {
	h := History{{1, 1, 0}, {2, 121, NewID()}, {7, 121, NewID()}}
	got, err := Decode(h.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if got.Checksum() != h.Checksum() || len(got) != 3 {
		t.Fatalf("round trip: %v, want %v", got, h)
	}
	empty, err := Decode(History{}.Encode())
	if err != nil || len(empty) != 0 {
		t.Fatalf("empty history: %v %v", empty, err)
	}
}

func TestDecodeRefusesDamage(t *testing.T) {
	good := History{{1, 1, 0}, {2, 121, 5}}.Encode()
	cases := map[string][]byte{
		"empty":         nil,
		"no newline":    good[:len(good)-1],
		"flipped digit": []byte(strings.Replace(string(good), "121", "131", 1)),
		"truncated":     good[:len(good)/2],
		"out of order":  History{{2, 1, 0}, {1, 5, 0}}.Encode(),
		"zero start":    History{{1, 0, 0}}.Encode(),
	}
	for name, data := range cases {
		if _, err := Decode(data); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		}
	}
}

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	if _, ok, err := Load(dir); ok || err != nil {
		t.Fatalf("Load of a dir without history: %v %v", ok, err)
	}
	h := History{{1, 1, 3}}
	if err := Save(dir, h); err != nil {
		t.Fatal(err)
	}
	got, ok, err := Load(dir)
	if err != nil || !ok || got.Checksum() != h.Checksum() {
		t.Fatalf("Load = %v %v %v", got, ok, err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(dir); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), FileName) {
		t.Fatalf("Load of a damaged file: %v", err)
	}
	if err := Save(dir, History{{2, 1, 0}, {1, 1, 0}}); err == nil {
		t.Fatal("Save accepted an invalid history")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(History{{1, 1, 0}, {2, 121, 5}}.Encode())
	f.Add([]byte("sutra-history 1\ncrc32c 00000000\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := Decode(data)
		if err != nil {
			return
		}
		if err := h.Validate(); err != nil {
			t.Fatalf("Decode returned an invalid history: %v", err)
		}
		again, err := Decode(h.Encode())
		if err != nil || again.Checksum() != h.Checksum() {
			t.Fatalf("re-encoding does not round trip: %v", err)
		}
	})
}

func FuzzForkPoint(f *testing.F) {
	f.Add(uint64(1), uint64(121), uint64(150), uint64(200), uint8(1))
	f.Fuzz(func(t *testing.T, s1, s2, aLast, bLast uint64, diff uint8) {
		if s1 == 0 || s2 < s1 {
			return
		}
		a := History{{1, s1, 1}, {2, s2, 2}}
		b := History{{1, s1, 1}, {2, s2, 2 + uint64(diff&1)}}
		fork := ForkPoint(a, aLast, b, bLast)
		if fork > aLast || fork > bLast {
			t.Fatalf("fork %d beyond a log end (%d, %d)", fork, aLast, bLast)
		}
		if fork != ForkPoint(b, bLast, a, aLast) {
			t.Fatal("ForkPoint is not symmetric")
		}
		if diff&1 == 1 && fork >= s2 {
			t.Fatalf("fork %d inside the differing epoch starting at %d", fork, s2)
		}
	})
}
