package conformance

import (
	"fmt"
	"testing"
	"time"
)

// TestFanoutTenSubscribers: alice publishes VP8 first, then ten SDK
// participants join; each gets identical frames including a keyframe.
func TestFanoutTenSubscribers(t *testing.T) {
	const n = 10
	vclip, err := loadIVF(ivfPath)
	if err != nil {
		t.Fatal(err)
	}
	alice := join(t, "fanout", "alice", nil)
	pub := publishClips(t, alice, false)

	subs := make([]*subscriber, n)
	for i := range subs {
		subs[i] = newSubscriber(20, 0)
		join(t, "fanout", fmt.Sprintf("viewer-%02d", i), subs[i].callback(vclip, nil))
	}
	for i, s := range subs {
		waitChan(t, s.video.enough, 30*time.Second, fmt.Sprintf("viewer-%02d to receive 20 identical frames incl. a keyframe", i))
	}
	for i, s := range subs {
		m, k, c, p := s.video.snapshot()
		t.Logf("viewer-%02d: %d identical frames (%d keyframes), %d corrupt, %d RTP packets, keyframe first: %v", i, m, k, c, p, s.video.firstKey)
		if c != 0 {
			t.Errorf("viewer-%02d: %d frames equal no published frame", i, c)
		}
	}
	t.Logf("publisher wrote %d frames and saw %d PLI/FIR", pub.video.written.Load(), pub.video.plis.Load())
}
