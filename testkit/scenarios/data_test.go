package scenarios

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport/auth"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// 200 reliable messages from Alice reach Bob in order, stamped with Alice's identity and SID.
func TestReliableDataInOrder(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice := join(ctx, t, node, "data", "alice", lkclient.Options{})
	bob := join(ctx, t, node, "data", "bob", lkclient.Options{})
	if _, err := alice.WaitParticipant(ctx, "bob"); err != nil {
		t.Fatal(err)
	}

	const n = 200
	for i := 0; i < n; i++ {
		if err := alice.PublishData(ctx, []byte(fmt.Sprintf("msg-%03d", i)), lkclient.DataOptions{Reliable: true, Topic: "chat"}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if err := bob.WaitFor(ctx, func() bool { return len(bob.Data()) >= n }); err != nil {
		t.Fatalf("bob got %d of %d messages: %v", len(bob.Data()), n, err)
	}
	for i, d := range bob.Data() {
		if want := fmt.Sprintf("msg-%03d", i); string(d.Payload) != want {
			t.Fatalf("message %d = %q, want %q (out of order or corrupted)", i, d.Payload, want)
		}
		if d.Identity != "alice" || d.SID != alice.SID() || !d.Reliable() || d.Topic != "chat" {
			t.Fatalf("message %d: identity %q sid %q reliable %v topic %q", i, d.Identity, d.SID, d.Reliable(), d.Topic)
		}
	}
}

// A destination list narrows who receives; a participant without canPublishData sends nothing.
func TestDataDestinationsAndPermission(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice := join(ctx, t, node, "data", "alice", lkclient.Options{})
	bob := join(ctx, t, node, "data", "bob", lkclient.Options{})
	carol := join(ctx, t, node, "data", "carol", lkclient.Options{})
	muteTok := testkit.Token(t, "data", "mallory", &auth.VideoGrant{CanPublishData: auth.BoolPtr(false)})
	mallory, err := testkit.Join(ctx, node.WSURL, muteTok, lkclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mallory.Close()
	for _, c := range []*lkclient.Client{alice, bob, carol} {
		if _, err := c.WaitParticipant(ctx, "mallory"); err != nil {
			t.Fatal(err)
		}
	}

	if err := mallory.PublishData(ctx, []byte("spam"), lkclient.DataOptions{Reliable: true}); err != nil {
		t.Fatalf("mallory's client could not even send: %v", err)
	}
	if err := alice.PublishData(ctx, []byte("for carol"), lkclient.DataOptions{Reliable: true, DestinationIdentities: []string{"carol"}}); err != nil {
		t.Fatal(err)
	}
	if err := alice.PublishData(ctx, []byte("for all"), lkclient.DataOptions{Reliable: true}); err != nil {
		t.Fatal(err)
	}
	// Reliable data is ordered per sender, so once "for all" arrives anything addressed earlier
	// would have arrived too.
	for _, c := range []*lkclient.Client{bob, carol} {
		if _, err := c.WaitData(ctx, func(d *lkclient.ReceivedData) bool { return string(d.Payload) == "for all" }); err != nil {
			t.Fatalf("%s: %v", c.Identity(), err)
		}
	}
	has := func(c *lkclient.Client, payload string) bool {
		for _, d := range c.Data() {
			if string(d.Payload) == payload {
				return true
			}
		}
		return false
	}
	if !has(carol, "for carol") {
		t.Error("carol did not get the message addressed to her")
	}
	if has(bob, "for carol") {
		t.Error("bob got a message addressed only to carol")
	}
	// mallory's message was sent before alice's; give the node a moment more all the same.
	time.Sleep(200 * time.Millisecond)
	for _, c := range []*lkclient.Client{alice, bob, carol} {
		if has(c, "spam") {
			t.Errorf("%s received data from a participant without canPublishData", c.Identity())
		}
	}
}
