package media

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"go.uber.org/goleak"
)

func TestDownTrackStartsAtKeyframeAndMunges(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := testReceiver(t, vp8Params(), ReceiverOptions{}, 0)
	defer r.Close()
	w := &fakeWriter{record: true}
	d := boundDownTrack(t, r, w, 4242)

	feed(t, r, 0, 10, 100, vp8Delta) // before any keyframe: dropped
	feed(t, r, 0, 11, 100, vp8Cont)
	feed(t, r, 0, 12, 3100, vp8Key)
	feed(t, r, 0, 13, 3100, vp8Cont)
	feed(t, r, 0, 14, 6100, vp8Delta)

	got := w.packets()
	if len(got) != 3 {
		t.Fatalf("sent %d packets, want 3 (from the keyframe on)", len(got))
	}
	if !bytes.Equal(got[0].payload, vp8Key) {
		t.Fatalf("first payload %x, want keyframe", got[0].payload)
	}
	for _, p := range got {
		if p.ssrc != 4242 || p.pt != 100 {
			t.Fatalf("ssrc/pt not rewritten: %+v", p)
		}
	}
	checkContinuous(t, got)
	if d.SSRC() != 4242 || d.Stats().Packets != 3 {
		t.Fatalf("stats %+v", d.Stats())
	}
}

func TestDownTrackPauseResume(t *testing.T) {
	r := testReceiver(t, vp8Params(), ReceiverOptions{}, 0)
	defer r.Close()
	w := &fakeWriter{record: true}
	d := boundDownTrack(t, r, w, 1)

	seq, ts := uint16(65530), uint32(0)
	next := func(payload []byte) {
		feed(t, r, 0, seq, ts, payload)
		seq++
		ts += 3000
	}
	next(vp8Key)
	next(vp8Delta)
	d.SetPaused(true)
	for range 20 {
		next(vp8Delta)
	}
	d.SetPaused(false)
	next(vp8Delta) // waits for a keyframe after resume
	next(vp8Delta)
	next(vp8Key)
	next(vp8Delta)

	got := w.packets()
	if len(got) != 4 {
		t.Fatalf("sent %d, want 4", len(got))
	}
	if !bytes.Equal(got[2].payload, vp8Key) {
		t.Fatal("resume did not start at the keyframe")
	}
	checkContinuous(t, got)
	if got[2].ts == got[1].ts {
		t.Fatal("timestamp did not advance across the pause")
	}
}

func TestAudioPauseResumeNoKeyframeWait(t *testing.T) {
	r := testReceiver(t, opusParams(), ReceiverOptions{}, 0)
	defer r.Close()
	w := &fakeWriter{record: true}
	d := boundDownTrack(t, r, w, 1)
	for i := range 10 {
		if i == 3 {
			d.SetPaused(true)
		}
		if i == 7 {
			d.SetPaused(false)
		}
		feed(t, r, 0, uint16(i), uint32(i*960), []byte{0xfc, byte(i)})
	}
	got := w.packets()
	if len(got) != 6 { // 0,1,2 then 7,8,9
		t.Fatalf("sent %d, want 6", len(got))
	}
	checkContinuous(t, got)
	if got[3].payload[1] != 7 {
		t.Fatalf("resumed at %d, want 7", got[3].payload[1])
	}
}

func TestLayerSwitchAtKeyframe(t *testing.T) {
	r := testReceiver(t, vp8Params(), ReceiverOptions{}, 0, 1, 2)
	defer r.Close()
	w := &fakeWriter{record: true}
	d := boundDownTrack(t, r, w, 1)

	// The three layers have unrelated seq/ts spaces, as with real simulcast.
	base := [3]uint16{100, 20000, 60000}
	tsBase := [3]uint32{5, 1 << 30, 3 << 30}
	frame := func(i int, payloads ...[]byte) {
		for li := range 3 {
			for _, p := range payloads {
				feed(t, r, li, base[li], tsBase[li]+uint32(i*3000), p)
				base[li]++
			}
		}
	}
	frame(0, vp8Delta)        // nothing yet
	frame(1, vp8Key, vp8Cont) // default target = highest (2): starts on f
	frame(2, vp8Delta, vp8Cont)
	d.SetTargetLayer(0)
	frame(3, vp8Delta) // still f until q has a keyframe
	// Keyframe on layer 0 only.
	feed(t, r, 1, base[1], tsBase[1]+4*3000, vp8Delta)
	base[1]++
	feed(t, r, 2, base[2], tsBase[2]+4*3000, vp8Delta)
	base[2]++
	feed(t, r, 0, base[0], tsBase[0]+4*3000, vp8Key)
	base[0]++
	frame(5, vp8Delta)

	st := d.Stats()
	if st.CurrentLayer != 0 || st.LayerSwitches != 1 {
		t.Fatalf("layer %d switches %d", st.CurrentLayer, st.LayerSwitches)
	}
	got := w.packets()
	// f: key,cont,delta,cont,delta,delta(frame4) = 6; q: key, delta = 2.
	if len(got) != 8 {
		t.Fatalf("sent %d, want 8", len(got))
	}
	checkContinuous(t, got)
	if !bytes.Equal(got[6].payload, vp8Key) {
		t.Fatal("switch did not happen at the keyframe")
	}
}

func TestNACKRetransmitsMungedSeq(t *testing.T) {
	r := testReceiver(t, vp8Params(), ReceiverOptions{}, 0, 2)
	defer r.Close()
	w := &fakeWriter{record: true}
	d := boundDownTrack(t, r, w, 77)
	// Start on layer 2 at seq 500, so out seq == in seq for the first segment.
	for i := range 5 {
		pl := vp8Delta
		if i == 0 {
			pl = vp8Key
		}
		feed(t, r, 2, uint16(500+i), uint32(i*3000), append(append([]byte(nil), pl...), byte(i)))
	}
	d.SetTargetLayer(0)
	feed(t, r, 0, 9000, 123, append(append([]byte(nil), vp8Key...), 'q')) // switch: out seq 505
	feed(t, r, 0, 9001, 123, []byte{0x00, 'r'})
	sent := w.packets()
	if len(sent) != 7 || sent[5].seq != 505 {
		t.Fatalf("unexpected stream %+v", sent)
	}

	d.handleRTCP(rtcpBytes(t, &rtcp.TransportLayerNack{
		MediaSSRC: 77,
		Nacks:     []rtcp.NackPair{{PacketID: 502, LostPackets: 0b1000}, {PacketID: 506}, {PacketID: 9999}},
	}))
	re := w.packets()[7:]
	// NackPair{502, bit3} asks for 502 and 506; {506} asks again and is suppressed (resent
	// within the window); 9999 was never sent.
	if len(re) != 2 || re[0].seq != 502 || re[1].seq != 506 {
		t.Fatalf("retransmitted %+v, want 502 and 506 once each", re)
	}
	for _, p := range re {
		orig := sent[int(p.seq-500)]
		if !bytes.Equal(p.payload, orig.payload) || p.ts != orig.ts || p.ssrc != 77 {
			t.Fatalf("retransmission of %d = %+v, original %+v", p.seq, p, orig)
		}
	}
	st := d.Stats()
	if st.NACKsAnswered != 2 || st.NACKsSuppressed != 1 || st.NACKsMissed != 1 || st.NACKsReceived != 4 {
		t.Fatalf("stats %+v", st)
	}
	if want := uint64(len(sent[2].payload) + len(sent[6].payload) + 24); st.RetransmitBytes != want {
		t.Fatalf("retransmit bytes %d, want %d", st.RetransmitBytes, want)
	}
}

func TestSnapshotChurnDuringForwarding(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := testReceiver(t, opusParams(), ReceiverOptions{FanoutThreshold: 4, FanoutWorkers: 2}, 0)
	stable := &fakeWriter{}
	boundDownTrack(t, r, stable, 1)

	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the "actor": adds and removes subscribers
		defer wg.Done()
		var ds []*DownTrack
		for i := 0; !stop.Load(); i++ {
			if len(ds) < 8 {
				ds = append(ds, boundDownTrack(t, r, &fakeWriter{}, uint32(10+i)))
			} else {
				r.RemoveDownTrack(ds[0])
				ds[0].Close()
				ds = ds[1:]
			}
		}
	}()
	const n = 3000
	for i := range n {
		feed(t, r, 0, uint16(i), uint32(i*960), []byte{0xfc, 1, 2, 3})
	}
	stop.Store(true)
	wg.Wait()
	r.Close()
	// Writers may drop under overload; the serial/worker handover must not
	// lose the stable subscriber entirely nor duplicate packets.
	if c := stable.count(); c == 0 || c > n {
		t.Fatalf("stable subscriber got %d of %d", c, n)
	}
}

func TestReceiverCloseStopsWorkers(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := testReceiver(t, vp8Params(), ReceiverOptions{FanoutThreshold: 2, FanoutWorkers: 3}, 0)
	ws := make([]*fakeWriter, 6)
	for i := range ws {
		ws[i] = &fakeWriter{}
		boundDownTrack(t, r, ws[i], uint32(i+1))
	}
	for i := range 100 {
		pl := vp8Delta
		if i == 0 {
			pl = vp8Key
		}
		feed(t, r, 0, uint16(i), uint32(i*3000), pl)
	}
	// Close drops what is still queued, so let the writers catch up first.
	deadline := time.Now().Add(10 * time.Second)
	for _, w := range ws {
		for w.count() < 100 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	r.Close()
	r.Close() // idempotent
	if r.fan.Load() == nil {
		t.Fatal("fan-out pool was never used")
	}
	for i, w := range ws {
		if w.count() == 0 {
			t.Fatalf("subscriber %d got nothing", i)
		}
	}
}

func TestWriteErrorsAreCountedAndFinal(t *testing.T) {
	r := testReceiver(t, opusParams(), ReceiverOptions{}, 0)
	defer r.Close()
	w := &fakeWriter{err: errClosedPipeForTest}
	d := boundDownTrack(t, r, w, 1)
	failed := make(chan error, 1)
	d.OnWriteFailed(func(err error) { failed <- err })
	for i := range 5 {
		feed(t, r, 0, uint16(i), 0, []byte{1})
	}
	<-failed
	if st := d.Stats(); st.WriteErrors != 1 || st.Packets != 0 {
		t.Fatalf("stats %+v: writes should stop after a closed pipe", st)
	}
}

func TestAudioLevel(t *testing.T) {
	r := testReceiver(t, opusParams(), ReceiverOptions{}, 0)
	defer r.Close()
	if _, active := r.AudioLevel(); active {
		t.Fatal("active before any packet")
	}
	now := nanotime()
	for range 50 {
		r.audio.observe(0x80|10, now) // V bit set, -10 dBov
	}
	lvl, active := r.AudioLevel()
	if !active || lvl < 0.3 || lvl > 0.33 {
		t.Fatalf("level %v active %v, want ~0.316 active", lvl, active)
	}
	var a audioLevel
	a.observe(127, now)
	if l, act := a.get(now); act || l != 0 {
		t.Fatalf("silence gave %v %v", l, act)
	}
}
