package scenarios

import (
	"context"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// promptly is how long a change may take to reach the other participants: it must travel as a
// signal update, not wait for any timeout.
const promptly = time.Second

func within(t *testing.T, d time.Duration, what string, wait func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := wait(ctx); err != nil {
		t.Fatalf("%s did not happen within %v: %v", what, d, err)
	}
}

// Mute, unmute and unpublish reach the others as ParticipantUpdates; the subscriber's track ends.
func TestMuteAndUnpublishReachOthers(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice := join(ctx, t, node, "life", "alice", lkclient.Options{})
	bob := join(ctx, t, node, "life", "bob", lkclient.Options{})
	cam, _ := publish(ctx, t, alice, webrtc.RTPCodecTypeVideo, 0)
	if _, err := bob.WaitSubscribed(ctx, cam.SID()); err != nil {
		t.Fatal(err)
	}
	trackMuted := func(muted bool) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := bob.WaitPublication(ctx, "alice", func(ti *livekit.TrackInfo) bool { return ti.Sid == cam.SID() && ti.Muted == muted })
			return err
		}
	}
	if err := alice.SetTrackMuted(cam.SID(), true); err != nil {
		t.Fatal(err)
	}
	within(t, promptly, "bob seeing the mute", trackMuted(true))
	if err := alice.SetTrackMuted(cam.SID(), false); err != nil {
		t.Fatal(err)
	}
	within(t, promptly, "bob seeing the unmute", trackMuted(false))

	if err := alice.UnpublishTrack(cam); err != nil {
		t.Fatal(err)
	}
	within(t, promptly, "bob seeing the unpublish", func(ctx context.Context) error {
		return bob.WaitFor(ctx, func() bool {
			p := bob.Participant("alice")
			return p != nil && len(p.Tracks) == 0
		})
	})
	within(t, 5*time.Second, "bob's subscription ending", func(ctx context.Context) error { return bob.WaitUnsubscribed(ctx, cam.SID()) })
	if node.HasActor("/node/rooms/life/alice/" + cam.SID()) {
		t.Error("the unpublished track's actor is still alive")
	}
}

// A leave and an abrupt socket close each reach the others as DISCONNECTED within a second, and
// the participant's actors are gone.
func TestLeaveAndAbruptCloseReachOthers(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bob := join(ctx, t, node, "life", "bob", lkclient.Options{})
	for _, how := range []string{"leave", "abrupt"} {
		c := join(ctx, t, node, "life", "carol-"+how, lkclient.Options{})
		cam, _ := publish(ctx, t, c, webrtc.RTPCodecTypeVideo, 0)
		if _, err := bob.WaitSubscribed(ctx, cam.SID()); err != nil {
			t.Fatal(err)
		}
		var gone *livekit.ParticipantInfo
		bobSaw := func(ctx context.Context) error {
			_, err := bob.WaitSignal(ctx, func(r *livekit.SignalResponse) bool {
				for _, p := range r.GetUpdate().GetParticipants() {
					if p.Identity == c.Identity() && p.State == livekit.ParticipantInfo_DISCONNECTED {
						gone = p
						return true
					}
				}
				return false
			})
			return err
		}
		if how == "leave" {
			if err := c.Leave(); err != nil {
				t.Fatal(err)
			}
		} else {
			c.Close()
		}
		within(t, promptly, how+" reaching bob", bobSaw)
		if gone.Sid != c.SID() {
			t.Errorf("%s: DISCONNECTED update names %s, want %s", how, gone.Sid, c.SID())
		}
		path := "/node/rooms/life/" + c.Identity()
		if err := waitUntil(ctx, func() bool { return !node.HasActor(path) }); err != nil {
			t.Errorf("%s: actors under %s still alive", how, path)
		}
		if err := bob.WaitUnsubscribed(ctx, cam.SID()); err != nil {
			t.Errorf("%s: bob still subscribed to the departed track", how)
		}
	}
}

// Room API calls that touch participants: metadata updates reach everyone, MutePublishedTrack
// tells the publisher, RemoveParticipant disconnects with PARTICIPANT_REMOVED, SendData arrives
// from the server, UpdateSubscriptions unsubscribes and resubscribes.
func TestRoomAPIActsOnParticipants(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rs := node.RoomService(testkit.AdminToken(t, "api"))
	alice := join(ctx, t, node, "api", "alice", lkclient.Options{})
	bob := join(ctx, t, node, "api", "bob", lkclient.Options{})
	cam, _ := publish(ctx, t, alice, webrtc.RTPCodecTypeVideo, 0)
	if _, err := bob.WaitSubscribed(ctx, cam.SID()); err != nil {
		t.Fatal(err)
	}

	info, err := rs.UpdateParticipant(ctx, &livekit.UpdateParticipantRequest{Room: "api", Identity: "alice", Metadata: `{"role":"host"}`, Name: "Alice A."})
	if err != nil || info.Metadata != `{"role":"host"}` || info.Name != "Alice A." {
		t.Fatalf("UpdateParticipant = %v, %v", info, err)
	}
	for _, c := range []*lkclient.Client{alice, bob} {
		if err := c.WaitFor(ctx, func() bool {
			p := c.Participant("alice")
			if c == alice {
				p = alice.LocalParticipant()
			}
			return p != nil && p.Metadata == `{"role":"host"}`
		}); err != nil {
			t.Fatalf("%s never saw alice's new metadata", c.Identity())
		}
	}

	if _, err := rs.SendData(ctx, &livekit.SendDataRequest{Room: "api", Data: []byte("from server"), Kind: livekit.DataPacket_RELIABLE, DestinationIdentities: []string{"bob"}}); err != nil {
		t.Fatal(err)
	}
	d, err := bob.WaitData(ctx, func(d *lkclient.ReceivedData) bool { return string(d.Payload) == "from server" })
	if err != nil || d.Identity != "" {
		t.Fatalf("server data = %v, %v (want empty sender identity)", d, err)
	}

	if _, err := rs.UpdateSubscriptions(ctx, &livekit.UpdateSubscriptionsRequest{Room: "api", Identity: "bob", TrackSids: []string{cam.SID()}, Subscribe: false}); err != nil {
		t.Fatal(err)
	}
	if err := bob.WaitUnsubscribed(ctx, cam.SID()); err != nil {
		t.Fatal("UpdateSubscriptions did not unsubscribe bob")
	}
	if _, err := rs.UpdateSubscriptions(ctx, &livekit.UpdateSubscriptionsRequest{Room: "api", Identity: "bob", Subscribe: true,
		ParticipantTracks: []*livekit.ParticipantTracks{{ParticipantSid: alice.SID(), TrackSids: []string{cam.SID()}}}}); err != nil {
		t.Fatal(err)
	}
	if err := waitUntil(ctx, func() bool { rt := bob.RemoteTrack(cam.SID()); return rt != nil && rt.Stats().Packets > 0 }); err != nil {
		t.Fatal("UpdateSubscriptions(participant_tracks) did not resubscribe bob")
	}

	// Muting last: the publisher stops sending while muted.
	if _, err := rs.MutePublishedTrack(ctx, &livekit.MuteRoomTrackRequest{Room: "api", Identity: "alice", TrackSid: cam.SID(), Muted: true}); err != nil {
		t.Fatalf("MutePublishedTrack: %v", err)
	}
	if _, err := alice.WaitSignal(ctx, func(r *livekit.SignalResponse) bool {
		return r.GetMute().GetSid() == cam.SID() && r.GetMute().GetMuted()
	}); err != nil {
		t.Fatal("alice was not told to mute")
	}
	if _, err := bob.WaitPublication(ctx, "alice", func(ti *livekit.TrackInfo) bool { return ti.Sid == cam.SID() && ti.Muted }); err != nil {
		t.Fatal("bob never saw the remote mute")
	}
	if _, err := rs.MutePublishedTrack(ctx, &livekit.MuteRoomTrackRequest{Room: "api", Identity: "alice", TrackSid: cam.SID(), Muted: false}); twirpCode(err) != "failed_precondition" {
		t.Fatalf("remote unmute = %v, want failed_precondition", err)
	}

	if _, err := rs.RemoveParticipant(ctx, &livekit.RoomParticipantIdentity{Room: "api", Identity: "bob"}); err != nil {
		t.Fatal(err)
	}
	leave, err := bob.WaitDone(ctx)
	if err != nil || leave.GetReason() != livekit.DisconnectReason_PARTICIPANT_REMOVED {
		t.Fatalf("bob's leave = %v, %v", leave, err)
	}
	if _, err := rs.RemoveParticipant(ctx, &livekit.RoomParticipantIdentity{Room: "api", Identity: "bob"}); twirpCode(err) != "not_found" {
		t.Fatalf("removing bob twice = %v, want not_found", err)
	}
}

// A second join with the same identity replaces the first, which is told DUPLICATE_IDENTITY.
func TestDuplicateIdentityKicksOldSession(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	first := join(ctx, t, node, "dup", "alice", lkclient.Options{})
	second := join(ctx, t, node, "dup", "alice", lkclient.Options{})
	leave, err := first.WaitDone(ctx)
	if err != nil || leave.GetReason() != livekit.DisconnectReason_DUPLICATE_IDENTITY {
		t.Fatalf("first session's leave = %v, %v", leave, err)
	}
	parts, err := node.ListParticipants(ctx, "dup")
	if err != nil || len(parts) != 1 || parts[0].Sid != second.SID() {
		t.Fatalf("participants = %v, %v", parts, err)
	}
}

// A panic in one participant's actor disconnects that participant only; the others get the
// DISCONNECTED update and media between them keeps flowing.
func TestParticipantPanicIsIsolated(t *testing.T) {
	node, faults := startFaultyNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice := join(ctx, t, node, "iso", "alice", lkclient.Options{})
	bob := join(ctx, t, node, "iso", "bob", lkclient.Options{})
	mallory := join(ctx, t, node, "iso", "mallory", lkclient.Options{})
	cam, _ := publish(ctx, t, alice, webrtc.RTPCodecTypeVideo, 0)
	rt, err := bob.WaitSubscribed(ctx, cam.SID())
	if err != nil {
		t.Fatal(err)
	}
	if err := faults.panicAt("/node/rooms/iso/mallory"); err != nil {
		t.Fatal(err)
	}
	if _, err := mallory.WaitDone(ctx); err != nil {
		t.Fatal("mallory was not disconnected")
	}
	if err := bob.WaitParticipantGone(ctx, "mallory"); err != nil {
		t.Fatal("bob never learned mallory left")
	}
	before := rt.Stats().Packets
	if err := rt.WaitPackets(ctx, before+30); err != nil {
		t.Fatalf("media alice→bob stopped after mallory's failure: %v", err)
	}
}

// A panic in a track actor unpublishes that track only.
func TestTrackPanicUnpublishesOnlyThatTrack(t *testing.T) {
	node, faults := startFaultyNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice := join(ctx, t, node, "iso", "alice", lkclient.Options{})
	bob := join(ctx, t, node, "iso", "bob", lkclient.Options{})
	cam, _ := publish(ctx, t, alice, webrtc.RTPCodecTypeVideo, 0)
	mic, _ := publish(ctx, t, alice, webrtc.RTPCodecTypeAudio, 0)
	if _, err := bob.WaitSubscribed(ctx, cam.SID()); err != nil {
		t.Fatal(err)
	}
	ra, err := bob.WaitSubscribed(ctx, mic.SID())
	if err != nil {
		t.Fatal(err)
	}
	if err := faults.panicAt("/node/rooms/iso/alice/" + cam.SID()); err != nil {
		t.Fatal(err)
	}
	if err := bob.WaitUnsubscribed(ctx, cam.SID()); err != nil {
		t.Fatal("bob still subscribed to the failed track")
	}
	if err := bob.WaitFor(ctx, func() bool {
		p := bob.Participant("alice")
		return p != nil && len(p.Tracks) == 1 && p.Tracks[0].Sid == mic.SID()
	}); err != nil {
		t.Fatal("bob's view of alice's tracks is wrong after the track failure")
	}
	before := ra.Stats().Packets
	if err := ra.WaitPackets(ctx, before+20); err != nil {
		t.Fatalf("alice's audio stopped: %v", err)
	}
}

// The seed's JSON flow: text frames carry join, offer, answer and trickle as protojson.
func TestJSONTextFrames(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	alice := join(ctx, t, node, "json", "alice", lkclient.Options{JSON: true})
	bob := join(ctx, t, node, "json", "bob", lkclient.Options{JSON: true, BearerHeader: true})
	cam, _ := publish(ctx, t, alice, webrtc.RTPCodecTypeVideo, 0)
	rt, err := bob.WaitSubscribed(ctx, cam.SID())
	if err != nil {
		t.Fatalf("JSON clients could not publish/subscribe: %v", err)
	}
	if err := rt.WaitPackets(ctx, 30); err != nil {
		t.Fatal(err)
	}
}
