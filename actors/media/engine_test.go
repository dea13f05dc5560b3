package media

import (
	"bytes"
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
	"go.uber.org/goleak"
)

// loopbackClientAPI is a plain pion peer restricted to loopback, as the team
// contract requires for every test client.
func loopbackClientAPI(t *testing.T) *webrtc.API {
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
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me))
}

// negotiate runs one offer/answer with full gathering (no trickle).
func negotiate(t *testing.T, offerer, answerer *webrtc.PeerConnection) {
	t.Helper()
	offer, err := offerer.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	g := webrtc.GatheringCompletePromise(offerer)
	if err := offerer.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-g
	if err := answerer.SetRemoteDescription(*offerer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := answerer.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	g = webrtc.GatheringCompletePromise(answerer)
	if err := answerer.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-g
	if err := offerer.SetRemoteDescription(*answerer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
}

// A client publishes VP8 to the engine's publisher PC; a DownTrack on a
// subscriber PC delivers the same payloads, byte for byte, to a second client.
func TestEngineLoopbackPublishSubscribe(t *testing.T) {
	defer goleak.VerifyNone(t)
	eng, err := NewEngine(Config{LoopbackOnly: true}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if a := eng.UDPAddr(); a == nil || a.Port == 0 || !a.IP.IsLoopback() {
		t.Fatalf("udp addr %v", a)
	}
	api := loopbackClientAPI(t)

	// Publisher side.
	pubClient, pub, src, recvCh := loopbackPublisher(t, eng, api)
	defer pubClient.Close()
	defer pub.Close()

	// The publishing client sends a keyframe every 10 packets; each payload
	// carries its index so the subscriber side can be checked exactly.
	var sentMu sync.Mutex
	sent := map[uint32][]byte{}
	stop := make(chan struct{})
	var sendWG sync.WaitGroup
	sendWG.Add(1)
	go func() {
		defer sendWG.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := uint32(0); ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			pl := append([]byte(nil), vp8Delta...)
			if i%10 == 0 {
				pl = append([]byte(nil), vp8Key...)
			}
			pl = binary.BigEndian.AppendUint32(pl, i)
			sentMu.Lock()
			sent[i] = pl
			sentMu.Unlock()
			_ = src.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: uint16(i), Timestamp: i * 3000}, Payload: pl})
		}
	}()
	defer func() { close(stop); sendWG.Wait() }()

	r := waitReceiver(t, recvCh)
	defer r.Close()

	// Subscriber side.
	got := make(chan []byte, 256)
	sub, subClient, dt, readWG := loopbackSubscriber(t, eng, api, r, func(tr *webrtc.TrackRemote) {
		if tr.StreamID() != "PA_p|TR_x" || tr.ID() != "TR_x" {
			t.Errorf("msid %q %q", tr.StreamID(), tr.ID())
		}
	}, func(p *rtp.Packet) {
		select {
		case got <- append([]byte(nil), p.Payload...):
		default:
		}
	})
	defer sub.Close()
	defer dt.Close()
	defer subClient.Close()

	var first []byte
	var lastIdx uint32
	for n := 0; n < 30; n++ {
		var pl []byte
		select {
		case pl = <-got:
		case <-time.After(10 * time.Second):
			t.Fatalf("subscriber received only %d packets", n)
		}
		if len(pl) < 4 {
			t.Fatalf("short payload %x", pl)
		}
		idx := binary.BigEndian.Uint32(pl[len(pl)-4:])
		sentMu.Lock()
		want := sent[idx]
		sentMu.Unlock()
		if !bytes.Equal(pl, want) {
			t.Fatalf("payload %d differs: %x vs %x", idx, pl, want)
		}
		if first == nil {
			first = pl
			if idx%10 != 0 {
				t.Fatalf("subscriber started at %d, not at a keyframe", idx)
			}
		} else if idx <= lastIdx {
			t.Fatalf("out of order: %d after %d", idx, lastIdx)
		}
		lastIdx = idx
	}
	if st := dt.Stats(); st.Packets == 0 || dt.SSRC() == 0 {
		t.Fatalf("downtrack stats %+v ssrc %d", st, dt.SSRC())
	}

	_ = subClient.Close()
	_ = sub.Close()
	_ = pubClient.Close()
	_ = pub.Close()
	readWG.Wait()
	<-dt.RTCPDone()
}

// loopbackPublisher connects a client made by api, publishing one VP8 track, to a new publisher
// PC of eng. OnTrack hands the engine's Receiver to recvCh. The caller closes both PCs (defer
// order matters to goleak, so no t.Cleanup).
func loopbackPublisher(t *testing.T, eng *Engine, api *webrtc.API) (client, pub *webrtc.PeerConnection, src *webrtc.TrackLocalStaticRTP, recvCh chan *Receiver) {
	t.Helper()
	client, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	src, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "v", "s")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.AddTrack(src); err != nil {
		t.Fatal(err)
	}
	pub, err = eng.NewPublisherPC()
	if err != nil {
		t.Fatal(err)
	}
	recvCh = make(chan *Receiver, 1)
	pub.OnTrack(func(tr *webrtc.TrackRemote, rr *webrtc.RTPReceiver) {
		r := eng.NewReceiver(ReceiverOptions{TrackID: "TR_x", Codec: tr.Codec(), PublisherPC: pub})
		r.AddLayer(tr, rr)
		recvCh <- r
	})
	negotiate(t, client, pub)
	return client, pub, src, recvCh
}

// waitReceiver returns the Receiver that loopbackPublisher's OnTrack made.
func waitReceiver(t *testing.T, recvCh <-chan *Receiver) *Receiver {
	t.Helper()
	select {
	case r := <-recvCh:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("publisher OnTrack never fired")
		return nil
	}
}

// loopbackSubscriber sends r's packets through a DownTrack on a new subscriber PC of eng (the
// engine offers) to a client made by api. onTrack runs for each client track; onPacket for every
// packet read, on that track's reader goroutine, until the client closes. The caller closes sub,
// dt and client (in that defer order, for goleak) and then waits for readers.
func loopbackSubscriber(t *testing.T, eng *Engine, api *webrtc.API, r *Receiver, onTrack func(*webrtc.TrackRemote), onPacket func(*rtp.Packet)) (sub, client *webrtc.PeerConnection, dt *DownTrack, readers *sync.WaitGroup) {
	t.Helper()
	sub, err := eng.NewSubscriberPC()
	if err != nil {
		t.Fatal(err)
	}
	codec, _ := CodecCapability(webrtc.MimeTypeVP8)
	dt = NewDownTrack(r, codec, "TR_x", "PA_p|TR_x")
	sender, err := sub.AddTrack(dt)
	if err != nil {
		t.Fatal(err)
	}
	dt.StartRTCP(sender)
	r.AddDownTrack(dt)
	client, err = api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	readers = &sync.WaitGroup{}
	client.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		onTrack(tr)
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				p, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				onPacket(p)
			}
		}()
	})
	negotiate(t, sub, client)
	return sub, client, dt, readers
}
