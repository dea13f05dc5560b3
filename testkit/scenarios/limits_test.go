package scenarios

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// Configured limits are enforced with clear errors, and hitting one harms nobody already in:
// max rooms (503 at the upgrade, resource_exhausted from CreateRoom), max participants per room
// from the node's room defaults (503 "room is full"), and max tracks per participant
// (request_response LIMIT_EXCEEDED naming the add_track).
func TestConfiguredLimitsAreEnforced(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{Actors: actors.Config{
		Room:   actors.RoomConfig{MaxParticipants: 2},
		Limits: actors.Limits{MaxRooms: 2, MaxTracksPerParticipant: 2},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	alice := join(ctx, t, node, "one", "alice", lkclient.Options{})
	bob := join(ctx, t, node, "one", "bob", lkclient.Options{})
	join(ctx, t, node, "two", "carol", lkclient.Options{})

	refused := func(what string, err error, status int, body string) {
		t.Helper()
		var he *lkclient.HTTPError
		if !errors.As(err, &he) || he.StatusCode != status || he.Body != body {
			t.Fatalf("%s = %v, want %d %q", what, err, status, body)
		}
	}
	_, err := testkit.Join(ctx, node.WSURL, testkit.Token(t, "three", "dave", nil), lkclient.Options{})
	refused("join to a third room", err, http.StatusServiceUnavailable, "node has reached its room limit")
	_, err = node.RoomService(testkit.AdminToken(t, "three")).CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "three"})
	if twirpCode(err) != "resource_exhausted" {
		t.Fatalf("CreateRoom beyond max rooms = %v, want resource_exhausted", err)
	}
	_, err = testkit.Join(ctx, node.WSURL, testkit.Token(t, "one", "erin", nil), lkclient.Options{})
	refused("third participant in a room of two", err, http.StatusServiceUnavailable, "room is full")

	// Two tracks are fine, the third is refused, the first two keep flowing.
	cam, _ := publish(ctx, t, alice, webrtc.RTPCodecTypeVideo, 0)
	mic, _ := publish(ctx, t, alice, webrtc.RTPCodecTypeAudio, 0)
	_, err = alice.PublishTrack(ctx, lkclient.TrackOptions{Kind: webrtc.RTPCodecTypeAudio})
	var re *lkclient.RequestError
	if !errors.As(err, &re) || re.Response.GetReason() != livekit.RequestResponse_LIMIT_EXCEEDED {
		t.Fatalf("third track = %v, want LIMIT_EXCEEDED", err)
	}
	for _, sid := range []string{cam.SID(), mic.SID()} {
		rt, err := bob.WaitSubscribed(ctx, sid)
		if err != nil {
			t.Fatal(err)
		}
		if err := rt.WaitPackets(ctx, rt.Stats().Packets+10); err != nil {
			t.Fatalf("track %s stopped after the refusal: %v", sid, err)
		}
	}

	// Limits count what is open now: once room two is gone, a new room may open.
	if err := node.DeleteRoom(ctx, "two"); err != nil {
		t.Fatal(err)
	}
	join(ctx, t, node, "three", "dave", lkclient.Options{})
}
