package actors

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actor-sfu/livekit-server/actors/media"
)

// stuckActor blocks inside Receive until release is closed.
type stuckActor struct{ entered, release chan struct{} }

func (s *stuckActor) Receive(ctx actor.Context) {
	if _, user := ctx.Message().(string); user {
		select {
		case s.entered <- struct{}{}:
		default:
		}
		<-s.release
	}
}

// Tree answers while an actor is stuck inside Receive, and shows the messages piling up in its
// mailbox: it reads the registry and atomic counters, never the actor. A message counts as
// queued from the moment it is posted until Receive returns from it.
func TestTreeDoesNotWaitForActors(t *testing.T) {
	n, err := NewNode(Config{Logger: slog.New(slog.DiscardHandler), Media: media.Config{BindIP: "127.0.0.1", LoopbackOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.Close(ctx); err != nil {
			t.Error(err)
		}
	}()
	stuck := &stuckActor{entered: make(chan struct{}, 1), release: make(chan struct{})}
	pid, err := n.spawn(n.system.Root, "node/stuck", "test", func(*actorStats) actor.Actor { return stuck })
	if err != nil {
		t.Fatal(err)
	}
	defer n.system.Root.Stop(pid)
	defer close(stuck.release)
	for range 5 {
		n.system.Root.Send(pid, "work")
	}
	<-stuck.entered

	var depth int64 = -1
	for range 1000 {
		for _, a := range n.Tree() {
			if a.Path == "/node/stuck" {
				depth = a.Mailbox
			}
		}
		if depth == 5 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if depth != 5 {
		t.Fatalf("mailbox depth of the stuck actor = %d, want 5 (the one in Receive counts until it returns)", depth)
	}
}

// idleActor does nothing; it only has to be alive.
type idleActor struct{}

func (idleActor) Receive(actor.Context) {}

// A spawn that fails because the name is taken (a previous actor of that name still stopping)
// must not replace the live actor's entry: the tree keeps describing the actor that runs.
func TestDuplicateSpawnKeepsLiveActorInTree(t *testing.T) {
	n, err := NewNode(Config{Logger: slog.New(slog.DiscardHandler), Media: media.Config{BindIP: "127.0.0.1", LoopbackOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.Close(ctx); err != nil {
			t.Error(err)
		}
	}()
	live, err := n.spawn(n.system.Root, "node/dup", "live", func(st *actorStats) actor.Actor {
		st.describe = func() map[string]any { return map[string]any{"which": "live"} }
		return idleActor{}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.system.Root.Stop(live)
	n.system.Root.Send(live, "one")
	_, err = n.spawn(n.system.Root, "node/dup", "impostor", func(st *actorStats) actor.Actor {
		st.describe = func() map[string]any { return map[string]any{"which": "impostor"} }
		return idleActor{}
	})
	if !errors.Is(err, actor.ErrNameExists) {
		t.Fatalf("second spawn of node/dup: err = %v, want ErrNameExists", err)
	}
	var found []ActorInfo
	for _, a := range n.Tree() {
		if a.Path == "/node/dup" {
			found = append(found, a)
		}
	}
	if len(found) != 1 {
		t.Fatalf("tree lists /node/dup %d times, want once", len(found))
	}
	if got := found[0]; got.Kind != "live" || got.Stats["which"] != "live" {
		t.Fatalf("tree entry of /node/dup = kind %q stats %v, want the live actor's", got.Kind, got.Stats)
	}
}
