package bench

import (
	"testing"

	"github.com/actor-sfu/livekit-server/testkit/synth"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// packetizeVP8 turns synthetic frames 0..frames-1 into RTP packets the way lkclient's publisher
// does (pion's VP8 payloader with picture IDs, 1200-byte MTU), one slice per frame.
func packetizeVP8(t *testing.T, frames, frameSize int) [][]*rtp.Packet {
	t.Helper()
	gen := synth.NewVP8Generator(1280, 720, frameSize, 10)
	pz := rtp.NewPacketizer(1200, 96, 0x1234, &codecs.VP8Payloader{EnablePictureID: true}, rtp.NewRandomSequencer(), 90000)
	out := make([][]*rtp.Packet, frames)
	for i := range out {
		out[i] = pz.Packetize(gen.Next(), 3000)
		if len(out[i]) < 2 {
			t.Fatalf("frame %d is %d packets; the test needs multi-packet frames", i, len(out[i]))
		}
	}
	return out
}

func TestProbeVideoLatencyAndLoss(t *testing.T) {
	const (
		frames  = 40
		period  = int64(33_000_000) // ns between frames
		latency = int64(2_000_000)  // ns from send to the last packet
		lost    = 17                // frame whose middle packet never arrives
	)
	pkts := packetizeVP8(t, frames, 6250)
	log := NewSendLog(frames + 10)
	p := NewProbe(true, log)
	for n, frame := range pkts {
		sent := int64(n+1) * period
		log.Record(uint64(n), sent)
		// Deliver the frame's packets with the last two swapped (reordering must not matter), the
		// final one arriving latency after the send.
		order := make([]*rtp.Packet, len(frame))
		copy(order, frame)
		k := len(order) - 1
		order[k-1], order[k] = order[k], order[k-1]
		for i, pkt := range order {
			if n == lost && pkt == frame[len(frame)/2] {
				continue
			}
			at := sent + latency*int64(i+1)/int64(len(order))
			p.OnPacket(pkt, at)
		}
	}

	w := p.Measure(5*period, 35*period) // frames 4..33
	if w.Expected != 30 {
		t.Fatalf("expected %d frames in the window, want 30", w.Expected)
	}
	if w.Received != 29 {
		t.Fatalf("received %d frames, want 29 (frame %d lost one packet)", w.Received, lost)
	}
	for _, l := range w.Latencies {
		if l != latency {
			t.Fatalf("latency %d ns, want %d (send to the frame's last packet)", l, latency)
		}
	}
	if got, want := p.Packets(), uint64(frames*len(pkts[0])-1); got > want+uint64(frames) || got < want-uint64(frames) {
		t.Fatalf("counted %d packets, want about %d", got, want)
	}
}

func TestProbeIgnoresFramesBeforeTheFirstArrival(t *testing.T) {
	pkts := packetizeVP8(t, 10, 3000)
	log := NewSendLog(10)
	p := NewProbe(true, log)
	for n, frame := range pkts {
		log.Record(uint64(n), int64(n+1)*1000)
		if n < 4 {
			continue // the subscriber joined at frame 4
		}
		for _, pkt := range frame {
			p.OnPacket(pkt, int64(n+1)*1000+10)
		}
	}
	w := p.Measure(0, 1<<62)
	if w.Expected != 6 || w.Received != 6 {
		t.Fatalf("got %d of %d frames, want 6 of 6: frames before the subscriber's first are not losses", w.Received, w.Expected)
	}
}

func TestProbeAudio(t *testing.T) {
	gen := synth.NewOpusGenerator(80)
	log := NewSendLog(100)
	p := NewProbe(false, log)
	for n := range 50 {
		sent := int64(n+1) * 20_000_000
		log.Record(uint64(n), sent)
		pkt := &rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(n)}, Payload: gen.Next()}
		if n == 30 {
			continue // lost
		}
		p.OnPacket(pkt, sent+500_000)
	}
	w := p.Measure(0, 1<<62)
	if w.Expected != 50 || w.Received != 49 {
		t.Fatalf("got %d of %d packets, want 49 of 50", w.Received, w.Expected)
	}
	if Percentile(w.Latencies, 50) != 500_000 {
		t.Fatalf("p50 %v, want 0.5 ms", Percentile(w.Latencies, 50))
	}
}

func TestPercentile(t *testing.T) {
	xs := []int64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	for _, c := range []struct {
		p    float64
		want int64
	}{{50, 5}, {90, 9}, {99, 10}, {100, 10}, {0, 1}} {
		if got := Percentile(append([]int64(nil), xs...), c.p); int64(got) != c.want {
			t.Errorf("p%v = %d, want %d", c.p, got, c.want)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Error("empty slice must give 0")
	}
}
