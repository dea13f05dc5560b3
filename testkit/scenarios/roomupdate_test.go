package scenarios

import (
	"context"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport/auth"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// room_update keeps the participants' Room current: alice, alone at first, learns from room_update
// that bob joined and then published, with the counts ListRooms shows; a hidden recorder is not
// counted but marks the room as recording; ServerInfo names the protocol version.
func TestRoomUpdateCarriesCounts(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const room = "counts"
	alice := join(ctx, t, node, room, "alice", lkclient.Options{})
	join0 := alice.JoinResponse()
	if n := join0.GetRoom().GetNumParticipants(); n != 1 {
		t.Fatalf("alice's JoinResponse counts %d participants, want 1 (herself)", n)
	}
	if p := join0.GetServerInfo().GetProtocol(); p != actors.ProtocolVersion || p == 0 {
		t.Fatalf("server_info.protocol = %d, want %d", p, actors.ProtocolVersion)
	}

	bob := join(ctx, t, node, room, "bob", lkclient.Options{})
	if n := bob.JoinResponse().GetRoom().GetNumParticipants(); n != 2 {
		t.Fatalf("bob's JoinResponse counts %d participants, want 2", n)
	}
	// waitRoom waits for a room_update that ok accepts among those c received after the last one
	// waitRoom returned for c.
	seen := map[*lkclient.Client]int{}
	waitRoom := func(c *lkclient.Client, what string, ok func(*livekit.Room) bool) *livekit.Room {
		t.Helper()
		var found *livekit.Room
		err := c.WaitFor(ctx, func() bool {
			sigs := c.Signals()
			for i := seen[c]; i < len(sigs); i++ {
				if u := sigs[i].GetRoomUpdate(); u != nil && ok(u.GetRoom()) {
					found, seen[c] = u.GetRoom(), i+1
					return true
				}
			}
			return false
		})
		if err != nil {
			t.Fatalf("%s: no room_update with %s: %v (room now %v)", c.Identity(), what, err, c.Room())
		}
		return found
	}
	counts := func(parts, pubs uint32) func(*livekit.Room) bool {
		return func(r *livekit.Room) bool { return r.GetNumParticipants() == parts && r.GetNumPublishers() == pubs }
	}
	start := time.Now()
	got := waitRoom(alice, "2 participants", counts(2, 0))
	if got.GetSid() != join0.GetRoom().GetSid() || got.GetName() != room {
		t.Fatalf("room_update names %s/%s, want %s/%s", got.GetName(), got.GetSid(), room, join0.GetRoom().GetSid())
	}

	publish(ctx, t, bob, webrtc.RTPCodecTypeAudio, 150)
	waitRoom(alice, "2 participants, 1 publisher", counts(2, 1))
	waitRoom(bob, "2 participants, 1 publisher", counts(2, 1))
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("counts took %v to arrive; batching should hold them back about a second at most", d)
	}
	if r := alice.Room(); r.GetNumParticipants() != 2 || r.GetNumPublishers() != 1 {
		t.Fatalf("alice's room after the updates: %d participants, %d publishers", r.GetNumParticipants(), r.GetNumPublishers())
	}
	listed := func() *livekit.Room {
		t.Helper()
		res, err := node.RoomService(testkit.AdminToken(t, room)).ListRooms(ctx, &livekit.ListRoomsRequest{Names: []string{room}})
		if err != nil || len(res.GetRooms()) != 1 {
			t.Fatalf("ListRooms: %v, %v", res, err)
		}
		return res.GetRooms()[0]
	}
	if r := listed(); r.GetNumParticipants() != 2 || r.GetNumPublishers() != 1 || r.GetActiveRecording() {
		t.Fatalf("ListRooms shows %d participants, %d publishers, recording %v; want 2, 1, false", r.GetNumParticipants(), r.GetNumPublishers(), r.GetActiveRecording())
	}

	// A hidden recorder: not counted, but the room is recording, at once.
	rec, err := testkit.Join(ctx, node.WSURL, testkit.Token(t, room, "rec", &auth.VideoGrant{Hidden: true, Recorder: true}), lkclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	waitRoom(alice, "recording", func(r *livekit.Room) bool { return r.GetActiveRecording() && r.GetNumParticipants() == 2 })
	if r := listed(); r.GetNumParticipants() != 2 || !r.GetActiveRecording() {
		t.Fatalf("ListRooms with a hidden recorder: %d participants, recording %v; want 2, true", r.GetNumParticipants(), r.GetActiveRecording())
	}
	rec.Close()
	waitRoom(alice, "recording over", func(r *livekit.Room) bool { return !r.GetActiveRecording() })

	// bob leaves: the count drops, with no publisher left.
	bob.Close()
	waitRoom(alice, "1 participant", counts(1, 0))
	if r := listed(); r.GetNumParticipants() != 1 || r.GetNumPublishers() != 0 {
		t.Fatalf("ListRooms after bob left: %d participants, %d publishers", r.GetNumParticipants(), r.GetNumPublishers())
	}
}
