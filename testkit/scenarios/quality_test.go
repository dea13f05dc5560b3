package scenarios

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/testkit/synth"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// qualityOf finds the entry about participant sid in a connection_quality update.
func qualityOf(s *livekit.SignalResponse, sid string) *livekit.ConnectionQualityInfo {
	for _, u := range s.GetConnectionQuality().GetUpdates() {
		if u.GetParticipantSid() == sid {
			return u
		}
	}
	return nil
}

// waitQuality waits until c has received a connection_quality entry about sid that ok accepts.
func waitQuality(ctx context.Context, t *testing.T, c *lkclient.Client, sid string, what string, ok func(*livekit.ConnectionQualityInfo) bool) *livekit.ConnectionQualityInfo {
	t.Helper()
	s, err := c.WaitSignal(ctx, func(s *livekit.SignalResponse) bool {
		q := qualityOf(s, sid)
		return q != nil && ok(q)
	})
	if err != nil {
		var seen []string
		for _, s := range c.Signals() {
			for _, u := range s.GetConnectionQuality().GetUpdates() {
				seen = append(seen, u.GetParticipantSid()+"="+u.GetQuality().String())
			}
		}
		t.Fatalf("%s never received connection_quality with %s (received %v): %v", c.Identity(), what, seen, err)
	}
	return qualityOf(s, sid)
}

func goodOrBetter(q *livekit.ConnectionQualityInfo) bool {
	return (q.GetQuality() == livekit.ConnectionQuality_EXCELLENT || q.GetQuality() == livekit.ConnectionQuality_GOOD) &&
		q.GetScore() >= 3.5
}

// Two rooms on one node, scored by the same 5-second cadence. In the clean room Alice publishes
// over loopback: she and Bob (her subscriber) are told her connection is EXCELLENT or GOOD. In the
// lossy room Carol's client skips every fourth RTP sequence number, so the node sees 25 % upstream
// loss: Dave, who receives her audio, and Carol herself are told her connection is POOR.
func TestConnectionQuality(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	alice := join(ctx, t, node, "quality-clean", "alice", lkclient.Options{})
	bob := join(ctx, t, node, "quality-clean", "bob", lkclient.Options{})
	carol := join(ctx, t, node, "quality-lossy", "carol", lkclient.Options{})
	dave := join(ctx, t, node, "quality-lossy", "dave", lkclient.Options{})

	pubCtx, stopPublishing := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopPublishing()

	mic, err := alice.PublishTrack(ctx, lkclient.TrackOptions{Kind: webrtc.RTPCodecTypeAudio})
	if err != nil {
		t.Fatalf("alice publishes audio: %v", err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = synth.Publish(pubCtx, mic, synth.Options{})
	}()

	lossy, err := carol.PublishTrack(ctx, lkclient.TrackOptions{Kind: webrtc.RTPCodecTypeAudio, RawRTP: true})
	if err != nil {
		t.Fatalf("carol publishes raw audio: %v", err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		publishWithGaps(pubCtx, lossy, 4)
	}()

	if _, err := bob.WaitSubscribed(ctx, mic.SID()); err != nil {
		t.Fatalf("bob never got alice's audio: %v", err)
	}
	if _, err := dave.WaitSubscribed(ctx, lossy.SID()); err != nil {
		t.Fatalf("dave never got carol's audio: %v", err)
	}

	q := waitQuality(ctx, t, bob, alice.SID(), "alice EXCELLENT or GOOD", goodOrBetter)
	t.Logf("bob sees alice: %s %.2f", q.GetQuality(), q.GetScore())
	waitQuality(ctx, t, alice, alice.SID(), "herself EXCELLENT or GOOD", goodOrBetter)
	waitQuality(ctx, t, bob, bob.SID(), "himself EXCELLENT or GOOD", goodOrBetter)

	poor := func(q *livekit.ConnectionQualityInfo) bool {
		return q.GetQuality() == livekit.ConnectionQuality_POOR && q.GetScore() < 3
	}
	q = waitQuality(ctx, t, dave, carol.SID(), "carol POOR", poor)
	t.Logf("dave sees carol: %s %.2f", q.GetQuality(), q.GetScore())
	waitQuality(ctx, t, carol, carol.SID(), "herself POOR", poor)

	// Nobody is told about participants they do not receive: Bob publishes nothing, so Alice's
	// updates name only her.
	for _, s := range alice.Signals() {
		if qualityOf(s, bob.SID()) != nil {
			t.Errorf("alice, who subscribes to nothing of bob's, got his connection quality: %v", s.GetConnectionQuality())
		}
	}
}

// publishWithGaps sends synthetic Opus packets every 20 ms on a raw-RTP track, leaving out every
// n-th sequence number, until ctx ends.
func publishWithGaps(ctx context.Context, tr *lkclient.LocalTrack, n uint16) {
	gen := synth.NewOpusGenerator(80)
	tick := time.NewTicker(synth.OpusFrameDuration)
	defer tick.Stop()
	var seq uint16
	var ts uint32
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		seq++
		ts += 960
		payload := gen.Next()
		if seq%n == 0 {
			continue // "lost" on the way
		}
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts}, Payload: payload}
		if err := tr.WriteRTP(pkt); err != nil {
			return
		}
	}
}
