package scenarios

import (
	"context"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/testkit/synth"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// A simulcast publisher (three layers q/h/f on one transceiver) is accepted, and a subscriber
// receives one layer's frames intact.
func TestSimulcastPublisherForwardsOneLayer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	node := testkit.StartNode(t, testkit.Options{})
	alice := join(ctx, t, node, "simulcast", "alice", lkclient.Options{})
	bob := join(ctx, t, node, "simulcast", "bob", lkclient.Options{})

	cam, err := alice.PublishTrack(ctx, lkclient.TrackOptions{Kind: webrtc.RTPCodecTypeVideo, Simulcast: true, Width: 640, Height: 360})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(cam.Info().GetLayers()); n != 3 {
		t.Errorf("published TrackInfo has %d layers, want 3", n)
	}
	sent := make(chan uint64, 1)
	go func() {
		n, _ := synth.Publish(ctx, cam, synth.Options{FPS: 30, Frames: 120})
		sent <- n
	}()
	rt, err := bob.WaitSubscribed(ctx, cam.SID())
	if err != nil {
		t.Fatalf("bob never got the simulcast track: %v", err)
	}
	frames := collect(rt)
	last := <-sent
	settle()
	frames.requireDelivery(t, "simulcast video", last-1)
}
