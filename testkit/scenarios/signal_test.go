package scenarios

import (
	"context"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// Both keep-alive forms answer: the legacy int64 ping gets a pong with the server's time in ms, and
// ping_req gets pong_resp echoing last_ping_timestamp, which the SDKs use to compute RTT.
func TestPingAndPingReq(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	node := testkit.StartNode(t, testkit.Options{})
	alice := join(ctx, t, node, "keepalive", "alice", lkclient.Options{})

	if jr := alice.JoinResponse(); jr.GetPingInterval() <= 0 || jr.GetPingTimeout() <= jr.GetPingInterval() {
		t.Fatalf("join: ping_interval %d s, ping_timeout %d s; want 0 < interval < timeout", jr.GetPingInterval(), jr.GetPingTimeout())
	}

	const legacy = int64(1_700_000_000_123)
	before := time.Now().UnixMilli() // taken before the ping: the server may answer within this millisecond
	if err := alice.SendRequest(&livekit.SignalRequest{Message: &livekit.SignalRequest_Ping{Ping: legacy}}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.WaitSignal(ctx, func(r *livekit.SignalResponse) bool { return r.GetPong() >= before }); err != nil {
		t.Fatalf("no pong (server time in ms) for legacy ping: %v", err)
	}

	const stamp = int64(1_700_000_000_456)
	req := &livekit.SignalRequest{Message: &livekit.SignalRequest_PingReq{PingReq: &livekit.Ping{Timestamp: stamp, Rtt: 12}}}
	if err := alice.SendRequest(req); err != nil {
		t.Fatal(err)
	}
	resp, err := alice.WaitSignal(ctx, func(r *livekit.SignalResponse) bool {
		return r.GetPongResp().GetLastPingTimestamp() == stamp
	})
	if err != nil {
		t.Fatalf("no pong_resp for ping_req %d: %v", stamp, err)
	}
	if ts := resp.GetPongResp().GetTimestamp(); ts < before || ts > time.Now().UnixMilli() {
		t.Errorf("pong_resp timestamp %d is not the server's current time in ms", ts)
	}
}

// A publisher whose audio carries loud ssrc-audio-level values becomes an active speaker for
// everyone in the room; when its audio turns silent, it is reported inactive.
func TestSpeakersChangedFollowsAudioLevel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	node := testkit.StartNode(t, testkit.Options{})
	alice := join(ctx, t, node, "speakers", "alice", lkclient.Options{})
	bob := join(ctx, t, node, "speakers", "bob", lkclient.Options{})

	mic, err := alice.PublishTrack(ctx, lkclient.TrackOptions{Kind: webrtc.RTPCodecTypeAudio, RawRTP: true})
	if err != nil {
		t.Fatal(err)
	}
	extID := mic.AudioLevelExtensionID()
	if extID == 0 {
		t.Fatal("ssrc-audio-level was not negotiated with the node")
	}

	var loud = make(chan bool, 1)
	loud <- true
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		level := uint8(10) // -10 dBov: speech
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111}, Payload: []byte{0xfc, 0xff, 0xfe}}
		for seq := uint16(1); ; seq++ {
			select {
			case <-ctx.Done():
				return
			case l := <-loud:
				if !l {
					level = 127 // silence
				}
			case <-tick.C:
			}
			pkt.SequenceNumber, pkt.Timestamp = seq, uint32(seq)*960
			if err := pkt.Header.SetExtension(extID, []byte{0x80 | level}); err != nil {
				t.Error(err)
				return
			}
			if err := mic.WriteRTP(pkt); err != nil {
				return
			}
		}
	}()

	aliceSID := alice.SID()
	speaking := func(active bool) func(*livekit.SignalResponse) bool {
		return func(r *livekit.SignalResponse) bool {
			for _, s := range r.GetSpeakersChanged().GetSpeakers() {
				if s.GetSid() == aliceSID && s.GetActive() == active && (s.GetLevel() > 0) == active {
					return true
				}
			}
			return false
		}
	}
	for _, c := range []*lkclient.Client{alice, bob} {
		if _, err := c.WaitSignal(ctx, speaking(true)); err != nil {
			t.Fatalf("%s never saw alice speaking: %v", c.Identity(), err)
		}
	}
	loud <- false
	if _, err := bob.WaitSignal(ctx, speaking(false)); err != nil {
		t.Fatalf("bob never saw alice stop speaking: %v", err)
	}
}
