package media

import "testing"

func TestMunger(t *testing.T) {
	m := munger{clockRate: 90000}
	type step struct {
		seq     uint16
		ts      uint32
		at      int64
		resync  bool
		wantSeq uint16
		wantTS  uint32
		wantOK  bool
	}
	steps := []step{
		{seq: 100, ts: 1000, at: 1e9, wantSeq: 100, wantTS: 1000, wantOK: true},
		{seq: 101, ts: 1000, at: 1e9, wantSeq: 101, wantTS: 1000, wantOK: true},
		{seq: 103, ts: 4000, at: 1e9 + 33e6, wantSeq: 103, wantTS: 4000, wantOK: true}, // gap kept: loss shows
		{seq: 102, ts: 1000, at: 1e9 + 34e6, wantSeq: 102, wantTS: 1000, wantOK: true}, // reordered
		// Switch to another stream 100 ms later: continues at 104, ts +9000.
		{seq: 5000, ts: 777, at: 1e9 + 133e6, resync: true, wantSeq: 104, wantTS: 4000 + 9000, wantOK: true},
		{seq: 5001, ts: 777 + 3000, at: 1e9 + 166e6, wantSeq: 105, wantTS: 13000 + 3000, wantOK: true},
		{seq: 4999, ts: 777, at: 1e9 + 167e6, wantOK: false}, // older than the switch
		// Wrap of the input sequence keeps the offset.
		{seq: 65535, ts: 0, at: 2e9, resync: true, wantSeq: 106, wantTS: 16000 + uint32((2e9-(1e9+166e6))*90000/1e9), wantOK: true},
		{seq: 0, ts: 0, at: 2e9, wantSeq: 107, wantTS: 16000 + uint32((2e9-(1e9+166e6))*90000/1e9), wantOK: true},
	}
	for i, s := range steps {
		if s.resync {
			m.setResync()
		}
		seq, ts, ok := m.translate(s.seq, s.ts, s.at)
		if ok != s.wantOK || (ok && (seq != s.wantSeq || ts != s.wantTS)) {
			t.Fatalf("step %d: got (%d,%d,%v) want (%d,%d,%v)", i, seq, ts, ok, s.wantSeq, s.wantTS, s.wantOK)
		}
	}
}
