package scenarios

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/testkit/synth"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// Churn soak sizes: 500 sessions over 20 rooms, at most churnParallel at a time; every
// churnPublishEvery-th session publishes audio before it goes. Sized to finish well within a
// minute on two cores with the race detector.
const (
	churnRooms        = 20
	churnSessions     = 500
	churnParallel     = 8
	churnPublishEvery = 2
)

// 500 joins and leaves (half of them publishing, half leaving abruptly) across 20 rooms. Afterwards
// every room has closed itself, no actor is left under /node/rooms, and goroutines and heap are
// back near where they started. TestMain's goleak check covers the rest.
func TestChurnLeavesNothingBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test")
	}
	node := testkit.StartNode(t, testkit.Options{Actors: actors.Config{Room: actors.RoomConfig{
		EmptyTimeout: time.Second, DepartureTimeout: 200 * time.Millisecond,
	}}})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// Warm up pools and pion's lazily started globals, then take the baseline.
	session(ctx, t, node, "warmup", "w", true, false)
	if err := waitUntil(ctx, func() bool { return !node.HasActor("/node/rooms") }); err != nil {
		t.Fatal("warm-up room did not close")
	}
	goroutines0, heap0 := settledUsage()

	sem := make(chan struct{}, churnParallel)
	var wg sync.WaitGroup
	var failed atomic.Int64
	start := time.Now()
	for i := range churnSessions {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			room := fmt.Sprintf("churn-%d", i%churnRooms)
			if err := session(ctx, t, node, room, fmt.Sprintf("p%d", i), i%churnPublishEvery == 0, i%4 >= 2); err != nil {
				failed.Add(1)
				t.Errorf("session %d: %v", i, err)
			}
		}()
		if failed.Load() > 5 {
			break
		}
	}
	wg.Wait()
	t.Logf("%d sessions in %v", churnSessions, time.Since(start).Round(time.Millisecond))

	if err := waitUntil(ctx, func() bool { return !node.HasActor("/node/rooms") }); err != nil {
		var left []string
		for _, a := range node.Tree() {
			if strings.HasPrefix(a.Path, "/node/rooms") {
				left = append(left, a.Path)
			}
		}
		t.Fatalf("actors left under /node/rooms: %v", left)
	}
	var goroutines int
	var heap uint64
	// Goroutines of closed PeerConnections wind down asynchronously (pion's timers, SCTP).
	_ = waitUntil(ctx, func() bool {
		goroutines, heap = settledUsage()
		return goroutines <= goroutines0+10
	})
	t.Logf("goroutines %d → %d, heap %d KiB → %d KiB", goroutines0, goroutines, heap0>>10, heap>>10)
	if goroutines > goroutines0+10 {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Fatalf("goroutines grew from %d to %d after churn:\n%s", goroutines0, goroutines, buf[:n])
	}
	if heap > heap0+32<<20 {
		t.Fatalf("heap grew from %d KiB to %d KiB after churn", heap0>>10, heap>>10)
	}
}

// session joins, optionally publishes a little audio and waits until the node has it, then
// leaves (with leave, or abruptly).
func session(ctx context.Context, t *testing.T, node *testkit.Node, room, identity string, publishAudio, abrupt bool) error {
	c, err := testkit.Join(ctx, node.WSURL, testkit.Token(t, room, identity, nil), lkclient.Options{NoAutoSubscribe: true})
	if err != nil {
		return fmt.Errorf("join: %w", err)
	}
	defer c.Close()
	if publishAudio {
		tr, err := c.PublishTrack(ctx, lkclient.TrackOptions{Kind: webrtc.RTPCodecTypeAudio})
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		if _, err := synth.Publish(ctx, tr, synth.Options{FPS: 50, Frames: 10}); err != nil {
			return fmt.Errorf("send audio: %w", err)
		}
		if err := c.WaitFor(ctx, func() bool {
			p := c.LocalParticipant()
			return p != nil && len(p.Tracks) == 1
		}); err != nil {
			return fmt.Errorf("track never published: %w", err)
		}
	}
	if abrupt {
		c.Close()
		return nil
	}
	return c.Leave()
}

// settledUsage returns the goroutine count and live heap after a GC.
func settledUsage() (int, uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return runtime.NumGoroutine(), ms.HeapAlloc
}

// Extends TestParticipantPanicIsIsolated to a participant that publishes: when its actor panics,
// its track actors go with it, subscribers are unsubscribed and told DISCONNECTED, media between
// the others keeps flowing, and the same identity can come back and publish again.
func TestPublisherPanicCleansUpAndAllowsRejoin(t *testing.T) {
	node, faults := startFaultyNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	alice := join(ctx, t, node, "fault", "alice", lkclient.Options{})
	bob := join(ctx, t, node, "fault", "bob", lkclient.Options{})
	mallory := join(ctx, t, node, "fault", "mallory", lkclient.Options{})
	cam, _ := publish(ctx, t, alice, webrtc.RTPCodecTypeVideo, 0)
	bad, _ := publish(ctx, t, mallory, webrtc.RTPCodecTypeAudio, 0)
	rt, err := bob.WaitSubscribed(ctx, cam.SID())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.WaitSubscribed(ctx, bad.SID()); err != nil {
		t.Fatal(err)
	}

	if err := faults.panicAt("/node/rooms/fault/mallory"); err != nil {
		t.Fatal(err)
	}
	if _, err := mallory.WaitDone(ctx); err != nil {
		t.Fatal("mallory was not disconnected")
	}
	if err := bob.WaitParticipantGone(ctx, "mallory"); err != nil {
		t.Fatal("bob never learned mallory left")
	}
	if err := bob.WaitUnsubscribed(ctx, bad.SID()); err != nil {
		t.Fatal("bob is still subscribed to the failed participant's track")
	}
	if err := waitUntil(ctx, func() bool { return !node.HasActor("/node/rooms/fault/mallory") }); err != nil {
		t.Fatal("the failed participant's actors (or its track actors) are still alive")
	}
	if err := rt.WaitPackets(ctx, rt.Stats().Packets+30); err != nil {
		t.Fatalf("media alice→bob stopped after mallory's failure: %v", err)
	}

	again := join(ctx, t, node, "fault", "mallory", lkclient.Options{})
	mic, _ := publish(ctx, t, again, webrtc.RTPCodecTypeAudio, 0)
	ra, err := bob.WaitSubscribed(ctx, mic.SID())
	if err != nil {
		t.Fatalf("the rejoined participant's track never reached bob: %v", err)
	}
	if err := ra.WaitPackets(ctx, 20); err != nil {
		t.Fatal(err)
	}
}
