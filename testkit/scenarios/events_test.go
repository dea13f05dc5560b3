package scenarios

import (
	"context"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport/auth"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// A client of protocol ≥ 15 gets request_response OK, naming its request, for an update_metadata
// that succeeded; one that is refused gets NOT_ALLOWED instead, never OK.
func TestRequestResponseOKForMetadata(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	node := testkit.StartNode(t, testkit.Options{})
	yes := true
	alice, err := testkit.Join(ctx, node.WSURL, testkit.Token(t, "rr", "alice", &auth.VideoGrant{CanUpdateOwnMetadata: &yes}), lkclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(alice.Close)
	bob := join(ctx, t, node, "rr", "bob", lkclient.Options{})

	if err := alice.UpdateMetadata(&livekit.UpdateParticipantMetadata{Metadata: "m1", RequestId: 41}); err != nil {
		t.Fatal(err)
	}
	res, err := alice.WaitSignal(ctx, func(s *livekit.SignalResponse) bool { return s.GetRequestResponse().GetRequestId() == 41 })
	if err != nil {
		t.Fatalf("no request_response for update_metadata 41: %v", err)
	}
	if rr := res.GetRequestResponse(); rr.GetReason() != livekit.RequestResponse_OK || rr.GetUpdateMetadata().GetMetadata() != "m1" {
		t.Fatalf("request_response = %v, want OK echoing the request", rr)
	}
	if _, err := bob.WaitParticipant(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := bob.WaitFor(ctx, func() bool { return bob.Participant("alice").GetMetadata() == "m1" }); err != nil {
		t.Fatalf("bob never saw alice's new metadata: %v", err)
	}

	if err := bob.UpdateMetadata(&livekit.UpdateParticipantMetadata{Metadata: "nope", RequestId: 42}); err != nil {
		t.Fatal(err)
	}
	res, err = bob.WaitSignal(ctx, func(s *livekit.SignalResponse) bool { return s.GetRequestResponse().GetRequestId() == 42 })
	if err != nil {
		t.Fatal(err)
	}
	if res.GetRequestResponse().GetReason() != livekit.RequestResponse_NOT_ALLOWED {
		t.Fatalf("bob may not update his metadata, got %v", res.GetRequestResponse())
	}
}

// When the Room API takes away a publisher's right to publish, the node unpublishes its track:
// the publisher gets track_unpublished, and the subscriber loses the track.
func TestTrackUnpublishedWhenPermissionRevoked(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	node := testkit.StartNode(t, testkit.Options{})
	alice := join(ctx, t, node, "unpub", "alice", lkclient.Options{})
	bob := join(ctx, t, node, "unpub", "bob", lkclient.Options{})
	cam, _ := publish(ctx, t, alice, webrtc.RTPCodecTypeVideo, 0)
	rt, err := bob.WaitSubscribed(ctx, cam.SID())
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.WaitPackets(ctx, 20); err != nil {
		t.Fatal(err)
	}

	_, err = node.RoomService(testkit.AdminToken(t, "unpub")).UpdateParticipant(ctx, &livekit.UpdateParticipantRequest{
		Room: "unpub", Identity: "alice", Permission: &livekit.ParticipantPermission{CanSubscribe: true, CanPublishData: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.WaitSignal(ctx, func(s *livekit.SignalResponse) bool { return s.GetTrackUnpublished().GetTrackSid() == cam.SID() }); err != nil {
		t.Fatalf("alice never got track_unpublished for %s: %v", cam.SID(), err)
	}
	if err := bob.WaitUnsubscribed(ctx, cam.SID()); err != nil {
		t.Fatalf("bob still receives the unpublished track: %v", err)
	}
}
