package lkmedia_test

import (
	"bytes"
	"math/rand"
	"testing"

	"github.com/actor-sfu/livekit-server/testkit/synth"
	"github.com/actor-sfu/livekit-server/transport/lkclient/lkmedia"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// packetize splits frames into RTP packets like a sender would.
func packetize(t *testing.T, frames [][]byte, mtu uint16) []*rtp.Packet {
	t.Helper()
	p := rtp.NewPacketizer(mtu, 96, 1234, &codecs.VP8Payloader{EnablePictureID: true}, rtp.NewFixedSequencer(65530), 90000)
	var out []*rtp.Packet
	for _, f := range frames {
		out = append(out, p.Packetize(f, 3000)...)
	}
	return out
}

func TestVP8AssemblerInOrderWithSeqWrap(t *testing.T) {
	g := synth.NewVP8Generator(320, 240, 2500, 5)
	var frames [][]byte
	for i := 0; i < 10; i++ {
		frames = append(frames, g.Next())
	}
	a := lkmedia.NewVP8Assembler()
	var got []lkmedia.Frame
	for _, p := range packetize(t, frames, 1000) {
		got = append(got, a.Push(p)...)
	}
	if len(got) != len(frames) {
		t.Fatalf("%d frames, want %d (stats %+v)", len(got), len(frames), a.Stats())
	}
	for i, f := range got {
		if !bytes.Equal(f.Data, frames[i]) {
			t.Fatalf("frame %d differs", i)
		}
		if f.Keyframe != (i%5 == 0) || f.Packets != 3 {
			t.Fatalf("frame %d: key %v packets %d", i, f.Keyframe, f.Packets)
		}
	}
}

func TestVP8AssemblerReorderDuplicateLoss(t *testing.T) {
	g := synth.NewVP8Generator(320, 240, 2500, 0)
	var frames [][]byte
	for i := 0; i < 6; i++ {
		frames = append(frames, g.Next())
	}
	pkts := packetize(t, frames, 1000) // 3 packets per frame
	// Reverse each frame's packets, duplicate the middle one before and after
	// completion, drop the middle packet of frame 2.
	var in []*rtp.Packet
	for i := 0; i < len(pkts); i += 3 {
		if i/3 == 2 {
			in = append(in, pkts[i+2], pkts[i])
			continue
		}
		in = append(in, pkts[i+2], pkts[i+1], pkts[i+1], pkts[i], pkts[i+1])
	}
	a := lkmedia.NewVP8Assembler()
	var got []lkmedia.Frame
	for _, p := range in {
		got = append(got, a.Push(p)...)
	}
	if len(got) != 5 {
		t.Fatalf("%d frames, want 5 (stats %+v)", len(got), a.Stats())
	}
	for _, f := range got {
		n, _, err := synth.ParseSyntheticVP8(f.Data)
		if err != nil || n == 2 {
			t.Fatalf("frame %d: %v", n, err)
		}
	}
	st := a.Stats()
	if st.Duplicates != 5 || st.Late != 5 || st.Incomplete != 1 || st.Frames != 5 {
		t.Fatalf("stats %+v", st)
	}
	// A late packet of the lost frame is ignored.
	if out := a.Push(pkts[7]); out != nil || a.Stats().Late != 6 {
		t.Fatalf("late packet: %v %+v", out, a.Stats())
	}
}

func TestVP8AssemblerShuffledWindow(t *testing.T) {
	g := synth.NewVP8Generator(320, 240, 5000, 10)
	var frames [][]byte
	for i := 0; i < 30; i++ {
		frames = append(frames, g.Next())
	}
	pkts := packetize(t, frames, 1200)
	r := rand.New(rand.NewSource(1))
	// Shuffle within windows of 4 packets: light reordering as on a real path.
	for i := 0; i+4 <= len(pkts); i += 4 {
		w := pkts[i : i+4]
		r.Shuffle(len(w), func(x, y int) { w[x], w[y] = w[y], w[x] })
	}
	a := lkmedia.NewVP8Assembler()
	var got []lkmedia.Frame
	for _, p := range pkts {
		got = append(got, a.Push(p)...)
	}
	// Frames come out in order; a frame completing after its successor is lost.
	last := -1
	for _, f := range got {
		n, _, err := synth.ParseSyntheticVP8(f.Data)
		if err != nil || int(n) <= last {
			t.Fatalf("frame %d after %d: %v", n, last, err)
		}
		last = int(n)
	}
	if st := a.Stats(); st.Frames+st.Incomplete != 30 || st.Frames < 20 {
		t.Fatalf("stats %+v", st)
	}
}

func TestVP8AssemblerRejectsGarbage(t *testing.T) {
	a := lkmedia.NewVP8Assembler()
	if out := a.Push(&rtp.Packet{Payload: nil}); out != nil || a.Stats().Invalid != 1 {
		t.Fatalf("%v %+v", out, a.Stats())
	}
}
