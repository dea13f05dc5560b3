package scenarios

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"
	"go.uber.org/goleak"

	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/testkit/synth"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
	"github.com/actor-sfu/livekit-server/transport/lkclient/lkmedia"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// pion's mDNS-free ICE agents still park one global timer goroutine per process.
		goleak.IgnoreTopFunction("github.com/pion/transport/v2/deadline.(*Deadline).handler"),
	)
}

// join connects identity to room on node and closes the client when the test ends.
func join(ctx context.Context, t testing.TB, node *testkit.Node, room, identity string, opts lkclient.Options) *lkclient.Client {
	t.Helper()
	c, err := testkit.Join(ctx, node.WSURL, testkit.Token(t, room, identity, nil), opts)
	if err != nil {
		t.Fatalf("%s joins %s: %v", identity, room, err)
	}
	t.Cleanup(c.Close)
	return c
}

// collector reads a remote track's packets and records which synthetic frames (video) or
// packets (audio) arrived intact. Any frame whose bytes differ from what the generator made
// is a corruption.
type collector struct {
	mu        sync.Mutex
	got       map[uint64]bool
	first     uint64
	haveFirst bool
	corrupt   int
	done      chan struct{}
}

func collect(rt *lkclient.RemoteTrack) *collector {
	c := &collector{got: map[uint64]bool{}, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		asm := lkmedia.NewVP8Assembler()
		for p := range rt.Packets() {
			if rt.Kind == webrtc.RTPCodecTypeAudio {
				n, err := synth.ParseSyntheticOpus(p.Payload)
				c.record(n, err)
				continue
			}
			for _, f := range asm.Push(p) {
				n, _, err := synth.ParseSyntheticVP8(f.Data)
				c.record(n, err)
			}
		}
	}()
	return c
}

func (c *collector) record(n uint64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.corrupt++
		return
	}
	if !c.haveFirst || n < c.first {
		c.first, c.haveFirst = n, true
	}
	c.got[n] = true
}

// ratio is the share of frames from the first received one to last (inclusive) that arrived.
func (c *collector) ratio(last uint64) (got, want int, corrupt int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.haveFirst {
		return 0, int(last + 1), c.corrupt
	}
	for n := c.first; n <= last; n++ {
		if c.got[n] {
			got++
		}
	}
	return got, int(last - c.first + 1), c.corrupt
}

// requireDelivery fails the test unless at least 99% of the frames from the first received up to
// last arrived, none corrupted.
func (c *collector) requireDelivery(t testing.TB, what string, last uint64) {
	t.Helper()
	got, want, corrupt := c.ratio(last)
	if corrupt > 0 {
		t.Errorf("%s: %d frames arrived with bytes that differ from what was sent", what, corrupt)
	}
	if want < 10 || float64(got) < 0.99*float64(want) {
		t.Errorf("%s: %d of %d frames arrived (need ≥ 99%%, ≥ 10 frames)", what, got, want)
	}
}

// publish starts synthetic media on a new track and returns it with a channel that yields the
// number of frames sent once publishing ends.
func publish(ctx context.Context, t testing.TB, c *lkclient.Client, kind webrtc.RTPCodecType, frames uint64) (*lkclient.LocalTrack, <-chan uint64) {
	t.Helper()
	tr, err := c.PublishTrack(ctx, lkclient.TrackOptions{Kind: kind, Width: 320, Height: 240})
	if err != nil {
		t.Fatalf("%s publishes %s: %v", c.Identity(), kind, err)
	}
	opts := synth.Options{FPS: 30, Frames: frames}
	if kind == webrtc.RTPCodecTypeVideo {
		opts.FrameSize = 3000 // three packets a frame, so frames test reassembly
	}
	sent := make(chan uint64, 1)
	go func() {
		n, _ := synth.Publish(ctx, tr, opts)
		sent <- n
	}()
	return tr, sent
}

// settle gives in-flight packets time to arrive after a publisher stops.
func settle() { time.Sleep(300 * time.Millisecond) }
