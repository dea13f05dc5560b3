// This file holds the Receiver, one published track on the publisher side.
//
// Who writes what: each layer's forwarder goroutine is the only writer of
// its layer's sequence, loss and jitter state (highSeq, haveSeq, jitter16,
// prevTransit, haveTransit) and the only one putting packets in its cache;
// the atomic counters are published for Stats. The subscriber snapshot
// (downs) is written only through AddDownTrack and RemoveDownTrack, which
// the track actor that owns the Receiver alone calls; the forwarders only
// load it. The layer slots and the fan-out pool are written under mu.

package media

import (
	"errors"
	"io"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"
)

// maxLayers is the number of simulcast layers we handle (q, h, f).
const maxLayers = 3

// pliInterval throttles keyframe requests per layer. Every new subscriber,
// resume and layer switch wants a keyframe; without a throttle a busy room
// would make the publisher send nothing but keyframes.
const pliInterval = 500 * time.Millisecond

// ReceiverOptions configures a Receiver. Zero fan-out/cache fields take the
// defaults of Config (Engine.NewReceiver fills them from the engine).
type ReceiverOptions struct {
	TrackID string // TR_... for logs and stats
	Kind    webrtc.RTPCodecType
	Codec   webrtc.RTPCodecParameters
	// OnKeyframeRequest replaces the default PLI to PublisherPC.
	OnKeyframeRequest func(ssrc uint32)
	// PublisherPC receives our PLIs for this track.
	PublisherPC *webrtc.PeerConnection
	// OnClosed runs once, on its own goroutine, when every layer has ended
	// on the publisher side (EOF, unpublish). It does not run for Close.
	OnClosed func()
	Log      *slog.Logger
	// Counters aggregates this receiver's and its DownTracks' packets into
	// node-wide totals; Engine.NewReceiver sets the engine's. Nil gives the
	// receiver private counters.
	Counters *Counters

	FanoutWorkers    int
	FanoutThreshold  int
	PacketCacheSize  int
	PacketCacheBytes int

	stallTimeout time.Duration // tests shorten it
}

// Receiver is one published track: a forwarder goroutine per upstream layer
// feeding the DownTracks in an immutable snapshot. The owning actor is the
// only one that changes the snapshot, and no per-packet work ever goes
// through a mailbox.
type Receiver struct {
	opts      ReceiverOptions
	log       *slog.Logger
	codecKind codecKind
	video     bool
	clockRate uint32

	layers   [maxLayers]atomic.Pointer[layer]
	maxLayer atomic.Int32 // highest live layer, -1 before the first
	downs    atomic.Pointer[[]*DownTrack]

	mu       sync.Mutex // control plane: layers, snapshot, fanout creation
	fan      atomic.Pointer[fanout]
	live     int // layers whose forwarder is running
	everLive bool

	wg        sync.WaitGroup
	closing   atomic.Bool
	closeOnce sync.Once
	endedOnce sync.Once

	audio audioLevel

	counters *Counters
	ctr      *counterShard // this receiver's stripe of counters

	plisSent         atomic.Uint64
	keyframeRequests atomic.Uint64
	readErrors       atomic.Uint64

	// failMu guards the failure report: the first recovered panic of any
	// of our goroutines (failErr) and who to tell (onFail).
	failMu   sync.Mutex
	failErr  error
	onFail   func(error)
	failOnce sync.Once
}

// layer is one upstream encoding: its pion track, its packet cache and its
// counters.
type layer struct {
	idx          int8
	rid          string
	ssrc         uint32
	track        *webrtc.TrackRemote
	rtpReceiver  *webrtc.RTPReceiver
	cache        *packetCache
	audioLevelID uint8

	lastPLI  atomic.Int64
	packets  atomic.Uint64
	bytes    atomic.Uint64
	lost     atomic.Uint64
	keyframe atomic.Uint64
	highSeq  uint16 // forwarder goroutine only
	haveSeq  bool
	ended    atomic.Bool

	// RFC 3550 interarrival jitter, kept by the forwarder goroutine in RTP
	// clock units ×16 (the estimator's own fixed point) and published as an
	// atomic for Stats.
	jitter16    uint32
	prevTransit int64
	haveTransit bool
	jitterPub   atomic.Uint32
}

// NewReceiver creates a receiver with no layers; add them with AddLayer as
// OnTrack fires.
func NewReceiver(opts ReceiverOptions) *Receiver {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	def := Config{
		FanoutWorkers: opts.FanoutWorkers, FanoutThreshold: opts.FanoutThreshold,
		PacketCacheSize: opts.PacketCacheSize, PacketCacheBytes: opts.PacketCacheBytes,
	}.withDefaults()
	opts.FanoutWorkers, opts.FanoutThreshold = def.FanoutWorkers, def.FanoutThreshold
	opts.PacketCacheSize, opts.PacketCacheBytes = def.PacketCacheSize, def.PacketCacheBytes
	if opts.stallTimeout <= 0 {
		opts.stallTimeout = 250 * time.Millisecond
	}
	if opts.Kind == 0 {
		opts.Kind = codecTypeOf(opts.Codec.MimeType)
	}
	r := &Receiver{
		opts:      opts,
		log:       opts.Log.With("track", opts.TrackID),
		codecKind: codecKindOf(opts.Codec.MimeType),
		video:     opts.Kind == webrtc.RTPCodecTypeVideo,
		clockRate: opts.Codec.ClockRate,
	}
	if r.clockRate == 0 {
		r.clockRate = 90000
		if !r.video {
			r.clockRate = 48000
		}
	}
	r.counters = opts.Counters
	if r.counters == nil {
		r.counters = &Counters{}
	}
	r.ctr = r.counters.shard()
	r.maxLayer.Store(-1)
	empty := []*DownTrack{}
	r.downs.Store(&empty)
	return r
}

// LayerForRID maps LiveKit's simulcast RIDs to layer indexes; anything else,
// including no RID, is layer 0.
func LayerForRID(rid string) int {
	switch rid {
	case "h", "1", "mid":
		return 1
	case "f", "2", "high":
		return 2
	}
	return 0
}

// AddLayer attaches one upstream encoding and starts its forwarder and RTCP
// drain goroutines. pion stalls its interceptors if RTCP is never read, so
// the drain is not optional. Calling it again for a layer that is already
// present, or after Close, does nothing.
func (r *Receiver) AddLayer(t *webrtc.TrackRemote, rr *webrtc.RTPReceiver) {
	idx := LayerForRID(t.RID())
	l := &layer{idx: int8(idx), rid: t.RID(), ssrc: uint32(t.SSRC()), track: t, rtpReceiver: rr}
	if rr != nil {
		for _, ext := range rr.GetParameters().HeaderExtensions {
			if ext.URI == sdp.AudioLevelURI {
				l.audioLevelID = uint8(ext.ID)
			}
		}
	}
	if !r.attachLayer(l) {
		return
	}
	r.wg.Add(2)
	go r.forwardLoop(l)
	go r.drainRTCP(l)
	r.log.Debug("layer added", "layer", idx, "rid", l.rid, "ssrc", l.ssrc)
}

// attachLayer registers l and counts it live; false if the slot is taken or
// the receiver is closed. Split from AddLayer so tests can feed packets
// without pion.
func (r *Receiver) attachLayer(l *layer) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing.Load() || r.layers[l.idx].Load() != nil {
		return false
	}
	l.cache = newPacketCache(r.opts.PacketCacheSize, r.opts.PacketCacheBytes)
	r.layers[l.idx].Store(l)
	r.live++
	r.everLive = true
	r.recomputeMaxLayerLocked()
	return true
}

func (r *Receiver) recomputeMaxLayerLocked() {
	m := int32(-1)
	for i := range r.layers {
		if l := r.layers[i].Load(); l != nil && !l.ended.Load() {
			m = int32(i)
		}
	}
	r.maxLayer.Store(m)
}

// forwardLoop is the per-layer hot loop: read into a pooled packet, parse,
// cache, fan out. It allocates nothing per packet of its own.
//
// No actor supervises it: a panic (here, in the packet cache or in any
// DownTrack's write) is recovered and becomes the track's failure (see
// OnFailure) instead of the process's end.
func (r *Receiver) forwardLoop(l *layer) {
	defer r.wg.Done()
	defer r.layerEnded(l)
	defer r.recoverLoop("forwarder")
	consecutiveErrs := 0
	for {
		p := getPacket()
		n, _, err := l.track.Read(p.buf[:])
		if err != nil {
			p.release()
			if r.closing.Load() || errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
				return
			}
			r.readErrors.Add(1)
			// pion reports some per-packet problems (unknown payload type)
			// as read errors; only a run of them means the stream is gone.
			if consecutiveErrs++; consecutiveErrs > 100 {
				r.log.Warn("giving up on layer after repeated read errors", "layer", l.idx, "err", err)
				return
			}
			continue
		}
		consecutiveErrs = 0
		if err := p.parse(n); err != nil {
			p.release()
			r.readErrors.Add(1)
			continue
		}
		r.ingest(l, p)
		p.release()
	}
}

// ingest classifies one parsed packet and forwards it. The caller keeps its
// own reference.
func (r *Receiver) ingest(l *layer, p *packet) {
	p.arrival = nanotime()
	p.layer = l.idx
	p.keyframe = isKeyframeStart(r.codecKind, p.payload)
	if r.video && p.keyframe {
		l.keyframe.Add(1)
	}
	size := uint64(len(p.payload) + 12)
	l.packets.Add(1)
	l.bytes.Add(size)
	r.ctr.packetsIn.Add(1)
	r.ctr.bytesIn.Add(size)
	seq := p.hdr.SequenceNumber
	if !l.haveSeq {
		l.highSeq, l.haveSeq = seq, true
		r.updateJitter(l, p)
	} else if d := int16(seq - l.highSeq); d > 0 {
		r.updateJitter(l, p) // in-order packets only: RFC 3550 leaves reordered ones out
		if d > 1 {
			l.lost.Add(uint64(d - 1))
			r.ctr.lost.Add(uint64(d - 1))
		}
		l.highSeq = seq
	}
	if l.audioLevelID != 0 {
		if ext := p.hdr.GetExtension(l.audioLevelID); len(ext) > 0 {
			r.audio.observe(ext[0], p.arrival)
		}
	}
	l.cache.put(p)
	r.forward(l.idx, p)
}

// forward hands p to every DownTrack of the current snapshot: directly when
// there are few, through the writer pool when there are many.
func (r *Receiver) forward(layer int8, p *packet) {
	dts := *r.downs.Load()
	if len(dts) == 0 {
		return
	}
	if th := r.opts.FanoutThreshold; th >= 0 && len(dts) > th {
		if f := r.fanoutPool(); f != nil {
			f.dispatch(layer, p, dts)
			return
		}
	}
	for _, d := range dts {
		d.writePacket(layer, p)
	}
}

// fanoutPool returns the writer pool, starting it on first use so that the
// common small track never owns idle goroutines.
func (r *Receiver) fanoutPool() *fanout {
	if f := r.fan.Load(); f != nil {
		return f
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if f := r.fan.Load(); f != nil {
		return f
	}
	if r.closing.Load() {
		return nil
	}
	f := newFanout(r, r.opts.FanoutWorkers, r.opts.stallTimeout)
	r.fan.Store(f)
	return f
}

// drainRTCP reads sender reports for one layer. The interceptors do the
// work; we only keep the stream flowing.
// A panic is recovered and fails the track, as in forwardLoop.
func (r *Receiver) drainRTCP(l *layer) {
	defer r.wg.Done()
	defer r.recoverLoop("publisher RTCP drain")
	if l.rtpReceiver == nil {
		return
	}
	if l.rid != "" {
		r.awaitSimulcastBinding(l.rtpReceiver)
	}
	buf := make([]byte, maxPacketSize)
	errs := 0
	for {
		var err error
		if l.rid != "" {
			_, _, err = l.rtpReceiver.ReadSimulcast(buf, l.rid)
		} else {
			_, _, err = l.rtpReceiver.Read(buf)
		}
		if err == nil {
			errs = 0
			if h := drainHook.Load(); h != nil {
				(*h)(r)
			}
			continue
		}
		if r.closing.Load() || l.ended.Load() || errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
			return
		}
		if errs++; errs > 100 {
			return
		}
	}
}

// updateJitter folds one packet into the layer's RFC 3550 (§6.4.1, A.8)
// interarrival jitter: transit = arrival − RTP timestamp, both in RTP clock
// units, and J += (|ΔD| − J)/16 in fixed point. A few integer operations on
// the forwarder goroutine; no allocation.
func (r *Receiver) updateJitter(l *layer, p *packet) {
	arrival := p.arrival / 1000 * int64(r.clockRate) / 1_000_000 // ns → RTP units without overflow
	transit := arrival - int64(p.hdr.Timestamp)
	if !l.haveTransit {
		l.prevTransit, l.haveTransit = transit, true
		return
	}
	d := transit - l.prevTransit
	l.prevTransit = transit
	if d < 0 {
		d = -d
	}
	if d > 1<<24 { // a timestamp jump (new stream, wrap), not jitter
		return
	}
	l.jitter16 += uint32(d) - ((l.jitter16 + 8) >> 4)
	l.jitterPub.Store(l.jitter16)
}

// simulcastBindWait bounds how long a simulcast layer's RTCP drain waits for
// the transceiver's other layers to arrive.
const simulcastBindWait = 5 * time.Second

// awaitSimulcastBinding waits until pion has bound every rid of rr to its
// SSRC, or simulcastBindWait passes. pion v3's ReadSimulcast copies the state
// of every layer without taking the receiver's lock, while receiveForRid fills
// that state in when a layer's first packet arrives: reading one layer's RTCP
// while another is still being bound is a data race. Tracks takes the
// receiver's lock, so seeing every SSRC set through it orders this goroutine
// after every receiveForRid. A layer that first arrives later than the bound
// reopens the window; publishers start all their layers together, so in
// practice it does not happen.
func (r *Receiver) awaitSimulcastBinding(rr *webrtc.RTPReceiver) {
	deadline := time.Now().Add(simulcastBindWait)
	for !r.closing.Load() && time.Now().Before(deadline) {
		bound := true
		for _, t := range rr.Tracks() {
			if t.SSRC() == 0 {
				bound = false
				break
			}
		}
		if bound {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *Receiver) layerEnded(l *layer) {
	l.ended.Store(true)
	if l.rtpReceiver != nil {
		// Unblock drainRTCP.
		if l.rid != "" {
			_ = l.rtpReceiver.SetReadDeadlineSimulcast(time.Now(), l.rid)
		} else {
			_ = l.rtpReceiver.SetReadDeadline(time.Now())
		}
	}
	r.mu.Lock()
	r.live--
	r.recomputeMaxLayerLocked()
	allGone := r.live == 0 && r.everLive
	r.mu.Unlock()
	if allGone && !r.closing.Load() && r.opts.OnClosed != nil {
		r.endedOnce.Do(func() { go r.opts.OnClosed() })
	}
}

// AddDownTrack adds a subscriber to the snapshot and asks for a keyframe so
// it can start promptly. Copy-on-write: the forwarders keep iterating
// whichever snapshot they loaded.
func (r *Receiver) AddDownTrack(d *DownTrack) {
	r.mu.Lock()
	old := *r.downs.Load()
	if slices.Contains(old, d) {
		r.mu.Unlock()
		return
	}
	next := make([]*DownTrack, len(old), len(old)+1)
	copy(next, old)
	next = append(next, d)
	r.downs.Store(&next)
	r.mu.Unlock()
	if r.video {
		r.RequestKeyframe(d.effectiveTarget())
	}
}

// RemoveDownTrack drops a subscriber from the snapshot. A forwarder that
// loaded the old snapshot may still deliver one more packet to it.
func (r *Receiver) RemoveDownTrack(d *DownTrack) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.downs.Load()
	i := slices.Index(old, d)
	if i < 0 {
		return
	}
	next := make([]*DownTrack, 0, len(old)-1)
	next = append(next, old[:i]...)
	next = append(next, old[i+1:]...)
	r.downs.Store(&next)
}

// RequestKeyframe asks the publisher for a keyframe on layer, at most once
// per pliInterval per layer, and counts the request in KeyframeRequests.
// Safe from any goroutine; it never blocks on the control plane.
func (r *Receiver) RequestKeyframe(layer int) {
	if !r.video {
		return
	}
	r.keyframeRequests.Add(1)
	r.keepAskingKeyframe(layer)
}

// keepAskingKeyframe is RequestKeyframe without the count, for DownTracks
// that repeat their request on every packet while they wait for a keyframe:
// counting those would make KeyframeRequests a packet count and put a shared
// atomic add on the forwarding path.
func (r *Receiver) keepAskingKeyframe(layer int) {
	if !r.video {
		return
	}
	if layer < 0 || layer >= maxLayers {
		layer = int(r.maxLayer.Load())
		if layer < 0 {
			return
		}
	}
	l := r.layers[layer].Load()
	if l == nil {
		return
	}
	now := nanotime()
	last := l.lastPLI.Load()
	if last != 0 && now-last < int64(pliInterval) {
		return
	}
	if !l.lastPLI.CompareAndSwap(last, now) {
		return
	}
	r.plisSent.Add(1)
	r.ctr.plisOut.Add(1)
	if r.opts.OnKeyframeRequest != nil {
		r.opts.OnKeyframeRequest(l.ssrc)
		return
	}
	if pc := r.opts.PublisherPC; pc != nil {
		if err := pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: l.ssrc}}); err != nil {
			r.log.Debug("PLI write failed", "layer", layer, "err", err)
		}
	}
}

// OnFailure registers fn to run once, on its own goroutine, when one of the
// receiver's goroutines (a forwarder, a publisher RTCP drain, a fan-out
// writer) panicked. The receiver is then broken: fn should make the owner
// close it and unpublish the track, as a panic in the owner itself would.
// A failure that happened before OnFailure is reported at registration.
func (r *Receiver) OnFailure(fn func(error)) {
	r.failMu.Lock()
	r.onFail = fn
	err := r.failErr
	r.failMu.Unlock()
	if err != nil {
		r.reportFailure()
	}
}

// recoverLoop is the deferred panic handler of every receiver goroutine: it
// logs the panic with its stack and reports the track's failure.
func (r *Receiver) recoverLoop(where string) {
	v := recover()
	if v == nil {
		return
	}
	err := panicError(where, v)
	r.log.Error("recovered panic; failing the track", "err", err, "stack", string(debug.Stack()))
	r.failMu.Lock()
	if r.failErr == nil {
		r.failErr = err
	}
	r.failMu.Unlock()
	r.reportFailure()
}

// reportFailure tells the registered owner about the first failure, once.
func (r *Receiver) reportFailure() {
	r.failMu.Lock()
	fn, err := r.onFail, r.failErr
	r.failMu.Unlock()
	if fn == nil || err == nil {
		return
	}
	r.failOnce.Do(func() { go fn(err) })
}

// drainHook, when set by a test, runs for every RTCP packet a publisher
// RTCP drain reads: the one way to inject a panic into that loop.
var drainHook atomic.Pointer[func(*Receiver)]

// cachedPacket returns the cached packet (referenced) or nil.
func (r *Receiver) cachedPacket(layer int8, seq uint16) *packet {
	if layer < 0 || int(layer) >= maxLayers {
		return nil
	}
	l := r.layers[layer].Load()
	if l == nil {
		return nil
	}
	return l.cache.get(seq)
}

// AudioLevel returns the smoothed level (0..1, 1 = loudest) from the
// ssrc-audio-level extension and whether the speaker was loud recently.
func (r *Receiver) AudioLevel() (level float32, active bool) {
	return r.audio.get(nanotime())
}

// Layers lists the indexes of layers whose forwarder is still running.
func (r *Receiver) Layers() []int {
	var out []int
	for i := range r.layers {
		if l := r.layers[i].Load(); l != nil && !l.ended.Load() {
			out = append(out, i)
		}
	}
	return out
}

// Kind is audio or video.
func (r *Receiver) Kind() webrtc.RTPCodecType { return r.opts.Kind }

// Codec is the publisher's negotiated codec.
func (r *Receiver) Codec() webrtc.RTPCodecParameters { return r.opts.Codec }

// Close stops the forwarders and the writer pool and waits for them, so that
// when it returns no goroutine of this receiver is left (except a fan-out
// writer stuck inside a subscriber's write, which leaves when that write
// returns). Idempotent.
func (r *Receiver) Close() {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closing.Store(true)
		r.mu.Unlock()
		now := time.Now()
		for i := range r.layers {
			l := r.layers[i].Load()
			if l == nil || l.track == nil {
				continue
			}
			_ = l.track.SetReadDeadline(now)
			if l.rtpReceiver != nil {
				if l.rid != "" {
					_ = l.rtpReceiver.SetReadDeadlineSimulcast(now, l.rid)
				} else {
					_ = l.rtpReceiver.SetReadDeadline(now)
				}
			}
		}
		r.wg.Wait()
		if f := r.fan.Load(); f != nil {
			f.close()
		}
		for i := range r.layers {
			if l := r.layers[i].Load(); l != nil {
				l.cache.clear()
			}
		}
	})
}
