package scenarios

import (
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/actors/media"
	"github.com/actor-sfu/livekit-server/testkit/shaper"
)

// bweSettings are a loopback pion peer's settings and default codecs.
func bweSettings(t *testing.T) (webrtc.SettingEngine, *webrtc.MediaEngine) {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" || name == "lo0" })
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	return se, me
}

// twccAPI is a loopback pion peer with pion's default interceptors, so it
// answers transport-wide-cc with feedback as the Go SDK does.
func twccAPI(t *testing.T) *webrtc.API {
	t.Helper()
	se, me := bweSettings(t)
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		t.Fatal(err)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir))
}

// pollUntil polls cond every 20 ms for up to within.
func pollUntil(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exchange runs one offer/answer with full gathering; offerSDP and
// answerSDP may rewrite the descriptions on the way.
func exchange(t *testing.T, offerer, answerer *webrtc.PeerConnection, offerSDP, answerSDP func(string) string) {
	t.Helper()
	id := func(s string) string { return s }
	if offerSDP == nil {
		offerSDP = id
	}
	if answerSDP == nil {
		answerSDP = id
	}
	local := func(pc *webrtc.PeerConnection, d webrtc.SessionDescription) webrtc.SessionDescription {
		g := webrtc.GatheringCompletePromise(pc)
		if err := pc.SetLocalDescription(d); err != nil {
			t.Fatal(err)
		}
		<-g
		return *pc.LocalDescription()
	}
	offer, err := offerer.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	o := local(offerer, offer)
	o.SDP = offerSDP(o.SDP)
	if err := answerer.SetRemoteDescription(o); err != nil {
		t.Fatal(err)
	}
	answer, err := answerer.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	a := local(answerer, answer)
	a.SDP = answerSDP(a.SDP)
	if err := offerer.SetRemoteDescription(a); err != nil {
		t.Fatal(err)
	}
}

var candidateLine = regexp.MustCompile(`(?m)^a=(candidate|end-of-candidates).*\r?\n`)

// bweRig is a media engine with one VP8 publisher and one subscriber whose
// downlink goes through a shaper.
type bweRig struct {
	eng                 *media.Engine
	pubClient, pub      *webrtc.PeerConnection
	sub, subClient      *webrtc.PeerConnection
	recv, audio         *media.Receiver
	dt, audioDT         *media.DownTrack
	audioPackets        int
	relay               *shaper.Relay
	stop                chan struct{}
	wg                  sync.WaitGroup
	mu                  sync.Mutex
	received, bytesRecv int
	vp8                 vp8Stream
}

// newBWERig publishes three VP8 simulcast layers (about 120 k, 480 k and
// 1.7 Mbit/s at 30 fps, a keyframe on every layer each second) and
// subscribes one client through a relay.
func newBWERig(t *testing.T) *bweRig {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := media.NewEngine(media.Config{BindIP: "127.0.0.1", LoopbackOnly: true}, log)
	if err != nil {
		t.Fatal(err)
	}
	g := &bweRig{eng: eng, stop: make(chan struct{})}
	t.Cleanup(g.close)
	se, me := bweSettings(t)
	if err := webrtc.ConfigureSimulcastExtensionHeaders(me); err != nil {
		t.Fatal(err)
	}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me))
	if g.pubClient, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		t.Fatal(err)
	}
	var layers [3]*ridTrack
	for i, rid := range []string{"q", "h", "f"} {
		tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "v", "s", webrtc.WithRTPStreamID(rid))
		if err != nil {
			t.Fatal(err)
		}
		layers[i] = &ridTrack{TrackLocalStaticRTP: tr}
	}
	tc, err := g.pubClient.AddTransceiverFromTrack(layers[0], webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers[1:] {
		if err := tc.Sender().AddEncoding(l); err != nil {
			t.Fatal(err)
		}
	}
	if g.pub, err = eng.NewPublisherPC(); err != nil {
		t.Fatal(err)
	}
	opus, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "a", "s")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.pubClient.AddTrack(opus); err != nil {
		t.Fatal(err)
	}
	recvCh := make(chan *media.Receiver, 1)
	audioCh := make(chan *media.Receiver, 1)
	var recvMu sync.Mutex
	var recv *media.Receiver
	g.pub.OnTrack(func(tr *webrtc.TrackRemote, rr *webrtc.RTPReceiver) {
		recvMu.Lock()
		defer recvMu.Unlock()
		if tr.Kind() == webrtc.RTPCodecTypeAudio {
			a := eng.NewReceiver(media.ReceiverOptions{TrackID: "TR_a", Codec: tr.Codec(), Kind: webrtc.RTPCodecTypeAudio, PublisherPC: g.pub})
			a.AddLayer(tr, rr)
			audioCh <- a
			return
		}
		if recv == nil {
			recv = eng.NewReceiver(media.ReceiverOptions{TrackID: "TR_x", Codec: tr.Codec(), PublisherPC: g.pub})
			recvCh <- recv
		}
		recv.AddLayer(tr, rr)
	})
	exchange(t, g.pubClient, g.pub, nil, nil)
	for _, l := range layers {
		l.mid = tc.Mid()
	}
	g.wg.Add(2)
	go g.publish(layers)
	go g.publishAudio(opus)
	for g.recv == nil || g.audio == nil {
		select {
		case g.recv = <-recvCh:
		case g.audio = <-audioCh:
		case <-time.After(10 * time.Second):
			t.Fatal("publisher OnTrack never fired")
		}
	}
	pollUntil(t, "three live layers", 10*time.Second, func() bool { return len(g.recv.Layers()) == 3 })
	g.subscribe(t)
	return g
}

// ridTrack stamps mid and rid on each packet: pion v3 does not, and the
// node cannot map rid-only streams without them.
type ridTrack struct {
	*webrtc.TrackLocalStaticRTP
	mid            string
	midExt, ridExt atomic.Uint32
}

// Bind records the negotiated extension IDs.
func (r *ridTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, e := range ctx.HeaderExtensions() {
		switch e.URI {
		case sdp.SDESMidURI:
			r.midExt.Store(uint32(e.ID))
		case sdp.SDESRTPStreamIDURI:
			r.ridExt.Store(uint32(e.ID))
		}
	}
	return r.TrackLocalStaticRTP.Bind(ctx)
}

func (r *ridTrack) write(p *rtp.Packet) {
	if id := r.midExt.Load(); id != 0 && r.mid != "" {
		_ = p.Header.SetExtension(uint8(id), []byte(r.mid))
	}
	if id := r.ridExt.Load(); id != 0 {
		_ = p.Header.SetExtension(uint8(id), []byte(r.RID()))
	}
	_ = r.WriteRTP(p)
}

// publishAudio sends 50 Opus-sized packets a second (~40 kbit/s).
func (g *bweRig) publishAudio(src *webrtc.TrackLocalStaticRTP) {
	defer g.wg.Done()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := uint32(0); ; i++ {
		select {
		case <-g.stop:
			return
		case <-tick.C:
		}
		_ = src.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: i * 960}, Payload: make([]byte, 100)})
	}
}

// layerPackets is how many packets each layer's frame has, of
// layerPacketSize bytes: ~120 k, 480 k and 1.7 Mbit/s at 30 fps.
var (
	layerPackets    = [3]int{1, 2, 7}
	layerPacketSize = [3]int{500, 1000, 1000}
)

// publish sends 30 frames a second on every layer. Each layer numbers its
// pictures on its own (15-bit picture ID, TL0PICIDX), as encoders do; each
// packet's body names its layer, frame and packet index.
func (g *bweRig) publish(layers [3]*ridTrack) {
	defer g.wg.Done()
	tick := time.NewTicker(time.Second / 30)
	defer tick.Stop()
	var seq [3]uint16
	pic := [3]uint16{5, 9000, 32760}
	for frame := 0; ; frame++ {
		select {
		case <-g.stop:
			return
		case <-tick.C:
		}
		for li, l := range layers {
			if l.ridExt.Load() == 0 {
				continue // not bound yet
			}
			n := layerPackets[li]
			for k := 0; k < n; k++ {
				pl := make([]byte, layerPacketSize[li])
				pl[0] = 0x80 // X
				if k == 0 {
					pl[0] |= 0x10 // S
				}
				pl[1] = 0xe0 // I, L, T
				pl[2], pl[3] = 0x80|byte(pic[li]>>8), byte(pic[li])
				pl[4] = byte(frame)
				pl[6] = 0x01 // inter frame
				if frame%30 == 0 {
					pl[6] = 0x00 // keyframe
				}
				binary.BigEndian.PutUint32(pl[7:], uint32(frame))
				pl[11], pl[12], pl[13] = byte(li), byte(k), byte(n)
				l.write(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: k == n-1, SequenceNumber: seq[li], Timestamp: uint32(frame) * 3000}, Payload: pl})
				seq[li]++
			}
			pic[li] = (pic[li] + 1) & 0x7fff
		}
	}
}

// subscribe makes the subscriber PC and its client; the client sees only
// the relay's address for the node, and the node sees none of the client's
// candidates, so it learns the relay's upstream socket from the checks.
func (g *bweRig) subscribe(t *testing.T) {
	t.Helper()
	var err error
	if g.relay, err = shaper.New(g.eng.UDPAddr(), 0, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if g.sub, err = g.eng.NewSubscriberPC(); err != nil {
		t.Fatal(err)
	}
	codec, _ := media.CodecCapability(webrtc.MimeTypeVP8)
	g.dt = media.NewDownTrack(g.recv, codec, "TR_x", "PA_p|TR_x")
	sender, err := g.sub.AddTrack(g.dt)
	if err != nil {
		t.Fatal(err)
	}
	g.dt.StartRTCP(sender)
	g.recv.AddDownTrack(g.dt)
	opus, _ := media.CodecCapability(webrtc.MimeTypeOpus)
	g.audioDT = media.NewDownTrack(g.audio, opus, "TR_a", "PA_p|TR_a")
	if sender, err = g.sub.AddTrack(g.audioDT); err != nil {
		t.Fatal(err)
	}
	g.audioDT.StartRTCP(sender)
	g.audio.AddDownTrack(g.audioDT)
	if g.subClient, err = twccAPI(t).NewPeerConnection(webrtc.Configuration{}); err != nil {
		t.Fatal(err)
	}
	g.subClient.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			for {
				p, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				g.mu.Lock()
				if tr.Kind() == webrtc.RTPCodecTypeAudio {
					g.audioPackets++
				} else {
					g.received++
					g.bytesRecv += len(p.Payload)
					g.vp8.push(p)
				}
				g.mu.Unlock()
			}
		}()
	})
	nodePort := fmt.Sprintf(" 127.0.0.1 %d typ", g.eng.UDPAddr().Port)
	relayPort := fmt.Sprintf(" 127.0.0.1 %d typ", g.relay.Addr().Port)
	exchange(t, g.sub, g.subClient,
		func(s string) string { return strings.ReplaceAll(s, nodePort, relayPort) },
		func(s string) string { return candidateLine.ReplaceAllString(s, "") })
}

func (g *bweRig) close() {
	close(g.stop)
	for _, pc := range []*webrtc.PeerConnection{g.subClient, g.sub, g.pubClient, g.pub} {
		if pc != nil {
			_ = pc.Close()
		}
	}
	for _, d := range []*media.DownTrack{g.dt, g.audioDT} {
		if d != nil {
			d.Close()
		}
	}
	for _, r := range []*media.Receiver{g.recv, g.audio} {
		if r != nil {
			r.Close()
		}
	}
	g.wg.Wait()
	if g.relay != nil {
		_ = g.relay.Close()
	}
	_ = g.eng.Close()
}

// vp8Stream checks what the client receives as one VP8 stream: within a
// run of consecutive sequence numbers the picture ID stays or grows by one,
// TL0PICIDX likewise, each frame's packets come from one layer and frame,
// and a keyframe starts every layer change that follows without a gap. It records the layer of the
// last packet.
type vp8Stream struct {
	started        bool
	seq, pic       uint16
	tl0            uint8
	layer, frame   int
	lastLayer      int
	switches, errs int
	firstErr       string
	layerBytes     [3]int
}

func (v *vp8Stream) fail(format string, args ...any) {
	v.errs++
	if v.firstErr == "" {
		v.firstErr = fmt.Sprintf(format, args...)
	}
}

func (v *vp8Stream) push(p *rtp.Packet) {
	b := p.Payload
	if len(b) < 14 || b[0]&0x80 == 0 || b[1] != 0xe0 || b[2]&0x80 == 0 {
		v.fail("seq %d: descriptor %x", p.SequenceNumber, b[:min(len(b), 8)])
		return
	}
	pic := uint16(b[2]&0x7f)<<8 | uint16(b[3])
	tl0 := b[4]
	start := b[0]&0x10 != 0
	key := start && b[6]&0x01 == 0
	layer, frame := int(b[11]), int(binary.BigEndian.Uint32(b[7:]))
	if layer > 2 {
		v.fail("seq %d: layer %d", p.SequenceNumber, layer)
		return
	}
	v.layerBytes[layer] += len(b)
	if v.started && int16(p.SequenceNumber-v.seq) <= 0 {
		return // a retransmission, late: the checks follow the newest packet
	}
	if v.started && p.SequenceNumber == v.seq+1 {
		dp, dt := (pic-v.pic)&0x7fff, tl0-v.tl0
		switch {
		case start && (dp != 1 || dt != 1):
			v.fail("seq %d: new frame with picture ID %d TL0 %d after %d/%d", p.SequenceNumber, pic, tl0, v.pic, v.tl0)
		case !start && (dp != 0 || dt != 0 || layer != v.layer || frame != v.frame):
			v.fail("seq %d: continuation of another picture (%d/%d layer %d frame %d after %d/%d layer %d frame %d)",
				p.SequenceNumber, pic, tl0, layer, frame, v.pic, v.tl0, v.layer, v.frame)
		}
	}
	if v.started && layer != v.layer {
		// After a gap the switch's keyframe may be what the relay dropped.
		if !key && p.SequenceNumber == v.seq+1 {
			v.fail("seq %d: layer %d → %d without a keyframe", p.SequenceNumber, v.layer, layer)
		}
		v.switches++
	}
	v.started, v.seq, v.pic, v.tl0, v.layer, v.frame = true, p.SequenceNumber, pic, tl0, layer, frame
}

// snapshot reads the stream state under the rig's lock.
func (g *bweRig) snapshot() vp8Stream {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.vp8
}

// layerOver returns which layer the client received most of during d.
func (g *bweRig) layerOver(d time.Duration) (layer, bps int) {
	a := g.snapshot()
	time.Sleep(d)
	b := g.snapshot()
	total := 0
	for i := range b.layerBytes {
		n := b.layerBytes[i] - a.layerBytes[i]
		total += n
		if n > b.layerBytes[layer]-a.layerBytes[layer] {
			layer = i
		}
	}
	if total == 0 {
		return -1, 0
	}
	return layer, int(float64(total) * 8 / d.Seconds())
}

// TestBWEAdaptsSimulcastToShapedDownlink: a subscriber of a 3-layer
// simulcast track (~2.5 Mbit/s in all) and an audio track through a shaping relay. Its TWCC
// feedback drives the estimate, and SubscriberAllocator moves its DownTrack:
// uncapped it gets the top layer; capped at 600 kbit/s it is on a layer that
// fits within 10 s and receives no more than the cap; at 100 kbit/s it is
// paused (PAUSED) while audio keeps flowing; with the cap lifted it resumes
// (ACTIVE) and flows again (it climbs as fast as GCC's estimate grows: no
// probing yet, so that is logged, not asserted). Every packet the client received across all the switches
// continues one VP8 stream (sequence, picture ID, TL0PICIDX; keyframes at
// switches).
func TestBWEAdaptsSimulcastToShapedDownlink(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about a minute")
	}
	g := newBWERig(t)
	est := g.eng.SubscriberEstimator(g.sub)
	if est == nil {
		t.Fatal("no estimator on the subscriber PC")
	}
	var stMu sync.Mutex
	var states []bool
	alloc := media.NewSubscriberAllocator(true, func(_ string, paused bool) {
		stMu.Lock()
		states = append(states, paused)
		stMu.Unlock()
	})
	alloc.Set(g.dt, media.TrackWishes{MaxLayer: -1})
	alloc.Set(g.audioDT, media.TrackWishes{})
	est.OnEstimate(alloc.SetEstimate)
	stateLog := func() []bool {
		stMu.Lock()
		defer stMu.Unlock()
		return append([]bool(nil), states...)
	}

	pollUntil(t, "a first estimate", 10*time.Second, func() bool { return est.Estimate() > 0 })
	pollUntil(t, "the top layer", 10*time.Second, func() bool { l, _ := g.layerOver(time.Second); return l == 2 })
	if st := g.relay.Stats(); st.Forwarded == 0 {
		t.Fatal("the subscriber's media bypassed the relay")
	}
	free := est.Estimate()

	g.relay.SetRate(600_000)
	t0 := time.Now()
	var layer, rx int
	pollUntil(t, "a layer that fits 600 kbit/s", 10*time.Second, func() bool {
		layer, rx = g.layerOver(time.Second)
		return layer >= 0 && layer < 2 && rx > 0 && rx <= 600_000
	})
	fit := time.Since(t0)
	layer, rx = g.layerOver(2 * time.Second)
	before := g.relay.Stats()
	if rx > 600_000 || layer == 2 {
		t.Fatalf("capped at 600k: layer %d at %d bit/s", layer, rx)
	}
	time.Sleep(2 * time.Second)
	after := g.relay.Stats()
	loss := float64(after.Dropped-before.Dropped) / float64(max(1, after.Dropped-before.Dropped+after.Forwarded-before.Forwarded))

	g.relay.SetRate(100_000)
	pollUntil(t, "a pause at 100 kbit/s", 15*time.Second, func() bool { s := stateLog(); return len(s) > 0 && s[len(s)-1] })
	if st := g.dt.Stats(); !st.Paused {
		t.Fatalf("PAUSED reported but the DownTrack is not paused: %+v", st)
	}
	audioAt := func() int { g.mu.Lock(); defer g.mu.Unlock(); return g.audioPackets }
	a0 := audioAt()
	time.Sleep(time.Second)
	if n := audioAt() - a0; n < 20 {
		t.Fatalf("audio while video is paused: %d packets in 1 s", n)
	}

	g.relay.SetRate(0)
	t1 := time.Now()
	// Without probes, GCC climbs from the audio rate at ~8 %/s once the cap
	// is lifted: the resume waits for that.
	pollUntil(t, "resume when the cap is lifted", 60*time.Second, func() bool { s := stateLog(); return !s[len(s)-1] })
	resumed := time.Since(t1)
	pollUntil(t, "video flowing again", 10*time.Second, func() bool { l, _ := g.layerOver(time.Second); return l >= 0 })
	// Climbing further waits for GCC (about 8 %/s without probes): logged,
	// not asserted.
	climbLayer, _ := g.layerOver(5 * time.Second)
	climbed := time.Since(t1)
	for i, st := range stateLog() {
		if i > 0 && st == stateLog()[i-1] {
			t.Fatalf("stream states repeat: %v", stateLog())
		}
	}
	v := g.snapshot()
	if v.errs > 0 {
		t.Fatalf("%d stream errors, first: %s", v.errs, v.firstErr)
	}
	if v.switches < 1 {
		t.Fatalf("only %d layer switches seen", v.switches)
	}
	t.Logf("estimate uncapped %d; 600k cap: layer %d at %d bit/s after %v, shaper loss %.1f%%; paused at 100k; resumed %v after the cap lifted, on layer %d %v after it (estimate %d); %d switches, %d packets, all one stream; stream states %v",
		free, layer, rx, fit.Round(100*time.Millisecond), 100*loss, resumed.Round(100*time.Millisecond), climbLayer, climbed.Round(100*time.Millisecond), est.Estimate(), v.switches, g.received, stateLog())
}
