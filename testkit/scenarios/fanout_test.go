package scenarios

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// One publisher, twenty subscribers: every subscriber gets at least 99% of the frames.
func TestOnePublisherTwentySubscribers(t *testing.T) {
	if testing.Short() {
		t.Skip("20 PeerConnections")
	}
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const subscribers = 20
	subs := make([]*lkclient.Client, subscribers)
	for i := range subs {
		subs[i] = join(ctx, t, node, "big", fmt.Sprintf("sub-%02d", i), lkclient.Options{})
	}
	pub := join(ctx, t, node, "big", "pub", lkclient.Options{})
	cam, sent := publish(ctx, t, pub, webrtc.RTPCodecTypeVideo, 120)

	collectors := make([]*collector, subscribers)
	for i, s := range subs {
		rt, err := s.WaitSubscribed(ctx, cam.SID())
		if err != nil {
			t.Fatalf("%s never got the track: %v", s.Identity(), err)
		}
		collectors[i] = collect(rt)
	}
	last := <-sent - 1
	settle()
	for i, c := range collectors {
		c.requireDelivery(t, subs[i].Identity(), last)
	}
}
