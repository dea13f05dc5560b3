package actors

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/actors/media"
)

// fuzzEngine starts a loopback media engine for the SDP fuzz targets.
func fuzzEngine(f *testing.F) *media.Engine {
	f.Helper()
	e, err := media.NewEngine(media.Config{BindIP: "127.0.0.1", LoopbackOnly: true}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = e.Close() })
	return e
}

// clientOffer makes an offer like a publishing client's: audio, video and a data channel.
func clientOffer(f *testing.F) (*webrtc.PeerConnection, string) {
	f.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		f.Fatal(err)
	}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			f.Fatal(err)
		}
	}
	if _, err := pc.CreateDataChannel("_reliable", nil); err != nil {
		f.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		f.Fatal(err)
	}
	return pc, offer.SDP
}

// FuzzPublisherOffer runs the participant's publisher-offer path (checkSDP, then answerOffer on a
// fresh publisher PeerConnection) on arbitrary SDP. Every outcome must be an answer or an error.
func FuzzPublisherOffer(f *testing.F) {
	engine := fuzzEngine(f)
	client, offer := clientOffer(f)
	_ = client.Close()
	f.Add(offer)
	f.Add(strings.Replace(offer, "a=sendonly", "a=inactive", 1))
	f.Add("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n")
	f.Add("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n")
	f.Add("garbage")
	f.Fuzz(func(t *testing.T, sdp string) {
		if checkSDP(sdp, 34) != nil {
			return
		}
		pc, err := engine.NewPublisherPC()
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = pc.Close() }()
		answer, err := answerOffer(pc, sdp)
		if err == nil && answer.SDP == "" {
			t.Fatal("empty answer without an error")
		}
	})
}

// FuzzSubscriberAnswer applies arbitrary SDP as the client's answer to a subscriber offer with a
// data channel, as applyAnswer does in the participant.
func FuzzSubscriberAnswer(f *testing.F) {
	engine := fuzzEngine(f)
	// A real answer as seed: a client PeerConnection answers a subscriber offer.
	sub, err := engine.NewSubscriberPC()
	if err != nil {
		f.Fatal(err)
	}
	if _, err := sub.CreateDataChannel("_reliable", nil); err != nil {
		f.Fatal(err)
	}
	offer, err := sub.CreateOffer(nil)
	if err != nil {
		f.Fatal(err)
	}
	_ = sub.Close()
	client, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		f.Fatal(err)
	}
	if err := client.SetRemoteDescription(offer); err != nil {
		f.Fatal(err)
	}
	answer, err := client.CreateAnswer(nil)
	if err != nil {
		f.Fatal(err)
	}
	_ = client.Close()
	f.Add(answer.SDP)
	f.Add(strings.Replace(answer.SDP, "a=setup:active", "a=setup:actpass", 1))
	f.Add("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n")
	f.Add("")

	f.Fuzz(func(t *testing.T, sdp string) {
		pc, err := engine.NewSubscriberPC()
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = pc.Close() }()
		if _, err := pc.CreateDataChannel("_reliable", nil); err != nil {
			t.Fatal(err)
		}
		offer, err := pc.CreateOffer(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := pc.SetLocalDescription(offer); err != nil {
			t.Fatal(err)
		}
		_ = applyAnswer(pc, sdp)
	})
}
