package media

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"
	"go.uber.org/goleak"
)

// twccClientAPI is a loopback pion peer with pion's default interceptors,
// so it answers transport-wide-cc with feedback as the Go SDK does.
func twccClientAPI(t *testing.T) *webrtc.API {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		t.Fatal(err)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir))
}

// TestSubscriberTWCCFeedbackReachesEstimator: the subscriber PC negotiates
// transport-wide-cc, every packet the node sends carries a transport-wide
// sequence number that increases by one, the client's feedback reaches the
// PC's Estimator, and the estimate is positive and reported through
// OnEstimate.
func TestSubscriberTWCCFeedbackReachesEstimator(t *testing.T) {
	defer goleak.VerifyNone(t)
	eng, err := NewEngine(Config{LoopbackOnly: true}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	api := twccClientAPI(t)
	pubClient, pub, src, recvCh := loopbackPublisher(t, eng, loopbackClientAPI(t))
	defer pubClient.Close()
	defer pub.Close()

	stop := make(chan struct{})
	var sendWG sync.WaitGroup
	sendWG.Add(1)
	go func() { // ~1.6 Mbit/s of 1000-byte packets, a keyframe every 50
		defer sendWG.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		pad := make([]byte, 1000)
		for i := uint32(0); ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			pl := append([]byte(nil), vp8Delta...)
			if i%50 == 0 {
				pl = append([]byte(nil), vp8Key...)
			}
			pl = append(pl, pad...)
			_ = src.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: uint16(i), Timestamp: i * 450}, Payload: pl})
		}
	}()
	defer func() { close(stop); sendWG.Wait() }()
	r := waitReceiver(t, recvCh)
	defer r.Close()

	var extID atomic.Int32
	var mu sync.Mutex
	var seqs []uint16
	sub, subClient, dt, readWG := loopbackSubscriber(t, eng, api, r, func(*webrtc.TrackRemote) {}, func(p *rtp.Packet) {
		id := uint8(extID.Load())
		if id == 0 {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if b := p.GetExtension(id); len(b) == 2 {
			seqs = append(seqs, uint16(b[0])<<8|uint16(b[1]))
		} else {
			seqs = append(seqs, 0xffff) // marks a packet without the stamp
		}
	})
	defer sub.Close()
	defer dt.Close()
	defer subClient.Close()

	extID.Store(int32(twccExtID(t, subClient)))
	est := eng.SubscriberEstimator(sub)
	if est == nil {
		t.Fatal("no estimator for the subscriber PC")
	}
	var notified atomic.Int64
	est.OnEstimate(func(bps int) { notified.Store(int64(bps)) })
	waitFor(t, "TWCC feedback and an estimate", func() bool {
		return est.Stats().Feedbacks >= 5 && est.Estimate() > 0 && notified.Load() > 0
	})
	mu.Lock()
	got := append([]uint16(nil), seqs...)
	mu.Unlock()
	if len(got) < 20 {
		t.Fatalf("only %d stamped packets seen", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i] == 0xffff || got[i] != got[i-1]+1 {
			t.Fatalf("transport-wide sequence not continuous at %d: %v", i, got[max(0, i-3):i+1])
		}
	}
	t.Logf("estimate %d bps after %d feedbacks; stats %+v", est.Estimate(), est.Stats().Feedbacks, est.Stats().GCC)

	_ = subClient.Close()
	_ = sub.Close()
	readWG.Wait()
	<-dt.RTCPDone()
	if eng.SubscriberEstimator(sub) != nil {
		t.Fatal("estimator still registered after the PC closed")
	}
}

// twccExtID is the transport-wide-cc extension ID the client agreed on.
func twccExtID(t *testing.T, pc *webrtc.PeerConnection) int {
	t.Helper()
	for _, tr := range pc.GetTransceivers() {
		for _, x := range tr.Receiver().GetParameters().HeaderExtensions {
			if x.URI == sdp.TransportCCURI {
				return x.ID
			}
		}
	}
	t.Fatal("transport-wide-cc not negotiated on the subscriber PC")
	return 0
}

// TestEstimatorREMB: a client that sends only REMB gets its REMB as the
// estimate; a stale REMB stops counting; with TWCC feedback too, the lower
// of the two wins.
func TestEstimatorREMB(t *testing.T) {
	defer goleak.VerifyNone(t)
	e, err := newEstimator(BWEConfig{}.withDefaults(), pionLogs{log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if got := e.Estimate(); got != 0 {
		t.Fatalf("estimate before any feedback = %d, want 0", got)
	}
	e.handleRTCP(rtcpBytes(t, &rtcp.ReceiverEstimatedMaximumBitrate{SenderSSRC: 1, Bitrate: 300_000, SSRCs: []uint32{5}}))
	if got := e.Estimate(); got < 299_000 || got > 301_000 {
		t.Fatalf("estimate from REMB = %d, want ~300000", got)
	}
	e.rembAt.Store(nanotime() - int64(3*time.Second))
	if got := e.Estimate(); got != 0 {
		t.Fatalf("estimate from a stale REMB = %d, want 0", got)
	}
	e.feedbacks.Store(1) // as if TWCC feedback had arrived: GCC's 1 Mbit/s start
	e.handleRTCP(rtcpBytes(t, &rtcp.ReceiverEstimatedMaximumBitrate{SenderSSRC: 1, Bitrate: 200_000, SSRCs: []uint32{5}}))
	if got := e.Estimate(); got > 201_000 {
		t.Fatalf("estimate with REMB below GCC = %d, want the REMB", got)
	}
	e.rembAt.Store(nanotime() - int64(3*time.Second))
	if got := e.Estimate(); got != defaultBWEInitial {
		t.Fatalf("estimate with TWCC only = %d, want GCC's %d", got, defaultBWEInitial)
	}
}

// BenchmarkSubscriberWrite is the per-packet cost of the subscriber PC's
// send path below the DownTrack: "off" is a bare writer, "twcc" adds our
// allocation-free stamping alone, "bwe" adds the stamp plus GCC's send
// record (pion's feedback history), as the engine runs it.
func BenchmarkSubscriberWrite(b *testing.B) {
	sink := interceptor.RTPWriterFunc(func(_ *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) { return len(p), nil })
	info := &interceptor.StreamInfo{SSRC: 1, RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: sdp.TransportCCURI, ID: 3}}}
	e, err := newEstimator(BWEConfig{}.withDefaults(), pionLogs{log: quietLog()})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	run := func(b *testing.B, w interceptor.RTPWriter) {
		h := rtp.Header{Version: 2, PayloadType: 96, SSRC: 1}
		payload := make([]byte, 1000)
		attrs := interceptor.Attributes{}
		b.ReportAllocs()
		b.SetBytes(int64(len(payload)))
		for i := 0; i < b.N; i++ {
			h.SequenceNumber = uint16(i)
			h.Extension, h.Extensions = false, h.Extensions[:0]
			if _, err := w.Write(&h, payload, attrs); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("off", func(b *testing.B) { run(b, sink) })
	b.Run("twcc", func(b *testing.B) { run(b, &twccStamper{id: 3, e: e, next: sink}) })
	b.Run("bwe", func(b *testing.B) { run(b, (&bweInterceptor{e: e}).BindLocalStream(info, sink)) })
}
