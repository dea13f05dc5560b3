package media

import (
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
)

// A subscriber waiting for its first keyframe keeps asking for one while the
// layer's delta frames flow. The keyframe that answered the first request may
// have been lost (written before the subscriber's transport was up), and a
// subscriber that receives nothing never sends a PLI of its own: Chromium
// subscribers stayed black for many seconds without this.
func TestWaitingDownTrackKeepsRequestingKeyframes(t *testing.T) {
	defer goleak.VerifyNone(t)
	var reqs atomic.Int32
	r := testReceiver(t, vp8Params(), ReceiverOptions{OnKeyframeRequest: func(uint32) { reqs.Add(1) }}, 0)
	defer r.Close()
	w := &fakeWriter{record: true}
	boundDownTrack(t, r, w, 4242)
	if n := reqs.Load(); n != 1 {
		t.Fatalf("%d keyframe requests on subscribe, want 1", n)
	}
	feed(t, r, 0, 10, 100, vp8Delta)
	if n := reqs.Load(); n != 1 {
		t.Fatalf("%d keyframe requests within pliInterval, want 1 (throttled)", n)
	}
	r.layers[0].Load().lastPLI.Store(nanotime() - int64(pliInterval) - 1)
	feed(t, r, 0, 11, 3100, vp8Delta)
	if n := reqs.Load(); n != 2 {
		t.Fatalf("%d keyframe requests after pliInterval while waiting, want 2", n)
	}
	feed(t, r, 0, 12, 6100, vp8Key)
	r.layers[0].Load().lastPLI.Store(nanotime() - int64(pliInterval) - 1)
	feed(t, r, 0, 13, 9100, vp8Delta)
	if n := reqs.Load(); n != 2 {
		t.Fatalf("%d keyframe requests once forwarding, want still 2", n)
	}
	if got := len(w.packets()); got != 2 {
		t.Fatalf("sent %d packets, want 2 (keyframe and the delta after it)", got)
	}
}
