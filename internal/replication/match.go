package replication

import (
	"fmt"

	"github.com/sutra/sutra-operator/internal/history"
	"github.com/sutra/sutra-operator/internal/wal"
)

// RecordFunc returns the leader's record at seq, ok false when its log no
// longer (or does not yet) hold it.
type RecordFunc func(seq uint64) (rec wal.Record, ok bool, err error)

// match is the outcome of comparing a replica's log with the leader's.
type match struct {
	fork     uint64 // highest sequence both logs share
	diverged bool
	detail   string
}

// matchLog decides whether a replica that asks for s.StartSeq can be resumed
// from a leader whose log has history lh and ends at last: its log (ending
// at StartSeq-1) must be a prefix of the leader's. The histories decide
// first (history.ForkPoint); then, when the leader still holds the
// replica's last record, its epoch and CRC must equal the replica's
// (Raft's log-matching check). A reader that sends no history although it
// holds records (StreamWalEntries, a seed-era replica) cannot be checked
// against the histories; only its position and CRC are.
func matchLog(lh history.History, last uint64, s Start, record RecordFunc) (match, error) {
	rlast := s.StartSeq
	if rlast > 0 {
		rlast--
	}
	fork := min(rlast, last)
	if len(s.History) > 0 || rlast == 0 {
		fork = history.ForkPoint(lh, last, s.History, rlast)
	}
	if fork < rlast {
		why := fmt.Sprintf("the replica's log ends at %d but shares only up to %d with the leader's", rlast, fork)
		if rlast > last {
			why = fmt.Sprintf("the replica's log ends at %d, past the leader's end %d", rlast, last)
		}
		return match{fork: fork, diverged: true, detail: why}, nil
	}
	if rlast == 0 || s.LastCRC == 0 {
		return match{fork: fork}, nil
	}
	rec, ok, err := record(rlast)
	if err != nil {
		return match{}, err
	}
	if ok && (rec.Epoch != s.LastEpoch || rec.CRC != s.LastCRC) {
		return match{fork: rlast - 1, diverged: true, detail: fmt.Sprintf(
			"record %d differs: replica has epoch %d crc %08x, leader epoch %d crc %08x",
			rlast, s.LastEpoch, s.LastCRC, rec.Epoch, rec.CRC)}, nil
	}
	return match{fork: fork}, nil
}
