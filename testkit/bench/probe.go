package bench

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// syntheticMagic is what lkmedia's generators put before the 8-byte frame counter.
var syntheticMagic = [4]byte{'L', 'K', 'S', '1'}

// opusTOC is the first byte of every synthetic Opus packet (synth.OpusGenerator).
const opusTOC = 31 << 3

// frameSlots is how many video frames a Probe assembles at once (reordering window).
const frameSlots = 8

// Probe watches one subscribed track of synthetic media and records, per frame counter, when
// the frame was complete at the subscriber: for video, when every packet from the start packet
// (S=1, PID=0) to the marker packet has arrived; for audio, when the packet arrived. It reads
// only the counter, not the whole payload, so it stays cheap with hundreds of subscribers.
// OnPacket must be called from a single goroutine (lkclient's OnRTP for that track).
type Probe struct {
	video bool
	send  *SendLog
	recv  []atomic.Int64 // receive time per counter, 0 = not (yet) complete

	packets atomic.Uint64
	slots   [frameSlots]frameSlot
	age     uint64
}

type frameSlot struct {
	used, haveStart, haveEnd, done bool
	ts                             uint32
	start, end                     uint16
	count                          int
	counter                        uint64
	age                            uint64
}

// NewProbe records against send's counters (the publisher's log for the same track).
func NewProbe(video bool, send *SendLog) *Probe {
	return &Probe{video: video, send: send, recv: make([]atomic.Int64, send.Len())}
}

// Packets is how many RTP packets the probe has seen.
func (p *Probe) Packets() uint64 { return p.packets.Load() }

// OnPacket records one received packet that arrived at now (Now()).
func (p *Probe) OnPacket(pkt *rtp.Packet, now int64) {
	p.packets.Add(1)
	if !p.video {
		if n, ok := opusCounter(pkt.Payload); ok {
			p.complete(n, now)
		}
		return
	}
	var vp8 codecs.VP8Packet
	payload, err := vp8.Unmarshal(pkt.Payload)
	if err != nil {
		return
	}
	s := p.slot(pkt.Timestamp)
	if s.done {
		return
	}
	s.count++
	if vp8.S == 1 && vp8.PID == 0 {
		n, ok := vp8Counter(payload)
		if !ok {
			return
		}
		s.haveStart, s.start, s.counter = true, pkt.SequenceNumber, n
	}
	if pkt.Marker {
		s.haveEnd, s.end = true, pkt.SequenceNumber
	}
	if s.haveStart && s.haveEnd && s.count == int(s.end-s.start)+1 {
		s.done = true
		p.complete(s.counter, now)
	}
}

func (p *Probe) complete(n uint64, now int64) {
	if n < uint64(len(p.recv)) {
		p.recv[n].CompareAndSwap(0, now)
	}
}

// slot returns the assembly slot for RTP timestamp ts, recycling the oldest one.
func (p *Probe) slot(ts uint32) *frameSlot {
	p.age++
	oldest := &p.slots[0]
	for i := range p.slots {
		s := &p.slots[i]
		if s.used && s.ts == ts {
			return s
		}
		if !s.used || (oldest.used && s.age < oldest.age) {
			oldest = s
		}
	}
	*oldest = frameSlot{used: true, ts: ts, age: p.age}
	return oldest
}

// vp8Counter reads the synthetic counter from a frame's first packet (the VP8 payload after the
// payload descriptor). Only the frame tag is read: bit 0 clear means a keyframe, whose tag is
// followed by the 7-byte start code and dimensions (RFC 6386 §9.1). lkmedia.ParseVP8Header
// does not fit here because it checks the partition size against the whole frame, and this is
// only the frame's first packet.
func vp8Counter(first []byte) (uint64, bool) {
	const tagLen, keyHeaderLen = 3, 7
	if len(first) < tagLen {
		return 0, false
	}
	hdr := tagLen
	if first[0]&1 == 0 {
		hdr += keyHeaderLen
	}
	if len(first) < hdr {
		return 0, false
	}
	return bodyCounter(first[hdr:])
}

func opusCounter(p []byte) (uint64, bool) {
	if len(p) < 1 || p[0] != opusTOC {
		return 0, false
	}
	return bodyCounter(p[1:])
}

func bodyCounter(b []byte) (uint64, bool) {
	if len(b) < 12 || [4]byte(b[:4]) != syntheticMagic {
		return 0, false
	}
	return binary.BigEndian.Uint64(b[4:12]), true
}

// Window is the outcome for one probe over frames sent in [From, To).
type Window struct {
	Expected, Received int
	Latencies          []int64 // ns, receive − send, one per received frame
}

// Measure looks at frames whose send time is in [from, to) and that come after the first
// frame this subscriber ever completed (frames before it are not losses: the subscriber was
// not there yet). A frame is lost if it was not complete when Measure runs, so leave a grace
// period after to.
func (p *Probe) Measure(from, to int64) Window {
	var w Window
	first := -1
	for n := range p.recv {
		if p.recv[n].Load() != 0 {
			first = n
			break
		}
	}
	if first < 0 {
		// Nothing ever arrived: every frame in the window is lost.
		first = 0
	}
	for n := first; n < len(p.recv); n++ {
		sent := p.send.At(uint64(n))
		if sent == 0 || sent < from || sent >= to {
			continue
		}
		w.Expected++
		if r := p.recv[n].Load(); r != 0 {
			w.Received++
			w.Latencies = append(w.Latencies, r-sent)
		}
	}
	return w
}

// Video reports whether the probe watches a video track.
func (p *Probe) Video() bool { return p.video }
