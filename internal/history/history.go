package history

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrCorrupt is returned for a history that does not decode or whose
// entries are out of order.
var ErrCorrupt = errors.New("history: corrupt")

// Entry is one epoch of a log.
type Entry struct {
	Epoch uint64 // leader term
	Start uint64 // first sequence written in the epoch
	ID    uint64 // random, drawn when the epoch began
}

// String formats e as "epoch@start/id".
func (e Entry) String() string { return fmt.Sprintf("%d@%d/%016x", e.Epoch, e.Start, e.ID) }

// History lists a log's epochs, oldest first. The zero value is the
// history of an empty log that has never had a leader.
type History []Entry

// Legacy is the history of a log written before histories were kept.
func Legacy() History { return History{{Epoch: 1, Start: 1}} }

// NewID draws a random epoch id.
func NewID() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return binary.LittleEndian.Uint64(b[:])
}

// Validate checks that epochs strictly increase, starts never decrease and
// every start is at least 1.
func (h History) Validate() error {
	for i, e := range h {
		if e.Epoch == 0 || e.Start == 0 {
			return fmt.Errorf("%w: entry %d (%s) has a zero epoch or start", ErrCorrupt, i, e)
		}
		if i > 0 && (e.Epoch <= h[i-1].Epoch || e.Start < h[i-1].Start) {
			return fmt.Errorf("%w: entry %d (%s) does not follow %s", ErrCorrupt, i, e, h[i-1])
		}
	}
	return nil
}

// Epoch is the newest epoch, 0 for an empty history.
func (h History) Epoch() uint64 {
	if len(h) == 0 {
		return 0
	}
	return h[len(h)-1].Epoch
}

// At returns the entry whose epoch wrote seq: the last entry starting at
// or before it.
func (h History) At(seq uint64) (Entry, bool) {
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].Start <= seq {
			return h[i], true
		}
	}
	return Entry{}, false
}

// Upto returns the history of a log that ends at last: entries that start
// after last wrote nothing in it and are dropped (an entry starting exactly
// at last+1 is dropped too). The result shares no memory with h.
func (h History) Upto(last uint64) History {
	out := History{}
	for _, e := range h {
		if e.Start <= last {
			out = append(out, e)
		}
	}
	return out
}

// Begin returns the history of a log ending at last that starts epoch
// epoch at last+1. The epoch must be higher than every epoch in h.
func (h History) Begin(epoch, last, id uint64) (History, error) {
	if epoch <= h.Epoch() {
		return nil, fmt.Errorf("history: epoch %d does not follow epoch %d", epoch, h.Epoch())
	}
	return append(h.Upto(last), Entry{Epoch: epoch, Start: last + 1, ID: id}), nil
}

// end is the last sequence entry i covers in a log ending at last.
func (h History) end(i int, last uint64) uint64 {
	if i+1 < len(h) {
		return min(h[i+1].Start-1, last)
	}
	return last
}

// ForkPoint returns the highest sequence up to which a log with history a
// ending at aLast and a log with history b ending at bLast hold the same
// records: the end, in the shorter of the two, of the newest epoch both
// have with the same number, start and id, provided every older epoch
// matches too. 0 means they share nothing.
func ForkPoint(a History, aLast uint64, b History, bLast uint64) uint64 {
	a, b = a.Upto(aLast), b.Upto(bLast)
	var fork uint64
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			// The epochs before i are common; the logs agree up to the
			// start of the first differing one.
			return min(fork, a[i].Start-1, b[i].Start-1)
		}
		fork = min(a.end(i, aLast), b.end(i, bLast))
	}
	return fork
}
