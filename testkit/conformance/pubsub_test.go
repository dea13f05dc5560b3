package conformance

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
)

// publisher is a participant publishing the VP8 and Opus test clips.
type publisher struct {
	room         *lksdk.Room
	video, audio *looper
	vclip, aclip *clip
}

// publishClips publishes the IVF as a camera track and the Ogg as a
// microphone track from room, writing them in loops until the test ends.
func publishClips(t *testing.T, room *lksdk.Room, audio bool) *publisher {
	t.Helper()
	p := &publisher{room: room}
	var err error
	if p.vclip, err = loadIVF(ivfPath); err != nil {
		t.Fatal(err)
	}
	if p.video, err = newLooper(p.vclip, webrtc.MimeTypeVP8, 90000, 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	if _, err := room.LocalParticipant.PublishTrack(p.video.track, &lksdk.TrackPublicationOptions{
		Name: "cam", Source: livekit.TrackSource_CAMERA, VideoWidth: 320, VideoHeight: 240,
	}); err != nil {
		t.Fatalf("PublishTrack(VP8): %v", err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); p.video.run(ctx) }()
	if !audio {
		return p
	}
	if p.aclip, err = loadOgg(oggPath); err != nil {
		t.Fatal(err)
	}
	if p.audio, err = newLooper(p.aclip, webrtc.MimeTypeOpus, 48000, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := room.LocalParticipant.PublishTrack(p.audio.track, &lksdk.TrackPublicationOptions{
		Name: "mic", Source: livekit.TrackSource_MICROPHONE,
	}); err != nil {
		t.Fatalf("PublishTrack(Opus): %v", err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); p.audio.run(ctx) }()
	return p
}

// subscriber collects what one participant receives from a publisher.
type subscriber struct {
	video, audio *received
	mu           sync.Mutex
	pubs         map[livekit.TrackType]*lksdk.RemoteTrackPublication
	from         map[livekit.TrackType]string
	subscribedAt time.Time
}

// callback returns a RoomCallback that checks the clips' tracks byte for byte.
func (s *subscriber) callback(vclip, aclip *clip) *lksdk.RoomCallback {
	cb := lksdk.NewRoomCallback()
	cb.OnTrackSubscribed = func(track *webrtc.TrackRemote, pub *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
		s.mu.Lock()
		kind := pub.TrackInfo().GetType()
		s.pubs[kind], s.from[kind] = pub, rp.Identity()
		if s.subscribedAt.IsZero() {
			s.subscribedAt = time.Now()
		}
		s.mu.Unlock()
		switch {
		case strings.EqualFold(track.Codec().MimeType, webrtc.MimeTypeVP8):
			go readVP8(track, vclip, s.video)
		case strings.EqualFold(track.Codec().MimeType, webrtc.MimeTypeOpus) && aclip != nil:
			go readOpus(track, aclip, s.audio)
		}
	}
	return cb
}

func newSubscriber(wantFrames, wantPackets int) *subscriber {
	return &subscriber{
		video: newReceived(wantFrames), audio: newReceived(wantPackets),
		pubs: map[livekit.TrackType]*lksdk.RemoteTrackPublication{}, from: map[livekit.TrackType]string{},
	}
}

// TestPublishSubscribeVP8Opus: bob is in the room when alice publishes VP8
// and Opus; every frame bob reassembles equals a published frame byte for
// byte, and the publications describe the tracks correctly.
func TestPublishSubscribeVP8Opus(t *testing.T) {
	vclip, err := loadIVF(ivfPath)
	if err != nil {
		t.Fatal(err)
	}
	aclip, err := loadOgg(oggPath)
	if err != nil {
		t.Fatal(err)
	}
	bob := newSubscriber(30, 100)
	join(t, "media", "bob", bob.callback(vclip, aclip))
	alice := join(t, "media", "alice", nil)
	start := time.Now()
	pub := publishClips(t, alice, true)

	waitChan(t, bob.video.enough, 20*time.Second, "bob to receive 30 identical VP8 frames incl. a keyframe")
	waitChan(t, bob.audio.enough, 20*time.Second, "bob to receive 100 identical Opus packets")

	vm, vk, vc, vp := bob.video.snapshot()
	am, _, ac, ap := bob.audio.snapshot()
	t.Logf("video: %d frames identical (%d keyframes), %d corrupt, %d RTP packets, first frame after %v (keyframe first: %v), publisher saw %d PLI/FIR",
		vm, vk, vc, vp, bob.video.firstAt.Sub(start).Round(time.Millisecond), bob.video.firstKey, pub.video.plis.Load())
	t.Logf("audio: %d packets identical, %d differing, %d RTP packets", am, ac, ap)
	if vc != 0 || ac != 0 {
		t.Errorf("payload mismatch: %d VP8 frames and %d Opus packets equal no published one", vc, ac)
	}

	bob.mu.Lock()
	defer bob.mu.Unlock()
	for kind, want := range map[livekit.TrackType]struct {
		mime   string
		source livekit.TrackSource
		name   string
	}{
		livekit.TrackType_VIDEO: {"video/vp8", livekit.TrackSource_CAMERA, "cam"},
		livekit.TrackType_AUDIO: {"audio/opus", livekit.TrackSource_MICROPHONE, "mic"},
	} {
		p := bob.pubs[kind]
		if p == nil {
			t.Fatalf("no %v publication subscribed", kind)
		}
		if !strings.HasPrefix(p.SID(), "TR_") || !strings.EqualFold(p.MimeType(), want.mime) || p.Source() != want.source || p.Name() != want.name || bob.from[kind] != "alice" {
			t.Errorf("%v publication: sid %q mime %q source %v name %q from %q; want TR_…, %s, %v, %q from alice",
				kind, p.SID(), p.MimeType(), p.Source(), p.Name(), bob.from[kind], want.mime, want.source, want.name)
		}
	}
	if info := bob.pubs[livekit.TrackType_VIDEO].TrackInfo(); info.Width != 320 || info.Height != 240 {
		t.Errorf("video TrackInfo %dx%d, want 320x240", info.Width, info.Height)
	}
}
