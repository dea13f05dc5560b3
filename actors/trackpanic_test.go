package actors

import (
	"context"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
)

// A panic on a track's forwarder goroutine, which no actor supervises, takes down that track
// only: the track actor is told, stops and the track is unpublished (its subscriber's stream
// ends), while another publisher's track keeps flowing to the same subscriber and the process
// lives on.
//
// The panic is real and on the forwarder: bob's DownTrack of alice's track is bound to a writer
// that panics, so the forwarder's next delivery to it panics inside pion's write call.
func TestForwarderPanicFailsOnlyThatTrack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, tracks := startTrackWatchingNode(t)

	alice := joinTestPeer(ctx, t, n, "trackpanic", "alice")
	defer alice.close()
	carol := joinTestPeer(ctx, t, n, "trackpanic", "carol")
	defer carol.close()
	bob := joinTestPeer(ctx, t, n, "trackpanic", "bob")
	defer bob.close()
	aliceSID := alice.publishAudio(ctx, t)
	carolSID := carol.publishAudio(ctx, t)
	fromAlice, err := bob.waitTrack(ctx, aliceSID)
	if err != nil {
		t.Fatalf("bob never received alice's track: %v", err)
	}
	fromCarol, err := bob.waitTrack(ctx, carolSID)
	if err != nil {
		t.Fatalf("bob never received carol's track: %v", err)
	}
	aliceTrack := "node/rooms/trackpanic/alice/" + aliceSID
	carolTrack := "node/rooms/trackpanic/carol/" + carolSID
	dt := tracks.subscriberDownTrack(aliceTrack, "bob")
	if dt == nil {
		t.Fatalf("track %s lists no DownTrack for bob", aliceTrack)
	}
	params := webrtc.RTPCodecParameters{RTPCodecCapability: dt.Codec(), PayloadType: 111}
	if _, err := dt.Bind(&panicCtx{params: params}); err != nil {
		t.Fatal(err)
	}

	select {
	case <-fromAlice.ended:
	case <-ctx.Done():
		t.Fatal("alice's track was never taken away from bob after its forwarder panicked")
	}
	for {
		if _, running := n.inspector.byID.Load(aliceTrack); !running {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("alice's track actor is still running after its forwarder panicked")
		}
		time.Sleep(10 * time.Millisecond)
	}

	carolDT := tracks.subscriberDownTrack(carolTrack, "bob")
	if carolDT == nil {
		t.Fatal("carol's track lost bob as a subscriber")
	}
	before := carolDT.Stats().Packets
	for carolDT.Stats().Packets < before+25 { // half a second of Opus
		select {
		case <-fromCarol.ended:
			t.Fatal("carol's track to bob ended too")
		case <-ctx.Done():
			t.Fatalf("carol's track stopped flowing: %d packets after the panic", carolDT.Stats().Packets-before)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// panicCtx binds a DownTrack to a writer that panics on every write.
type panicCtx struct{ params webrtc.RTPCodecParameters }

func (c *panicCtx) CodecParameters() []webrtc.RTPCodecParameters {
	return []webrtc.RTPCodecParameters{c.params}
}
func (c *panicCtx) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter { return nil }
func (c *panicCtx) SSRC() webrtc.SSRC                                      { return 4242 }
func (c *panicCtx) WriteStream() webrtc.TrackLocalWriter                   { return panicWriter{} }
func (c *panicCtx) ID() string                                             { return "panic" }
func (c *panicCtx) RTCPReader() interceptor.RTCPReader                     { return nil }

type panicWriter struct{}

func (panicWriter) WriteRTP(*rtp.Header, []byte) (int, error) { panic("injected write panic") }
func (panicWriter) Write([]byte) (int, error)                 { panic("injected write panic") }
