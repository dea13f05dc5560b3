package conformance

import (
	"context"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
)

// TestParticipantEvents: alice sees bob connect and leave; bob sees alice from
// the join response; the Room API lists, updates, mutes and removes them.
func TestParticipantEvents(t *testing.T) {
	connected := make(chan string, 4)
	disconnected := make(chan string, 4)
	muted := make(chan string, 4)
	metadata := make(chan string, 4)
	acb := lksdk.NewRoomCallback()
	acb.OnParticipantConnected = func(rp *lksdk.RemoteParticipant) { connected <- rp.Identity() }
	acb.OnParticipantDisconnected = func(rp *lksdk.RemoteParticipant) { disconnected <- rp.Identity() }
	acb.OnTrackMuted = func(pub lksdk.TrackPublication, p lksdk.Participant) { muted <- p.Identity() + "/" + pub.Name() }
	acb.OnMetadataChanged = func(_ string, p lksdk.Participant) { metadata <- p.Identity() + "=" + p.Metadata() }
	alice := join(t, "events", "alice", acb)

	removed := make(chan lksdk.DisconnectionReason, 1)
	bcb := lksdk.NewRoomCallback()
	bcb.OnDisconnectedWithReason = func(r lksdk.DisconnectionReason) { removed <- r }
	bob := join(t, "events", "bob", bcb)

	if id := waitChan(t, connected, 10*time.Second, "alice: ParticipantConnected(bob)"); id != "bob" {
		t.Fatalf("ParticipantConnected(%q), want bob", id)
	}
	if rp := bob.GetParticipantByIdentity("alice"); rp == nil || rp.SID() != alice.LocalParticipant.SID() {
		t.Fatalf("bob does not know alice from the join response: %v", rp)
	}

	// bob publishes audio; the Room API sees it and mutes it remotely.
	aclip, err := loadOgg(oggPath)
	if err != nil {
		t.Fatal(err)
	}
	mic, err := newLooper(aclip, webrtc.MimeTypeOpus, 48000, 2)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go mic.run(ctx)
	micPub, err := bob.LocalParticipant.PublishTrack(mic.track, &lksdk.TrackPublicationOptions{Name: "mic", Source: livekit.TrackSource_MICROPHONE})
	if err != nil {
		t.Fatalf("PublishTrack: %v", err)
	}
	rc := roomClient()
	api := testCtx(t, 20*time.Second)
	eventually(t, 10*time.Second, "ListParticipants to show bob's track", func() bool {
		res, err := rc.ListParticipants(api, &livekit.ListParticipantsRequest{Room: "events"})
		if err != nil || len(res.Participants) != 2 {
			return false
		}
		for _, p := range res.Participants {
			if p.Identity == "bob" && len(p.Tracks) == 1 && p.Tracks[0].Sid == micPub.SID() {
				return true
			}
		}
		return false
	})
	info, err := rc.GetParticipant(api, &livekit.RoomParticipantIdentity{Room: "events", Identity: "bob"})
	if err != nil || info.Sid != bob.LocalParticipant.SID() || info.State != livekit.ParticipantInfo_ACTIVE {
		t.Fatalf("GetParticipant(bob) = %v, %v; want sid %s ACTIVE", info, err, bob.LocalParticipant.SID())
	}
	if _, err := rc.UpdateParticipant(api, &livekit.UpdateParticipantRequest{Room: "events", Identity: "bob", Metadata: "hello"}); err != nil {
		t.Fatalf("UpdateParticipant: %v", err)
	}
	if got := waitChan(t, metadata, 5*time.Second, "alice: bob's metadata change"); got != "bob=hello" {
		t.Errorf("metadata change %q, want bob=hello", got)
	}
	if _, err := rc.MutePublishedTrack(api, &livekit.MuteRoomTrackRequest{Room: "events", Identity: "bob", TrackSid: micPub.SID(), Muted: true}); err != nil {
		t.Fatalf("MutePublishedTrack: %v", err)
	}
	if got := waitChan(t, muted, 5*time.Second, "alice: TrackMuted(bob/mic)"); got != "bob/mic" {
		t.Errorf("TrackMuted %q, want bob/mic", got)
	}
	eventually(t, 5*time.Second, "bob's own publication to be muted", micPub.IsMuted)

	// RemoveParticipant disconnects bob with a reason; alice sees him leave.
	if _, err := rc.RemoveParticipant(api, &livekit.RoomParticipantIdentity{Room: "events", Identity: "bob"}); err != nil {
		t.Fatalf("RemoveParticipant: %v", err)
	}
	if r := waitChan(t, removed, 10*time.Second, "bob: disconnected"); r != lksdk.ParticipantRemoved {
		t.Errorf("bob disconnected with %q, want %q", r, lksdk.ParticipantRemoved)
	}
	if id := waitChan(t, disconnected, 10*time.Second, "alice: ParticipantDisconnected(bob)"); id != "bob" {
		t.Fatalf("ParticipantDisconnected(%q), want bob", id)
	}

	// A voluntary leave is seen the same way.
	join(t, "events", "carol", nil).Disconnect()
	if id := waitChan(t, connected, 10*time.Second, "alice: ParticipantConnected(carol)"); id != "carol" {
		t.Fatalf("ParticipantConnected(%q), want carol", id)
	}
	if id := waitChan(t, disconnected, 10*time.Second, "alice: ParticipantDisconnected(carol)"); id != "carol" {
		t.Fatalf("ParticipantDisconnected(%q), want carol", id)
	}
}
