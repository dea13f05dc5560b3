package scenarios

import (
	"context"
	"testing"
	"time"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport/auth"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// An agent does not keep a room open: when the last participant that is not an agent leaves,
// the room closes after its departure timeout and the agent is told, as LiveKit does. While a
// standard participant is in the room, the agent's presence changes nothing.
func TestAgentsDoNotKeepARoomOpen(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{Actors: actors.Config{Room: actors.RoomConfig{
		EmptyTimeout: 30 * time.Second, DepartureTimeout: 500 * time.Millisecond,
	}}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	alice := join(ctx, t, node, "served", "alice", lkclient.Options{})
	bot, err := testkit.Join(ctx, node.WSURL, testkit.Token(t, "served", "bot", &auth.VideoGrant{Agent: true}), lkclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bot.Close)
	parts, err := node.ListParticipants(ctx, "served")
	if err != nil || len(parts) != 2 {
		t.Fatalf("participants = %v, %v; want alice and the agent", parts, err)
	}
	for _, p := range parts {
		if p.Identity == "bot" && p.Kind.String() != "AGENT" {
			t.Fatalf("bot joined as %s, want AGENT", p.Kind)
		}
	}
	time.Sleep(time.Second) // longer than the departure timeout: with alice here nothing closes
	if !node.HasActor("/node/rooms/served") {
		t.Fatal("the room closed while a standard participant was in it")
	}

	if err := alice.Leave(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-bot.Done():
	case <-ctx.Done():
		t.Fatal("the agent was never told the room closed")
	}
	if reason := bot.LeaveRequest().GetReason().String(); reason != "ROOM_CLOSED" {
		t.Errorf("agent left with %s, want ROOM_CLOSED", reason)
	}
	if err := waitUntil(ctx, func() bool { return !node.HasActor("/node/rooms/served") }); err != nil {
		t.Fatal("the room stayed open with only an agent in it")
	}
}
