package media

import (
	"bytes"
	"testing"

	"github.com/pion/rtcp"
)

// vp8Frame is a one-packet VP8 frame with a full descriptor: 15-bit picture
// ID, TL0PICIDX and a TID byte, then a body tagged with layer and index.
func vp8Frame(key bool, pic uint16, tl0 uint8, layer, idx byte) []byte {
	body := byte(0x01) // P=1: inter frame
	if key {
		body = 0x00
	}
	return []byte{0x90, 0xe0, 0x80 | byte(pic>>8), byte(pic), tl0, 0x00, body, 0x9d, layer, idx}
}

// checkVP8Continuous asserts that every sent frame's picture ID and
// TL0PICIDX are exactly one more than the previous frame's, and returns the
// (layer, index) tags of the bodies in order.
func checkVP8Continuous(t *testing.T, got []sentPacket) [][2]byte {
	t.Helper()
	var tags [][2]byte
	var lastPic uint16
	var lastTL0 uint8
	for i, p := range got {
		pic, picLen, tl0, ok := vp8Fields(p.payload)
		if !ok || picLen != 2 || tl0 < 0 {
			t.Fatalf("packet %d: descriptor %x", i, p.payload)
		}
		id, _ := readPicID(p.payload, pic, picLen)
		if i > 0 && (id != (lastPic+1)&0x7fff || p.payload[tl0] != lastTL0+1) {
			t.Fatalf("packet %d: picture ID %d TL0 %d after %d/%d", i, id, p.payload[tl0], lastPic, lastTL0)
		}
		lastPic, lastTL0 = id, p.payload[tl0]
		tags = append(tags, [2]byte{p.payload[8], p.payload[9]})
	}
	return tags
}

// TestVP8LayerSwitchesKeepOneStream: a 3-layer simulcast source whose layers
// number their pictures independently (as encoders do) is switched
// high → low → high at keyframes. The subscriber sees one stream: sequence
// numbers and timestamps continuous, picture IDs and TL0PICIDX +1 per frame
// (also across the 15-bit wrap), every body unchanged, each switch exactly
// at the target layer's keyframe; a NACK for a rewritten packet is answered
// with the same rewritten descriptor.
func TestVP8LayerSwitchesKeepOneStream(t *testing.T) {
	r := testReceiver(t, vp8Params(), ReceiverOptions{}, 0, 1, 2)
	defer r.Close()
	w := &fakeWriter{record: true}
	d := boundDownTrack(t, r, w, 9)

	seq := [3]uint16{100, 20000, 65000}
	ts := [3]uint32{5, 1 << 30, 3 << 30}
	pic := [3]uint16{7, 30000, 0x7ff0} // layer 2 wraps its 15-bit picture ID
	tl0 := [3]uint8{3, 200, 250}
	frame := func(i int, keyOn int) { // keyOn: the layer with a keyframe, -1 none, 3 all
		for li := range 3 {
			key := keyOn == 3 || keyOn == li
			feed(t, r, li, seq[li], ts[li]+uint32(i*3000), vp8Frame(key, pic[li], tl0[li], byte(li), byte(i)))
			seq[li]++
			pic[li] = (pic[li] + 1) & 0x7fff
			tl0[li]++
		}
	}
	frame(0, 3) // starts on the highest layer
	for i := 1; i < 30; i++ {
		switch i {
		case 5:
			d.SetTargetLayer(0)
		case 15:
			d.SetTargetLayer(2)
		}
		key := -1
		switch i {
		case 8:
			key = 0
		case 12, 20:
			key = 2 // 12: not wanted yet; 20: completes the switch up
		}
		frame(i, key)
	}
	got := w.packets()
	checkContinuous(t, got)
	tags := checkVP8Continuous(t, got)
	// Layer 0 comes first in each round, so at frame 20 its frame goes out
	// before layer 2's keyframe switches up.
	var want [][2]byte
	for i := range 30 {
		switch {
		case i < 8 || i > 20:
			want = append(want, [2]byte{2, byte(i)})
		case i < 20:
			want = append(want, [2]byte{0, byte(i)})
		default:
			want = append(want, [2]byte{0, byte(i)}, [2]byte{2, byte(i)})
		}
	}
	if len(tags) != len(want) {
		t.Fatalf("sent %d frames, want %d", len(tags), len(want))
	}
	for i := range want {
		if tags[i] != want[i] {
			t.Fatalf("packet %d is (layer, frame) %v, want %v", i, tags[i], want[i])
		}
	}
	if st := d.Stats(); st.LayerSwitches != 2 || st.CurrentLayer != 2 {
		t.Fatalf("switches %d layer %d", st.LayerSwitches, st.CurrentLayer)
	}

	// NACK the last frame: layer 2 after two switches, so rewritten.
	last := got[len(got)-1]
	d.handleRTCP(rtcpBytes(t, &rtcp.TransportLayerNack{MediaSSRC: 9, Nacks: []rtcp.NackPair{{PacketID: last.seq}}}))
	again := w.packets()
	if len(again) != len(got)+1 || !bytes.Equal(again[len(again)-1].payload, last.payload) {
		t.Fatalf("retransmission %x, want %x", again[len(again)-1].payload, last.payload)
	}
}

// TestVP8ApplyShortAndPlain: descriptors without the fields, or cut short,
// pass through untouched; a 7-bit picture ID wraps within 7 bits.
func TestVP8ApplyShortAndPlain(t *testing.T) {
	buf := make([]byte, maxPacketSize)
	for _, in := range [][]byte{{}, {0x90}, {0x90, 0x80}, {0x10, 0x01}, vp8Key} {
		if out := vp8Apply(in, buf, 5, 5); !bytes.Equal(out, in) {
			t.Fatalf("%x became %x", in, out)
		}
	}
	in := []byte{0x90, 0xc0, 0x7e, 9, 0x01}
	out := vp8Apply(in, buf, 3, 1)
	if want := []byte{0x90, 0xc0, 0x01, 10, 0x01}; !bytes.Equal(out, want) {
		t.Fatalf("7-bit: %x, want %x", out, want)
	}
	if in[2] != 0x7e {
		t.Fatal("vp8Apply changed the shared input")
	}
}
