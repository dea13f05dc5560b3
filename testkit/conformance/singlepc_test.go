package conformance

import (
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
)

// TestSinglePeerConnection: alice and bob connect with WithSinglePeerConnection (join_request on
// /rtc, one PC each), carol with the default two PCs. Alice publishes VP8 and Opus after joining
// (add_track and a new offer on her one PC); bob, subscribed on his one PC, and carol both
// reassemble frames byte-identical to the published clips.
func TestSinglePeerConnection(t *testing.T) {
	vclip, err := loadIVF(ivfPath)
	if err != nil {
		t.Fatal(err)
	}
	aclip, err := loadOgg(oggPath)
	if err != nil {
		t.Fatal(err)
	}
	bob := newSubscriber(30, 100)
	join(t, "single-pc", "bob", bob.callback(vclip, aclip), lksdk.WithSinglePeerConnection())
	carol := newSubscriber(30, 100)
	join(t, "single-pc", "carol", carol.callback(vclip, aclip))
	alice := join(t, "single-pc", "alice", nil, lksdk.WithSinglePeerConnection())
	publishClips(t, alice, true)

	for name, s := range map[string]*subscriber{"bob (single PC)": bob, "carol (two PCs)": carol} {
		waitChan(t, s.video.enough, 20*time.Second, name+" to receive 30 identical VP8 frames incl. a keyframe")
		waitChan(t, s.audio.enough, 20*time.Second, name+" to receive 100 identical Opus packets")
		vm, vk, vc, _ := s.video.snapshot()
		am, _, ac, _ := s.audio.snapshot()
		t.Logf("%s: %d VP8 frames identical (%d keyframes), %d Opus packets identical", name, vm, vk, am)
		if vc != 0 || ac != 0 {
			t.Errorf("%s: %d VP8 frames and %d Opus packets equal no published one", name, vc, ac)
		}
		s.mu.Lock()
		if len(s.pubs) != 2 || s.from[livekit.TrackType_VIDEO] != "alice" || s.from[livekit.TrackType_AUDIO] != "alice" {
			t.Errorf("%s: subscribed to %d publications from %v, want alice's two", name, len(s.pubs), s.from)
		}
		s.mu.Unlock()
	}
}
