package replication

import (
	"testing"

	"github.com/sutra/sutra-operator/internal/history"
	"github.com/sutra/sutra-operator/internal/wal"
)

// leaderLog is a leader log for matchLog: records 1..last, each with the
// epoch its history gives and a CRC derived from sequence and epoch.
type leaderLog struct {
	h     history.History
	first uint64
	last  uint64
}

func crcOf(seq, epoch uint64) uint32 { return uint32(seq*2654435761) ^ uint32(epoch) | 1 }

func (l leaderLog) record(seq uint64) (wal.Record, bool, error) {
	if seq < l.first || seq > l.last {
		return wal.Record{}, false, nil
	}
	e, _ := l.h.At(seq)
	return wal.Record{Seq: seq, Epoch: e.Epoch, CRC: crcOf(seq, e.Epoch)}, true, nil
}

func TestMatchLog(t *testing.T) {
	e1, e2 := history.Entry{Epoch: 1, Start: 1, ID: 1}, history.Entry{Epoch: 2, Start: 101, ID: 2}
	leader := leaderLog{h: history.History{e1, e2}, first: 1, last: 200}
	tests := []struct {
		name     string
		s        Start
		diverged bool
		fork     uint64
	}{
		{"empty replica", Start{StartSeq: 0}, false, 0},
		{"replica in the old epoch, behind", Start{StartSeq: 51, History: history.History{e1}, LastEpoch: 1, LastCRC: crcOf(50, 1)}, false, 50},
		{"old leader past the promotion", Start{StartSeq: 151, History: history.History{e1}, LastEpoch: 1, LastCRC: crcOf(150, 1)}, true, 100},
		{"replica ahead of the leader", Start{StartSeq: 251, History: history.History{e1, e2}, LastEpoch: 2, LastCRC: crcOf(250, 2)}, true, 200},
		{"same history, other record", Start{StartSeq: 151, History: history.History{e1, e2}, LastEpoch: 2, LastCRC: 12345}, true, 149},
		{"replica after a snapshot: no CRC", Start{StartSeq: 181, History: history.History{e1, e2}, LastEpoch: 2}, false, 180},
		{"reader without history", Start{StartSeq: 101}, false, 100},
		{"another log altogether", Start{StartSeq: 11, History: history.History{{Epoch: 1, Start: 1, ID: 9}}, LastEpoch: 1, LastCRC: crcOf(10, 1)}, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := matchLog(leader.h, leader.last, tc.s, leader.record)
			if err != nil {
				t.Fatal(err)
			}
			if m.diverged != tc.diverged || m.fork != tc.fork {
				t.Fatalf("matchLog = diverged %v fork %d (%s); want %v %d", m.diverged, m.fork, m.detail, tc.diverged, tc.fork)
			}
		})
	}
}

// FuzzMatchLog checks the handshake's verdict on arbitrary replica starts:
// the fork point never passes either log's end, a replica is resumed only
// when its whole log is shared, and a replica whose last record differs
// from the leader's is never resumed.
func FuzzMatchLog(f *testing.F) {
	f.Add(uint64(151), uint64(101), uint64(1), uint64(2), uint32(0), uint64(200), true)
	f.Add(uint64(51), uint64(0), uint64(1), uint64(0), uint32(7), uint64(200), false)
	f.Fuzz(func(t *testing.T, startSeq, promoteAt, id1, id2 uint64, crc uint32, last uint64, withSecond bool) {
		last %= 1 << 20
		lh := history.History{{Epoch: 1, Start: 1, ID: 1}}
		if promoteAt > 1 && promoteAt <= last {
			lh = append(lh, history.Entry{Epoch: 2, Start: promoteAt, ID: 2})
		}
		rh := history.History{{Epoch: 1, Start: 1, ID: id1 % 3}}
		if withSecond && promoteAt > 1 {
			rh = append(rh, history.Entry{Epoch: 2, Start: promoteAt, ID: id2 % 3})
		}
		s := Start{StartSeq: startSeq % (1 << 21), History: rh, LastCRC: crc}
		if e, ok := rh.At(s.StartSeq - 1); ok {
			s.LastEpoch = e.Epoch
		}
		leader := leaderLog{h: lh, first: 1, last: last}
		m, err := matchLog(lh, last, s, leader.record)
		if err != nil {
			t.Fatal(err)
		}
		rlast := max(s.StartSeq, 1) - 1
		if m.fork > last || m.fork > rlast {
			t.Fatalf("fork %d past a log end (leader %d, replica %d)", m.fork, last, rlast)
		}
		if !m.diverged && m.fork != rlast {
			t.Fatalf("resumed a replica at %d that shares only up to %d", rlast, m.fork)
		}
		if rec, ok, _ := leader.record(rlast); ok && crc != 0 && !m.diverged && (rec.CRC != crc || rec.Epoch != s.LastEpoch) {
			t.Fatalf("resumed a replica whose record %d differs from the leader's", rlast)
		}
	})
}
