// This file holds the munger, one DownTrack's sequence and timestamp
// rewriting.
//
// Who writes what: each munger belongs to one DownTrack and is touched only
// with that DownTrack's mu held, by whichever goroutine delivers a packet.

package media

// munger rewrites upstream sequence numbers and timestamps into one
// continuous outgoing stream. A subscriber's decoder sees a single SSRC, so
// every place where the input jumps (start, resume after pause, a simulcast
// layer switch, a publisher restart) must look like an ordinary next packet,
// or the receiver would count a huge loss, NACK storms, or stall its jitter
// buffer. Between those points the mapping is a fixed offset, so genuine
// upstream loss still shows up as a gap and gets NACKed.
//
// Not safe for concurrent use; the DownTrack serialises calls.
type munger struct {
	clockRate uint32

	started bool
	resync  bool
	// fresh is true when the last translated packet began a segment (the
	// first packet, or the first after a resync): the VP8 munger continues
	// its picture IDs there.
	fresh bool

	seqOff uint16
	tsOff  uint32

	// segStart is the first input seq of the current segment; segLen counts
	// how far the segment has advanced (saturating) so that stale packets
	// from before a switch can be told apart from wrapped ones.
	segStart uint16
	segHigh  uint16
	segLen   uint16

	lastOutSeq uint16
	lastOutTS  uint32
	lastAt     int64 // arrival time of the last forwarded packet
}

// segGuard is how far into a segment packets older than its start are still
// rejected. After that, reordering by this much is impossible in practice.
const segGuard = 0x4000

// setResync makes the next packet continue the output stream instead of
// keeping the current offsets.
func (m *munger) setResync() { m.resync = true }

// translate maps an input (seq, ts) to output values. ok is false when the
// packet predates the current segment and must be dropped: forwarding it
// would reuse output sequence numbers of the previous segment.
func (m *munger) translate(seq uint16, ts uint32, arrival int64) (outSeq uint16, outTS uint32, ok bool) {
	first := !m.started
	m.fresh = first || m.resync
	switch {
	case first:
		// Offsets 0: the first segment mirrors the input numbering.
		m.started, m.resync = true, false
		m.seqOff, m.tsOff = 0, 0
		m.segStart, m.segHigh, m.segLen = seq, seq, 0
	case m.resync:
		m.resync = false
		// Advance the timestamp by the real time that passed, at least one
		// tick, so the receiver's jitter computation stays sane.
		var dt uint32 = 1
		if el := arrival - m.lastAt; el > 0 {
			if d := uint64(el) * uint64(m.clockRate) / 1e9; d > 0 {
				dt = uint32(d)
			}
		}
		m.seqOff = m.lastOutSeq + 1 - seq
		m.tsOff = m.lastOutTS + dt - ts
		m.segStart, m.segHigh, m.segLen = seq, seq, 0
	default:
		if m.segLen < segGuard && int16(seq-m.segStart) < 0 {
			return 0, 0, false
		}
		if d := int16(seq - m.segHigh); d > 0 {
			m.segHigh = seq
			if m.segLen < segGuard {
				m.segLen += uint16(d)
			}
		}
	}
	outSeq, outTS = seq+m.seqOff, ts+m.tsOff
	if int16(outSeq-m.lastOutSeq) > 0 || first {
		m.lastOutSeq, m.lastOutTS = outSeq, outTS
		m.lastAt = arrival
	}
	return outSeq, outTS, true
}
