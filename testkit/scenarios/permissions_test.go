package scenarios

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport/auth"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// setPermission sends a publisher's subscription_permission.
func setPermission(t *testing.T, c *lkclient.Client, perm *livekit.SubscriptionPermission) {
	t.Helper()
	if err := c.SendRequest(&livekit.SignalRequest{Message: &livekit.SignalRequest_SubscriptionPermission{SubscriptionPermission: perm}}); err != nil {
		t.Fatal(err)
	}
}

// waitPermissionUpdate waits for the n-th subscription_permission_update about track (counting
// from 1) and returns its allowed flag.
func waitPermissionUpdate(ctx context.Context, t *testing.T, c *lkclient.Client, track string, n int) bool {
	t.Helper()
	var last *livekit.SubscriptionPermissionUpdate
	err := c.WaitFor(ctx, func() bool {
		seen := 0
		for _, s := range c.Signals() {
			if u := s.GetSubscriptionPermissionUpdate(); u != nil && u.GetTrackSid() == track {
				if seen++; seen == n {
					last = u
					return true
				}
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("%s: subscription_permission_update #%d for %s never came: %v", c.Identity(), n, track, err)
	}
	return last.GetAllowed()
}

// trackSubscribedSent reports whether c was told that track has a subscriber.
func trackSubscribedSent(c *lkclient.Client, track string) bool {
	for _, s := range c.Signals() {
		if s.GetTrackSubscribed().GetTrackSid() == track {
			return true
		}
	}
	return false
}

// A publisher that allows nobody keeps its track from an auto-subscribing participant: the
// subscriber hears allowed=false and receives no media, and the publisher gets no
// track_subscribed. Allowing the subscriber (by sid, for that track) subscribes it and media
// flows, and the publisher hears track_subscribed; revoking removes the subscription, and not one
// packet of the track reaches the subscriber afterwards.
func TestSubscriptionPermissionDenyAllowRevoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	node := testkit.StartNode(t, testkit.Options{})
	alice := join(ctx, t, node, "perm", "alice", lkclient.Options{})
	setPermission(t, alice, &livekit.SubscriptionPermission{AllParticipants: false})
	cam, _ := publish(ctx, t, alice, webrtc.RTPCodecTypeVideo, 0)

	var packets, revokedAt atomic.Int64
	var afterRevoke atomic.Int64
	bob := join(ctx, t, node, "perm", "bob", lkclient.Options{Handlers: lkclient.Handlers{
		OnRTP: func(rt *lkclient.RemoteTrack, _ *rtp.Packet) {
			if rt.TrackSID != cam.SID() {
				return
			}
			packets.Add(1)
			if at := revokedAt.Load(); at != 0 && time.Now().UnixNano() > at {
				afterRevoke.Add(1)
			}
		},
	}})

	if waitPermissionUpdate(ctx, t, bob, cam.SID(), 1) {
		t.Fatal("bob was told he may subscribe, but alice allows nobody")
	}
	if err := bob.UpdateSubscription([]string{cam.SID()}, nil, true); err != nil { // asking explicitly changes nothing
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if rt := bob.RemoteTrack(cam.SID()); rt != nil || packets.Load() != 0 {
		t.Fatalf("bob is denied but receives %s (%d packets)", cam.SID(), packets.Load())
	}
	if trackSubscribedSent(alice, cam.SID()) {
		t.Fatal("alice got track_subscribed while nobody may subscribe")
	}

	setPermission(t, alice, &livekit.SubscriptionPermission{TrackPermissions: []*livekit.TrackPermission{
		{ParticipantSid: bob.SID(), TrackSids: []string{cam.SID()}},
	}})
	if !waitPermissionUpdate(ctx, t, bob, cam.SID(), 2) {
		t.Fatal("bob's second permission update still says denied")
	}
	rt, err := bob.WaitSubscribed(ctx, cam.SID())
	if err != nil {
		t.Fatalf("allowed, bob never subscribed: %v", err)
	}
	if err := rt.WaitPackets(ctx, 30); err != nil {
		t.Fatal(err)
	}
	if err := alice.WaitFor(ctx, func() bool { return trackSubscribedSent(alice, cam.SID()) }); err != nil {
		t.Fatalf("alice never got track_subscribed for %s: %v", cam.SID(), err)
	}

	setPermission(t, alice, &livekit.SubscriptionPermission{TrackPermissions: []*livekit.TrackPermission{
		{ParticipantIdentity: "carol", AllTracks: true},
	}})
	if waitPermissionUpdate(ctx, t, bob, cam.SID(), 3) {
		t.Fatal("bob's third permission update says allowed after the revocation")
	}
	// Packets already on the wire when the update was sent may still land; nothing after.
	revokedAt.Store(time.Now().Add(300 * time.Millisecond).UnixNano())
	if err := bob.WaitUnsubscribed(ctx, cam.SID()); err != nil {
		t.Fatalf("revoked, bob's subscription stays: %v", err)
	}
	before := packets.Load()
	time.Sleep(1500 * time.Millisecond)
	if n := afterRevoke.Load(); n > 0 {
		t.Fatalf("%d packets of %s reached bob after the revocation (%d in all)", n, cam.SID(), packets.Load())
	}
	t.Logf("bob received %d packets while allowed, %d after the revocation", before, afterRevoke.Load())
}

// A subscription to a track nobody publishes is answered with subscription_response
// TRACK_NOTFOUND; a publisher allowing everyone lets an auto-subscriber receive its track
// (allowed=true); a recorder bypasses the permission.
func TestSubscriptionResponseAndAllowAll(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	node := testkit.StartNode(t, testkit.Options{})
	alice := join(ctx, t, node, "perm2", "alice", lkclient.Options{})
	setPermission(t, alice, &livekit.SubscriptionPermission{AllParticipants: true})
	mic, _ := publish(ctx, t, alice, webrtc.RTPCodecTypeAudio, 0)
	bob := join(ctx, t, node, "perm2", "bob", lkclient.Options{})

	if !waitPermissionUpdate(ctx, t, bob, mic.SID(), 1) {
		t.Fatal("alice allows everyone, bob was told he may not subscribe")
	}
	rt, err := bob.WaitSubscribed(ctx, mic.SID())
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.WaitPackets(ctx, 20); err != nil {
		t.Fatal(err)
	}

	if err := bob.UpdateSubscription([]string{"TR_nosuchtrack"}, nil, true); err != nil {
		t.Fatal(err)
	}
	res, err := bob.WaitSignal(ctx, func(s *livekit.SignalResponse) bool { return s.GetSubscriptionResponse() != nil })
	if err != nil {
		t.Fatalf("no subscription_response for an unknown track: %v", err)
	}
	if r := res.GetSubscriptionResponse(); r.GetTrackSid() != "TR_nosuchtrack" || r.GetErr() != livekit.SubscriptionError_SE_TRACK_NOTFOUND {
		t.Fatalf("subscription_response = %v, want TR_nosuchtrack SE_TRACK_NOTFOUND", r)
	}

	// Nobody allowed now; a recorder still receives the track.
	setPermission(t, alice, &livekit.SubscriptionPermission{})
	if waitPermissionUpdate(ctx, t, bob, mic.SID(), 2) {
		t.Fatal("bob still allowed after alice allowed nobody")
	}
	if err := bob.WaitUnsubscribed(ctx, mic.SID()); err != nil {
		t.Fatal(err)
	}
	rec, err := testkit.Join(ctx, node.WSURL, testkit.Token(t, "perm2", "rec", &auth.VideoGrant{Recorder: true}), lkclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rec.Close)
	rrt, err := rec.WaitSubscribed(ctx, mic.SID())
	if err != nil {
		t.Fatalf("the recorder was kept from the track: %v", err)
	}
	if err := rrt.WaitPackets(ctx, 20); err != nil {
		t.Fatal(err)
	}
}

// A per-track permission lets the subscriber receive the listed track only; an identity-wide
// all_tracks entry lets another receive both. Nobody else gets anything.
func TestSubscriptionPermissionPerTrack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	node := testkit.StartNode(t, testkit.Options{})
	alice := join(ctx, t, node, "pertrack", "alice", lkclient.Options{})
	mic, _ := publish(ctx, t, alice, webrtc.RTPCodecTypeAudio, 0)
	cam, _ := publish(ctx, t, alice, webrtc.RTPCodecTypeVideo, 0)
	setPermission(t, alice, &livekit.SubscriptionPermission{TrackPermissions: []*livekit.TrackPermission{
		{ParticipantIdentity: "bob", TrackSids: []string{cam.SID()}},
		{ParticipantIdentity: "carol", AllTracks: true},
	}})
	time.Sleep(300 * time.Millisecond) // the permission is in place before anyone joins
	bob := join(ctx, t, node, "pertrack", "bob", lkclient.Options{})
	carol := join(ctx, t, node, "pertrack", "carol", lkclient.Options{})
	dave := join(ctx, t, node, "pertrack", "dave", lkclient.Options{})

	allowed := []struct {
		c   *lkclient.Client
		sid string
	}{{bob, cam.SID()}, {carol, cam.SID()}, {carol, mic.SID()}}
	for _, a := range allowed {
		rt, err := a.c.WaitSubscribed(ctx, a.sid)
		if err != nil {
			t.Fatalf("%s never received %s: %v", a.c.Identity(), a.sid, err)
		}
		if err := rt.WaitPackets(ctx, 10); err != nil {
			t.Fatal(err)
		}
	}
	if waitPermissionUpdate(ctx, t, bob, mic.SID(), 1) || waitPermissionUpdate(ctx, t, dave, cam.SID(), 1) {
		t.Fatal("a subscriber without permission was told it may subscribe")
	}
	time.Sleep(500 * time.Millisecond)
	if bob.RemoteTrack(mic.SID()) != nil {
		t.Fatal("bob may receive only the camera, but receives the microphone")
	}
	if n := len(dave.RemoteTracks()); n != 0 {
		t.Fatalf("dave may receive nothing, but receives %d tracks", n)
	}
}
