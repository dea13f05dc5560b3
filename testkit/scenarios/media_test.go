package scenarios

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// Alice publishes VP8 and Opus; Bob auto-subscribes and receives at least 99% of the frames,
// every VP8 frame byte-identical to what Alice sent, on tracks whose msid names Alice's SID.
func TestPublishSubscribeVP8Opus(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	alice := join(ctx, t, node, "r1", "alice", lkclient.Options{})
	bob := join(ctx, t, node, "r1", "bob", lkclient.Options{})

	cam, camSent := publish(ctx, t, alice, webrtc.RTPCodecTypeVideo, 90)
	mic, micSent := publish(ctx, t, alice, webrtc.RTPCodecTypeAudio, 150)
	if !strings.HasPrefix(cam.SID(), "TR_") || !strings.HasPrefix(mic.SID(), "TR_") {
		t.Fatalf("track SIDs %q %q do not start with TR_", cam.SID(), mic.SID())
	}

	rv, err := bob.WaitSubscribed(ctx, cam.SID())
	if err != nil {
		t.Fatalf("bob never got alice's video: %v", err)
	}
	ra, err := bob.WaitSubscribed(ctx, mic.SID())
	if err != nil {
		t.Fatalf("bob never got alice's audio: %v", err)
	}
	video, audio := collect(rv), collect(ra)

	wantStream := alice.SID() + "|" + cam.SID()
	if rv.StreamID != wantStream || rv.TrackID != cam.SID() {
		t.Errorf("video msid = %q %q, want %q %q", rv.StreamID, rv.TrackID, wantStream, cam.SID())
	}
	if rv.PublisherIdentity != "alice" || ra.PublisherIdentity != "alice" {
		t.Errorf("publisher = %q/%q, want alice", rv.PublisherIdentity, ra.PublisherIdentity)
	}
	if rv.Codec.MimeType != webrtc.MimeTypeVP8 || ra.Codec.MimeType != webrtc.MimeTypeOpus {
		t.Errorf("codecs = %s/%s, want VP8/opus", rv.Codec.MimeType, ra.Codec.MimeType)
	}

	nv, na := <-camSent, <-micSent
	settle()
	video.requireDelivery(t, "video", nv-1)
	audio.requireDelivery(t, "audio", na-1)
}
