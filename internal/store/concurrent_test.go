package store

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrentReadersDuringWrites runs readers and snapshotters against a
// writer. Run it with -race. Readers check that each concept they see is
// whole (content and strength written together), and every snapshot must
// equal the state the writer had at the snapshot's sequence.
func TestConcurrentReadersDuringWrites(t *testing.T) {
	const ops = 3000
	s := New()
	var digests sync.Map // seq -> Digest after applying it
	var done atomic.Bool

	write := func(i int) Op {
		n := uint64(i % 64)
		op := putOp(n, "v"+strconv.Itoa(i), int64(i))
		op.Concept.Strength = float32(i)
		return op
	}

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() {
				for n := uint64(0); n < 64; n++ {
					if c, ok := s.Get(cid(n)); ok && string(c.Content) != "v"+strconv.Itoa(int(c.Strength)) {
						errs <- fmt.Errorf("torn concept: content %q strength %v", c.Content, c.Strength)
						return
					}
					for _, a := range s.Neighbors(cid(n), 8) {
						if a.Source != cid(n) {
							errs <- fmt.Errorf("neighbor of %d has source %s", n, a.Source)
							return
						}
					}
				}
				st := s.Stats()
				_ = s.Digest()
				if st.AssociationCount < 0 || st.ConceptCount > 64 {
					errs <- fmt.Errorf("impossible stats %+v", st)
					return
				}
			}
		}()
	}
	type snap struct {
		info SnapshotInfo
		data []byte
	}
	var snaps []snap // the last 32 taken, owned by the snapshotter until wg.Wait
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; !done.Load(); n++ {
			var buf bytes.Buffer
			info, err := s.WriteSnapshot(&buf)
			if err != nil {
				errs <- err
				return
			}
			if len(snaps) < 32 {
				snaps = append(snaps, snap{info, buf.Bytes()})
			} else {
				snaps[n%32] = snap{info, buf.Bytes()}
			}
		}
	}()

	for i := 1; i <= ops; i++ {
		var op Op
		switch i % 5 {
		case 0, 1, 2:
			op = write(i)
		case 3:
			op = linkOp(uint64(i%64), uint64((i*7+1)%64), AssocType(i%3), 1)
		case 4:
			op = delOp(uint64((i * 13) % 64))
		}
		err := s.Apply(uint64(i), op)
		if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrInvalidValue) {
			t.Fatalf("Apply %d: %v", i, err)
		}
		digests.Store(s.LastApplied(), s.Digest())
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	checkInvariants(t, s)

	checked := 0
	for _, sn := range snaps {
		r, info, err := ReadSnapshot(bytes.NewReader(sn.data))
		if err != nil {
			t.Fatalf("snapshot at seq %d: %v", sn.info.Seq, err)
		}
		if info != sn.info {
			t.Fatalf("read info %+v, written %+v", info, sn.info)
		}
		if want, ok := digests.Load(info.Seq); info.Seq > 0 && (!ok || want.(Digest) != r.Digest()) {
			t.Fatalf("snapshot at seq %d has digest %s, store had %v", info.Seq, r.Digest(), want)
		}
		checked++
	}
	t.Logf("verified %d snapshots taken during writes", checked)
}

// Operations applied in one Update become visible together: a reader that
// sees a write's first operation always sees its last (which is applied
// after it).
func TestUpdateIsVisibleWhole(t *testing.T) {
	s := New()
	const writes, per = 2000, 8
	done := make(chan struct{})
	torn, seen := 0, 0
	go func() {
		defer close(done)
		for w := uint64(0); w < writes; w++ {
			for {
				if _, ok := s.Get(cid(w * per)); !ok {
					continue
				}
				seen++
				if _, ok := s.Get(cid(w*per + per - 1)); !ok {
					torn++
				}
				break
			}
		}
	}()
	seq := uint64(0)
	for w := uint64(0); w < writes; w++ {
		s.Update(func(tx Tx) {
			for i := uint64(0); i < per; i++ {
				seq++
				if err := tx.Apply(seq, putOp(w*per+i, "x", 1)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	<-done
	if torn > 0 {
		t.Fatalf("%d of %d reads saw a write's first operation without its last", torn, seen)
	}
}
