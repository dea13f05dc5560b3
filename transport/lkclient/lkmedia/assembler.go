package lkmedia

import (
	"sort"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// Frame is one whole video frame rebuilt from RTP packets.
type Frame struct {
	Data      []byte
	Timestamp uint32 // RTP timestamp
	FirstSeq  uint16 // sequence number of the first packet
	LastSeq   uint16 // sequence number of the marker packet
	Packets   int
	Keyframe  bool
}

// AssemblerStats counts what a VP8Assembler did.
type AssemblerStats struct {
	Packets    int // packets pushed
	Duplicates int // packets whose sequence number was already held
	Frames     int // complete frames returned
	Incomplete int // frames abandoned because a later frame completed first
	Late       int // packets for a timestamp older than the last frame returned
	Invalid    int // payloads the VP8 depacketizer rejected
}

// DefaultMaxPending is how many incomplete frames a VP8Assembler keeps.
const DefaultMaxPending = 32

type partialFrame struct {
	ts               uint32
	parts            map[uint16][]byte
	start, end       uint16
	hasStart, hasEnd bool
}

func (f *partialFrame) complete() bool {
	if !f.hasStart || !f.hasEnd {
		return false
	}
	for s := f.start; ; s++ {
		if _, ok := f.parts[s]; !ok {
			return false
		}
		if s == f.end {
			return true
		}
	}
}

// VP8Assembler rebuilds whole VP8 frames from RTP packets (RFC 7741): a frame
// starts with S=1, PID=0, ends with the marker bit, and all sequence numbers in
// between must be present. Reordered and duplicate packets are handled;
// frames are returned in timestamp order and never twice. Not safe for
// concurrent use.
type VP8Assembler struct {
	pending    map[uint32]*partialFrame
	maxPending int
	lastTS     uint32
	emitted    bool
	stats      AssemblerStats
}

// NewVP8Assembler returns an assembler keeping at most DefaultMaxPending incomplete frames.
func NewVP8Assembler() *VP8Assembler {
	return &VP8Assembler{pending: map[uint32]*partialFrame{}, maxPending: DefaultMaxPending}
}

// Stats returns the counters so far.
func (a *VP8Assembler) Stats() AssemblerStats { return a.stats }

// tsBefore reports whether RTP timestamp x is before y (wrap-aware).
func tsBefore(x, y uint32) bool { return int32(x-y) < 0 }

// Push adds one packet and returns the frames it completed (usually none or one).
func (a *VP8Assembler) Push(p *rtp.Packet) []Frame {
	a.stats.Packets++
	if a.emitted && !tsBefore(a.lastTS, p.Timestamp) {
		a.stats.Late++
		return nil
	}
	var vp8 codecs.VP8Packet
	payload, err := vp8.Unmarshal(p.Payload)
	if err != nil {
		a.stats.Invalid++
		return nil
	}
	f := a.pending[p.Timestamp]
	if f == nil {
		f = &partialFrame{ts: p.Timestamp, parts: map[uint16][]byte{}}
		a.pending[p.Timestamp] = f
		a.evictOldest()
	}
	if _, dup := f.parts[p.SequenceNumber]; dup {
		a.stats.Duplicates++
		return nil
	}
	f.parts[p.SequenceNumber] = append([]byte(nil), payload...)
	if vp8.S == 1 && vp8.PID == 0 {
		f.start, f.hasStart = p.SequenceNumber, true
	}
	if p.Marker {
		f.end, f.hasEnd = p.SequenceNumber, true
	}
	if !f.complete() {
		return nil
	}
	return []Frame{a.finish(f)}
}

// finish builds f, drops every older pending frame and returns f.
func (a *VP8Assembler) finish(f *partialFrame) Frame {
	out := Frame{Timestamp: f.ts, FirstSeq: f.start, LastSeq: f.end}
	for s := f.start; ; s++ {
		out.Data = append(out.Data, f.parts[s]...)
		out.Packets++
		if s == f.end {
			break
		}
	}
	out.Keyframe = IsVP8Keyframe(out.Data)
	for ts := range a.pending {
		if ts == f.ts || tsBefore(ts, f.ts) {
			if ts != f.ts {
				a.stats.Incomplete++
			}
			delete(a.pending, ts)
		}
	}
	a.lastTS, a.emitted = f.ts, true
	a.stats.Frames++
	return out
}

// evictOldest drops the oldest pending frames beyond maxPending.
func (a *VP8Assembler) evictOldest() {
	if len(a.pending) <= a.maxPending {
		return
	}
	tss := make([]uint32, 0, len(a.pending))
	for ts := range a.pending {
		tss = append(tss, ts)
	}
	sort.Slice(tss, func(i, j int) bool { return tsBefore(tss[i], tss[j]) })
	for _, ts := range tss[:len(tss)-a.maxPending] {
		delete(a.pending, ts)
		a.stats.Incomplete++
	}
}
