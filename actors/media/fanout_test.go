package media

import (
	"encoding/binary"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"go.uber.org/goleak"
)

// gatedWriter is a fakeWriter whose writes can be held at a gate: once armed,
// the next write closes entered and waits until open is closed.
type gatedWriter struct {
	fakeWriter
	armed   atomic.Bool
	entered chan struct{}
	open    chan struct{}
	once    sync.Once
	relOnce sync.Once
}

func newGatedWriter() *gatedWriter {
	return &gatedWriter{fakeWriter: fakeWriter{record: true}, entered: make(chan struct{}), open: make(chan struct{})}
}

// release lets held and future writes through; safe to call more than once.
func (w *gatedWriter) release() {
	w.armed.Store(false)
	w.relOnce.Do(func() { close(w.open) })
}

func (w *gatedWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	if w.armed.Load() {
		w.once.Do(func() { close(w.entered) })
		<-w.open
	}
	return w.fakeWriter.WriteRTP(h, payload)
}

// tagged is prefix followed by the upstream sequence number, so a test can
// tell which upstream packet a subscriber received.
func tagged(prefix []byte, seq uint16) []byte {
	return binary.BigEndian.AppendUint16(append([]byte(nil), prefix...), seq)
}

// upstreamSeqs returns the tags of what w received, in order.
func upstreamSeqs(w *fakeWriter) []uint16 {
	var out []uint16
	for _, p := range w.packets() {
		out = append(out, binary.BigEndian.Uint16(p.payload[len(p.payload)-2:]))
	}
	return out
}

func seqRange(from, to uint16) []uint16 {
	var out []uint16
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// waitFor polls cond for up to 10 s (a bound on a hang, not a timing assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// lossBelowOnePercent is the isolation criterion of the blocked-subscriber tests.
func lossBelowOnePercent(got, sent int) bool { return 100*(sent-got) < sent }

// blockedRun feeds n packets (frame(i) gives the payload) to a track with 20
// healthy subscribers and one whose write hangs from packet block on, paced
// roughly like media (not a timing assertion: a forwarder faster than its
// writers would overflow healthy queues too). It checks that every healthy
// subscriber lost < 1 % and that the hung one was marked stalled. The
// caller lets the hung write return with blocked.release.
func blockedRun(t *testing.T, r *Receiver, n, block int, frame func(i int) []byte) (*gatedWriter, *DownTrack) {
	t.Helper()
	blocked := newGatedWriter()
	t.Cleanup(blocked.release)
	bd := boundDownTrack(t, r, blocked, 1)
	normal := make([]*fakeWriter, 20)
	for i := range normal {
		normal[i] = &fakeWriter{}
		boundDownTrack(t, r, normal[i], uint32(i+2))
	}
	for i := range n {
		if i == block {
			blocked.armed.Store(true)
		}
		feed(t, r, 0, uint16(i), uint32(i*960), frame(i))
		time.Sleep(100 * time.Microsecond)
	}
	for i := range normal {
		waitFor(t, "healthy subscribers to drain", func() bool { return lossBelowOnePercent(normal[i].count(), n) })
	}
	if !bd.stalled.Load() {
		t.Fatal("blocked subscriber was not marked stalled")
	}
	return blocked, bd
}

// heldUntil checks that got starts with every packet 0..h, where h is the one
// the hung write held (the writer may lag a little behind arming the gate
// at block), and returns h's index.
func heldUntil(t *testing.T, got []uint16, block int) int {
	t.Helper()
	k := 0
	for k < len(got) && got[k] == uint16(k) {
		k++
	}
	if k < block/2 || k > block+1 || k == len(got) {
		t.Fatalf("got %v: want 0..h with h near %d, then packets after the recovery", got, block)
	}
	return k - 1
}

// A subscriber whose write never returns must not starve the others: its
// writer is replaced, the rest of its share keeps receiving (loss < 1 %),
// and the blocked subscriber's audio is dropped rather than queued: when its
// write returns it resumes with current packets, not a backlog.
func TestFanoutIsolatesBlockedSubscriber(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := testReceiver(t, opusParams(), ReceiverOptions{
		FanoutThreshold: 4, FanoutWorkers: 2, stallTimeout: 10 * time.Millisecond,
	}, 0)
	defer r.Close()
	const n, block = 2000, 100
	audio := func(i int) []byte { return tagged([]byte{0xfc}, uint16(i)) }
	blocked, bd := blockedRun(t, r, n, block, audio)
	blocked.release()
	waitFor(t, "the blocked write to return", func() bool { return !bd.stalled.Load() })
	const more = 100
	for i := n; i < n+more; i++ {
		feed(t, r, 0, uint16(i), uint32(i*960), audio(i))
		time.Sleep(100 * time.Microsecond)
	}
	waitFor(t, "the unblocked subscriber to get new audio", func() bool {
		s := upstreamSeqs(&blocked.fakeWriter)
		return len(s) > 0 && s[len(s)-1] == n+more-1
	})
	// Every packet up to the one inside the hung write, then only packets
	// sent after the recovery: nothing was queued for it meanwhile.
	got := upstreamSeqs(&blocked.fakeWriter)
	held := heldUntil(t, got, block)
	if got[held+1] < n {
		t.Fatalf("after the stall the subscriber got packet %d, sent while it was stalled", got[held+1])
	}
	if bd.Stats().Dropped == 0 {
		t.Fatal("packets for the stalled subscriber were not counted as dropped")
	}
	checkContinuous(t, blocked.packets())
}

// The same with video: the healthy subscribers lose < 1 %, and the blocked
// one resumes at a keyframe (requested on recovery) with a continuous
// sequence, never with the delta frames that followed what it missed.
func TestFanoutBlockedVideoSubscriberResumesAtKeyframe(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := testReceiver(t, vp8Params(), ReceiverOptions{
		FanoutThreshold: 4, FanoutWorkers: 2, stallTimeout: 10 * time.Millisecond,
	}, 0)
	defer r.Close()
	const keyEvery = 50
	frame := func(i int) []byte {
		if i%keyEvery == 0 {
			return tagged(vp8Key, uint16(i))
		}
		return tagged(vp8Delta, uint16(i))
	}

	const n, block = 2000, 125 // mid-frame-sequence, not at a keyframe
	blocked, bd := blockedRun(t, r, n, block, frame)
	requests := r.keyframeRequests.Load()
	blocked.release()
	waitFor(t, "the blocked write to return", func() bool { return !bd.stalled.Load() })
	if r.keyframeRequests.Load() == requests {
		t.Fatal("recovery from the stall did not request a keyframe")
	}
	const more = 3 * keyEvery
	for i := n; i < n+more; i++ {
		feed(t, r, 0, uint16(i), uint32(i*3000), frame(i))
		time.Sleep(100 * time.Microsecond)
	}
	waitFor(t, "the unblocked subscriber to get new video", func() bool {
		s := upstreamSeqs(&blocked.fakeWriter)
		return len(s) > 0 && s[len(s)-1] == n+more-1
	})
	got := upstreamSeqs(&blocked.fakeWriter)
	held := heldUntil(t, got, block)
	resumed := got[held+1]
	if resumed%keyEvery != 0 || resumed < n {
		t.Fatalf("after the stall the subscriber resumed at upstream packet %d, want a keyframe sent after recovery", resumed)
	}
	if want := seqRange(resumed, n+more-1); !slices.Equal(got[held+1:], want) {
		t.Fatalf("after the keyframe got %v, want every packet %d..%d", got[held+1:], want[0], want[len(want)-1])
	}
	checkContinuous(t, blocked.packets())
}

// overflowRun drives one writer's queue past its bound deterministically: the
// writer is held at a gate inside a write while packets pile up, then
// released. It returns the receiver, the writers and their DownTracks (the
// gated one first) and how many keyframe requests the overflow caused.
func overflowRun(t *testing.T, video bool) (*Receiver, []*fakeWriter, []*DownTrack, uint64) {
	t.Helper()
	params, prefix, key := opusParams(), []byte{0xfc}, []byte{0xfc}
	if video {
		params, prefix, key = vp8Params(), vp8Delta, vp8Key
	}
	r := testReceiver(t, params, ReceiverOptions{
		FanoutThreshold: 1, FanoutWorkers: 1, stallTimeout: time.Hour, // slow, never "stalled"
	}, 0)
	gated := newGatedWriter()
	dts := []*DownTrack{boundDownTrack(t, r, gated, 1)}
	healthy := make([]*fakeWriter, 3)
	for i := range healthy {
		healthy[i] = &fakeWriter{record: true}
		dts = append(dts, boundDownTrack(t, r, healthy[i], uint32(i+2)))
	}
	send := func(seq uint16) {
		pl := tagged(prefix, seq)
		if seq == 0 || seq == 282 {
			pl = tagged(key, seq)
		}
		feed(t, r, 0, seq, uint32(seq)*3000, pl)
	}
	for seq := range uint16(10) {
		send(seq)
	}
	waitFor(t, "warm-up delivery", func() bool { return gated.count() == 10 && healthy[2].count() == 10 })

	gated.armed.Store(true)
	send(10)
	<-gated.entered
	requests := r.keyframeRequests.Load()
	// The queue takes 11..266; 267..276 do not fit.
	for seq := uint16(11); seq <= 11+fanQueueLen+9; seq++ {
		send(seq)
	}
	gated.armed.Store(false)
	close(gated.open)
	// Let the writer empty its queue, so that only 267..276 overflowed.
	for _, w := range append(healthy, &gated.fakeWriter) {
		waitFor(t, "the queue to drain", func() bool {
			s := upstreamSeqs(w)
			return len(s) > 0 && s[len(s)-1] == 266
		})
	}
	for seq := uint16(277); seq <= 290; seq++ { // 282 is a keyframe
		send(seq)
	}
	for _, w := range append(healthy, &gated.fakeWriter) {
		waitFor(t, "the queue to drain", func() bool {
			s := upstreamSeqs(w)
			return len(s) > 0 && s[len(s)-1] == 290
		})
	}
	return r, append([]*fakeWriter{&gated.fakeWriter}, healthy...), dts, r.keyframeRequests.Load() - requests
}

// A full writer queue drops video media-aware: what was already queued is
// delivered, then everything from the first dropped packet to the next
// keyframe is skipped (not just the packets that did not fit), the keyframe
// is requested, and the outgoing sequence stays continuous.
func TestFanoutOverflowSkipsVideoToKeyframe(t *testing.T) {
	defer goleak.VerifyNone(t)
	r, writers, dts, requests := overflowRun(t, true)
	defer r.Close()
	want := append(seqRange(0, 266), seqRange(282, 290)...)
	for i, w := range writers {
		if got := upstreamSeqs(w); !slices.Equal(got, want) {
			t.Fatalf("subscriber %d got upstream %v\nwant 0..266 then 282..290", i, got)
		}
		checkContinuous(t, w.packets())
		// 267..276 did not fit in the queue; 277..281 came after the gap, before the keyframe.
		if d := dts[i].Stats().Dropped; d != 15 {
			t.Fatalf("subscriber %d dropped %d, want 15", i, d)
		}
	}
	if requests == 0 {
		t.Fatal("the overflow did not request a keyframe")
	}
}

// Audio just loses the packets that did not fit.
func TestFanoutOverflowDropsAudio(t *testing.T) {
	defer goleak.VerifyNone(t)
	r, writers, dts, _ := overflowRun(t, false)
	defer r.Close()
	want := append(seqRange(0, 266), seqRange(277, 290)...)
	for i, w := range writers {
		if got := upstreamSeqs(w); !slices.Equal(got, want) {
			t.Fatalf("subscriber %d got upstream %v\nwant 0..266 then 277..290", i, got)
		}
		if d := dts[i].Stats().Dropped; d != 10 {
			t.Fatalf("subscriber %d dropped %d, want 10", i, d)
		}
	}
}
