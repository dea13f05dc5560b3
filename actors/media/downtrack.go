// This file holds DownTrack, one subscriber's copy of a published track.
//
// Who writes what: the munger, the reused headers and the seq map are written
// only under DownTrack.mu, by whichever goroutine delivers a packet (the
// receiver's forwarder or one fan-out writer) or answers a NACK (the RTCP
// goroutine); cur changes only there too. The other state is atomics set
// from several places: the subscriber's participant actor sets paused and
// target (and asks for a resync and a keyframe on resume), pion sets bound,
// the fan-out sets stalled and gapAt, and the delivering goroutine sets
// needKey, failed and the counters. The receiver's subscriber snapshot is
// not the DownTrack's: only the track actor adds it there or takes it out.

package media

import (
	"errors"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
)

// seqMapSize is how many recent outgoing packets a DownTrack can map back to
// an upstream (layer, seq) for NACKs. Twice the default cache: older entries
// would miss the cache anyway.
const seqMapSize = 1024

// writeFailAfter is how long writes must keep failing, with no success in
// between, before the DownTrack gives up on its transport. pion reports a
// closed transport with different errors depending on how far the sender
// had got (a closed pipe once its stream is open, others before); a closed
// pipe or EOF is final at once, any other error once it has lasted this long.
const writeFailAfter = 2 * time.Second

// seqEntry remembers where one outgoing sequence number came from.
type seqEntry struct {
	tsOff uint32
	// picOff and tl0Off are the VP8 descriptor offsets the packet was sent
	// with, reapplied to a retransmission.
	picOff uint16
	tl0Off uint8
	// resent is when the packet was last retransmitted (a stamp, see
	// stampShift), 0 if never: a NACK within the resend window is suppressed.
	resent uint32
	out    uint16
	in     uint16
	layer  int8
	valid  bool
}

// binding is what pion hands us in Bind: where to write and with which
// payload type and SSRC. Swapped atomically so Unbind never waits for a write.
type binding struct {
	w    webrtc.TrackLocalWriter
	pt   uint8
	ssrc uint32
}

// DownTrack is one subscriber's copy of a published track. It implements
// webrtc.TrackLocal so it can be added to a subscriber PeerConnection, owns
// its SSRC and sequence/timestamp space, and picks one simulcast layer.
//
// Control methods (SetPaused, SetTargetLayer, Bind, Close) only flip atomics;
// they never wait for the write lock, so a subscriber whose write hangs
// cannot block the actor that controls it.
type DownTrack struct {
	r        *Receiver
	ctr      *counterShard // node-wide counters stripe
	codec    webrtc.RTPCodecCapability
	kind     webrtc.RTPCodecType
	video    bool
	vp8      bool // rewrite VP8 picture IDs and TL0PICIDX (vp8munger.go)
	trackID  string
	streamID string

	bound     atomic.Pointer[binding]
	paused    atomic.Bool
	closed    atomic.Bool
	stalled   atomic.Bool // a fan-out writer is stuck in our write
	failed    atomic.Bool // transport closed: stop writing
	resyncReq atomic.Bool // continue the output stream at the next packet
	needKey   atomic.Bool // video: forward nothing until a keyframe
	// gapAt, when not 0, is where a fan-out queue overflow first dropped video
	// for us: gapMark | layer<<16 | upstream seq. Packets queued before it are
	// still delivered; from it on we wait for a keyframe (needKey).
	gapAt  atomic.Uint32
	target atomic.Int32
	cur    atomic.Int32 // written only under mu; read lock-free as a fast filter

	onFailed  atomic.Pointer[func(error)]
	failOnce  sync.Once
	loggedErr atomic.Bool
	// failingSince is the nanotime of the first write error since the last
	// successful write, 0 while writes succeed.
	failingSince atomic.Int64
	failAfter    int64 // nanoseconds of failing writes that make the failure final
	rtcpOnce     sync.Once
	rtcpDone     chan struct{}

	// mu serialises writes: the munger, the reused headers and the seq map.
	mu      sync.Mutex
	m       munger
	vp8m    vp8Munger
	payBuf  [maxPacketSize]byte // a rewritten VP8 payload, valid during one write
	hdr     rtp.Header
	nackHdr rtp.Header
	seqMap  [seqMapSize]seqEntry

	// rtcp is the NACK budget state, owned by the RTCP goroutine.
	rtcp rtcpState
	// rtt is the subscriber's round-trip time in nanoseconds from its last
	// receiver report about us, 0 while unknown.
	rtt atomic.Int64

	packets, bytes                            atomic.Uint64
	nacksReceived, nacksAnswered, nacksMissed atomic.Uint64
	nacksSuppressed, nacksThrottled           atomic.Uint64
	nackPairsDropped, retransmitBytes         atomic.Uint64
	plisReceived, dropped, writeErrors        atomic.Uint64
	layerSwitches                             atomic.Uint64
}

// NewDownTrack creates a subscriber track for r. trackID is the published
// track SID ("TR_x"); streamID is the msid LiveKit clients parse,
// "PA_publisher|TR_x". Add it with r.AddDownTrack after the subscriber PC's
// AddTrack, and call StartRTCP with the returned RTPSender.
func NewDownTrack(r *Receiver, codec webrtc.RTPCodecCapability, trackID, streamID string) *DownTrack {
	d := &DownTrack{
		r:        r,
		ctr:      r.counters.shard(),
		codec:    codec,
		kind:     codecTypeOf(codec.MimeType),
		trackID:  trackID,
		streamID: streamID,
		rtcpDone: make(chan struct{}),
	}
	d.video = d.kind == webrtc.RTPCodecTypeVideo
	d.vp8 = codecKindOf(codec.MimeType) == codecVP8
	d.m.clockRate = codec.ClockRate
	if d.m.clockRate == 0 {
		d.m.clockRate = r.clockRate
	}
	d.target.Store(-1)
	d.cur.Store(-1)
	d.failAfter = int64(writeFailAfter)
	return d
}

// Bind is called by pion once the subscriber PC has negotiated; it picks our
// codec's payload type from what was agreed.
func (d *DownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, d.codec.MimeType) && fmtpCompatible(c.SDPFmtpLine, d.codec.SDPFmtpLine) {
			d.resyncReq.Store(true)
			d.bound.Store(&binding{w: ctx.WriteStream(), pt: uint8(c.PayloadType), ssrc: uint32(ctx.SSRC())})
			if d.video {
				d.r.RequestKeyframe(d.effectiveTarget())
			}
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, ErrUnsupportedCodec
}

// fmtpCompatible is deliberately loose: only H264's packetization-mode must
// match (a mode-1 stream cannot be sent as mode 0). Profile differences are
// tolerated because browsers decode constrained baseline under any
// negotiated baseline profile.
func fmtpCompatible(got, want string) bool {
	pm := func(s string) string {
		for _, kv := range strings.Split(s, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok && k == "packetization-mode" {
				return v
			}
		}
		return ""
	}
	g, w := pm(got), pm(want)
	if g == "" {
		g = "0" // RFC 6184 default
	}
	if w == "" {
		w = "0"
	}
	return g == w
}

// Unbind stops writes to the PeerConnection; forwarding skips the track
// silently until it is bound again.
func (d *DownTrack) Unbind(webrtc.TrackLocalContext) error {
	d.bound.Store(nil)
	return nil
}

// ID is the track SID.
func (d *DownTrack) ID() string { return d.trackID }

// StreamID is the msid stream ("PA_sid|TR_sid").
func (d *DownTrack) StreamID() string { return d.streamID }

// RID is empty: a subscriber always receives one stream.
func (d *DownTrack) RID() string { return "" }

// Kind is audio or video.
func (d *DownTrack) Kind() webrtc.RTPCodecType { return d.kind }

// Codec is the capability the track was created with.
func (d *DownTrack) Codec() webrtc.RTPCodecCapability { return d.codec }

// SSRC is the SSRC pion assigned at Bind, 0 before.
func (d *DownTrack) SSRC() uint32 {
	if b := d.bound.Load(); b != nil {
		return b.ssrc
	}
	return 0
}

// OnWriteFailed registers fn to run once, on its own goroutine, when the
// transport has failed for good (closed, or every write failing for
// writeFailAfter); from then on the DownTrack writes nothing.
// It is the only report, however many packets fail: fn should tell the
// track actor, which takes the DownTrack out of the snapshot and
// unsubscribes its subscriber.
func (d *DownTrack) OnWriteFailed(fn func(error)) { d.onFailed.Store(&fn) }

// SetPaused stops (true) or resumes (false) forwarding. Resume continues the
// outgoing sequence and timestamps without a gap and, for video, waits for
// a keyframe and asks for one.
func (d *DownTrack) SetPaused(p bool) {
	if !p && d.paused.Load() {
		d.resyncReq.Store(true)
		if d.video {
			d.needKey.Store(true)
		}
		d.paused.Store(false)
		if d.video {
			d.r.RequestKeyframe(d.currentOrTarget())
		}
		return
	}
	d.paused.Store(p)
}

// SetTargetLayer selects the simulcast layer (0 = q, 1 = h, 2 = f; -1 = the
// highest available, the default). The switch happens at the next keyframe
// of that layer, which is requested now; until then the current layer
// keeps flowing so the picture never freezes.
func (d *DownTrack) SetTargetLayer(layer int) {
	if layer >= maxLayers {
		layer = maxLayers - 1
	}
	if layer < -1 {
		layer = -1
	}
	d.target.Store(int32(layer))
	if t := d.effectiveTarget(); d.video && int32(t) != d.cur.Load() {
		d.r.RequestKeyframe(t)
	}
}

// effectiveTarget resolves "highest available" and clamps a target above the
// highest live layer down to it.
func (d *DownTrack) effectiveTarget() int {
	t := d.target.Load()
	m := d.r.maxLayer.Load()
	if t < 0 || t > m {
		t = m
	}
	return int(t)
}

func (d *DownTrack) currentOrTarget() int {
	if c := d.cur.Load(); c >= 0 {
		return int(c)
	}
	return d.effectiveTarget()
}

// gapMark flags a set gapAt.
const gapMark = 1 << 24

// markGap records that video from upstream seq of layer on was dropped for
// us. Only the first drop counts until writePacket reaches it.
func (d *DownTrack) markGap(layer int8, seq uint16) {
	d.gapAt.CompareAndSwap(0, gapMark|uint32(uint8(layer))<<16|uint32(seq))
}

// reachedGap reports, and clears, a marked gap that packet seq of layer has
// reached. Called with mu held.
func (d *DownTrack) reachedGap(layer int8, seq uint16) bool {
	g := d.gapAt.Load()
	if g == 0 || int8(uint8(g>>16)) != layer || int16(seq-uint16(g)) < 0 {
		return false
	}
	d.gapAt.Store(0)
	return true
}

// writePacket is called for every packet of every layer of the receiver.
// Packets of layers other than the current one return after a few atomic
// loads, unless they are the keyframe that completes a pending switch.
// No allocations: the header is reused and extensions are never copied
// (publisher extension IDs mean nothing on the subscriber connection).
// VP8 picture IDs and TL0PICIDX are rewritten to continue across layer
// switches and resumes (vp8munger.go), into a per-DownTrack buffer: the
// payload itself is shared with the other subscribers.
func (d *DownTrack) writePacket(layer int8, p *packet) {
	b := d.bound.Load()
	if b == nil || d.paused.Load() || d.failed.Load() || d.closed.Load() {
		return
	}
	if d.stalled.Load() {
		d.dropped.Add(1)
		return
	}
	if int32(layer) != d.cur.Load() && !d.mayCompleteSwitch(layer, p) {
		return
	}
	n, admitted, wantKey, err := d.deliver(b, layer, p)
	if !admitted {
		if wantKey { // asked outside the lock: a PLI write must not hold up NACKs
			d.dropped.Add(1)
			d.r.keepAskingKeyframe(int(layer))
		}
		return
	}
	d.written(layer, p, n, err)
}

// deliver admits and sends p under mu. The unlock is deferred so that a
// panic in a write (recovered by the calling goroutine) cannot leave mu
// held and wedge whoever delivers to this DownTrack next.
func (d *DownTrack) deliver(b *binding, layer int8, p *packet) (n int, admitted, wantKey bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if admit, wk := d.admitLocked(layer, p); !admit {
		return 0, false, wk, nil
	}
	n, err = d.sendLocked(b, layer, p)
	return n, true, false, err
}

// mayCompleteSwitch is the lock-free filter for a packet of a layer other
// than the current one: only a keyframe of the target layer may go on.
func (d *DownTrack) mayCompleteSwitch(layer int8, p *packet) bool {
	t := d.effectiveTarget()
	if int(layer) != t {
		return false
	}
	if !p.keyframe {
		// Waiting for the target layer's keyframe: keep asking (the receiver
		// throttles to one PLI per layer per pliInterval). A single request is
		// not enough: its keyframe may arrive before this subscriber's
		// transport is up, and a subscriber that gets no packets never sends
		// a PLI of its own, so it would stay black until the next keyframe.
		d.r.keepAskingKeyframe(t)
		return false
	}
	return true
}

// admitLocked decides, with mu held, whether p is forwarded: it completes a
// pending layer switch at a keyframe, holds video back after a gap until the
// next keyframe (wantKey: p was dropped for that), and marks the munger for a
// resync where one is due.
func (d *DownTrack) admitLocked(layer int8, p *packet) (admit, wantKey bool) {
	if d.reachedGap(layer, p.hdr.SequenceNumber) {
		d.needKey.Store(true)
	}
	if cur := d.cur.Load(); int32(layer) != cur {
		// Re-checked under the lock: another layer's goroutine may have switched.
		if !p.keyframe || int(layer) != d.effectiveTarget() {
			return false, false
		}
		if cur >= 0 {
			d.layerSwitches.Add(1)
		}
		d.cur.Store(int32(layer))
		d.m.setResync()
		d.needKey.Store(false)
		d.gapAt.Store(0) // a gap in the old layer no longer matters
	} else if d.needKey.Load() {
		if !p.keyframe {
			return false, true
		}
		// Continue without a gap: the skipped packets are not worth NACKs.
		d.needKey.Store(false)
		d.m.setResync()
	}
	if d.resyncReq.Swap(false) {
		d.m.setResync()
	}
	return true, false
}

// sendLocked translates p into the outgoing sequence and timestamp space,
// remembers the mapping for NACKs and writes it, with mu held. A packet the
// munger refuses counts as dropped and reports n = -1.
func (d *DownTrack) sendLocked(b *binding, layer int8, p *packet) (int, error) {
	in := &p.hdr
	outSeq, outTS, ok := d.m.translate(in.SequenceNumber, in.Timestamp, p.arrival)
	if !ok {
		d.dropped.Add(1)
		return -1, nil
	}
	pl := p.payload
	var picOff uint16
	var tl0Off uint8
	if d.vp8 {
		pl, picOff, tl0Off = d.vp8m.rewrite(pl, d.payBuf[:], d.m.fresh)
	}
	d.seqMap[outSeq%seqMapSize] = seqEntry{
		out: outSeq, in: in.SequenceNumber, layer: layer, tsOff: outTS - in.Timestamp,
		picOff: picOff, tl0Off: tl0Off, valid: true,
	}
	h := &d.hdr
	fillHeader(h, b, in.Marker, outSeq, outTS)
	return b.w.WriteRTP(h, pl)
}

// written accounts for the outcome of one write, after mu is released.
func (d *DownTrack) written(layer int8, p *packet, n int, err error) {
	if err != nil {
		d.writeFailed(err)
		return
	}
	if n < 0 {
		return
	}
	if d.failingSince.Load() != 0 {
		d.failingSince.Store(0) // the transport works again: the errors were transient
	}
	if n == 0 {
		// pion accepts writes before DTLS is up and discards them, reporting
		// zero bytes. A video subscriber that lost its first keyframe that
		// way would decode nothing until the next one, so start over.
		d.dropped.Add(1)
		if d.video && !d.needKey.Load() {
			d.needKey.Store(true)
			d.r.RequestKeyframe(int(layer))
		}
		return
	}
	size := uint64(len(p.payload) + 12)
	if d.packets.Add(1)&latencySampleMask == 0 {
		d.r.counters.latency.observe(nanotime() - p.arrival)
	}
	d.bytes.Add(size)
	d.ctr.packetsOut.Add(1)
	d.ctr.bytesOut.Add(size)
}

// fillHeader rewrites a reused header in place. Extensions are truncated,
// not set to nil, so their backing array survives for interceptors that
// append (no allocation on the next packet).
func fillHeader(h *rtp.Header, b *binding, marker bool, seq uint16, ts uint32) {
	h.Version = 2
	h.Padding = false
	h.Extension = false
	h.Extensions = h.Extensions[:0]
	h.CSRC = h.CSRC[:0]
	h.Marker = marker
	h.PayloadType = b.pt
	h.SequenceNumber = seq
	h.Timestamp = ts
	h.SSRC = b.ssrc
}

// writeFailed counts errors and logs the first one only: a closed transport
// fails every packet and would otherwise flood the log. A closed pipe, or
// any error that has lasted writeFailAfter, is final: writing stops and the
// owner is told once (OnWriteFailed), never per packet.
func (d *DownTrack) writeFailed(err error) {
	d.writeErrors.Add(1)
	if d.loggedErr.CompareAndSwap(false, true) {
		d.r.log.Debug("downtrack write failed", "downtrack", d.streamID, "err", err)
	}
	now := nanotime()
	d.failingSince.CompareAndSwap(0, now)
	closed := errors.Is(err, io.ErrClosedPipe) || errors.Is(err, io.EOF)
	if !closed && now-d.failingSince.Load() < d.failAfter {
		return
	}
	d.giveUp(err)
}

// giveUp makes the DownTrack's failure final: it writes nothing more, and
// the owner is told once (OnWriteFailed).
func (d *DownTrack) giveUp(err error) {
	d.failed.Store(true)
	d.failOnce.Do(func() {
		if fn := d.onFailed.Load(); fn != nil {
			go (*fn)(err)
		}
	})
}

// StartRTCP reads the subscriber's RTCP from s until the sender stops (pion
// returns an error once RemoveTrack or Close ran). PLI/FIR become throttled
// keyframe requests upstream; NACKs are answered from the packet cache
// within the limits of rtcpin.go. Call it once, after AddTrack.
func (d *DownTrack) StartRTCP(s *webrtc.RTPSender) {
	d.rtcpOnce.Do(func() { go d.rtcpLoop(s) })
}

// rtcpLoop is the RTCP goroutine. No actor supervises it, so a panic here
// (a bug reached by what one subscriber sent) is recovered and fails this
// DownTrack alone: its owner unsubscribes that subscriber, the process and
// the other subscribers carry on.
func (d *DownTrack) rtcpLoop(s *webrtc.RTPSender) {
	defer close(d.rtcpDone)
	defer d.recoverRTCP()
	buf := make([]byte, maxPacketSize)
	for {
		n, _, err := s.Read(buf)
		if err != nil {
			return
		}
		if h := rtcpHook.Load(); h != nil {
			(*h)(d)
		}
		d.handleRTCP(buf[:n])
	}
}

// rtcpHook, when set by a test, runs for every RTCP packet a DownTrack's
// RTCP goroutine reads: the one way to inject a panic into that loop.
var rtcpHook atomic.Pointer[func(*DownTrack)]

// recoverRTCP is rtcpLoop's deferred panic handler.
func (d *DownTrack) recoverRTCP() {
	if v := recover(); v != nil {
		err := panicError("downtrack RTCP loop", v)
		d.r.log.Error("recovered panic; failing the subscriber's downtrack", "downtrack", d.streamID, "err", err, "stack", string(debug.Stack()))
		d.giveUp(err)
	}
}

// retransmit resends one outgoing sequence number with the header it had,
// unless it was resent within the resend window (suppressed) or the
// retransmit budget is spent (throttled). It only tries the write lock: if
// a write is stuck we skip the NACK (the subscriber asks again) instead of
// parking the RTCP goroutine.
func (d *DownTrack) retransmit(b *binding, outSeq uint16) {
	locked := false
	for range 64 {
		if locked = d.mu.TryLock(); locked {
			break
		}
		runtime.Gosched()
	}
	if !locked {
		d.nacksMissed.Add(1)
		return
	}
	defer d.mu.Unlock()
	e := &d.seqMap[outSeq%seqMapSize]
	if !e.valid || e.out != outSeq {
		d.nacksMissed.Add(1)
		return
	}
	if e.resent != 0 && d.rtcp.now-e.resent < d.rtcp.resendWin {
		d.nacksSuppressed.Add(1)
		return
	}
	p := d.r.cachedPacket(e.layer, e.in)
	if p == nil {
		d.nacksMissed.Add(1)
		return
	}
	defer p.release()
	size := len(p.payload) + 12
	if !d.spendRetransmit(size) {
		d.nacksThrottled.Add(1)
		return
	}
	e.resent = d.rtcp.now
	fillHeader(&d.nackHdr, b, p.hdr.Marker, outSeq, p.hdr.Timestamp+e.tsOff)
	pl := p.payload
	if d.vp8 {
		pl = vp8Apply(pl, d.payBuf[:], e.picOff, e.tl0Off)
	}
	if _, err := b.w.WriteRTP(&d.nackHdr, pl); err != nil {
		d.writeFailed(err)
		return
	}
	d.nacksAnswered.Add(1)
	d.retransmitBytes.Add(uint64(size))
}

// Close stops forwarding and answering NACKs. It leaves the receiver's
// snapshot alone: the track actor, its only writer, takes the DownTrack out
// (Receiver.RemoveDownTrack); until then the forwarders skip it. The RTCP
// goroutine ends when the RTPSender stops (RemoveTrack or PC close), which
// the owner does; Close does not wait for it because pion offers no safe way
// to interrupt a sender's read before it has negotiated. Use RTCPDone to wait.
func (d *DownTrack) Close() { d.closed.Store(true) }

// RTCPDone is closed when the RTCP goroutine has exited; nil-safe to wait on
// only if StartRTCP was called.
func (d *DownTrack) RTCPDone() <-chan struct{} { return d.rtcpDone }
