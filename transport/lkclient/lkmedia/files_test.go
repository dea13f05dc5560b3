package lkmedia_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/actor-sfu/livekit-server/testkit/synth"
	"github.com/actor-sfu/livekit-server/transport/lkclient/lkmedia"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v3/pkg/media/ivfwriter"
	"github.com/pion/webrtc/v3/pkg/media/oggwriter"
)

func TestIVFRoundTripWithPionWriter(t *testing.T) {
	g := synth.NewVP8Generator(320, 240, 1800, 4)
	var buf bytes.Buffer
	w, err := ivfwriter.NewWith(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	pk := rtp.NewPacketizer(1200, 96, 1, &codecs.VP8Payloader{}, rtp.NewRandomSequencer(), 90000)
	for i := 0; i < 8; i++ {
		f := g.Next()
		frames = append(frames, f)
		for _, p := range pk.Packetize(f, 3000) {
			if err := w.WriteRTP(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	info, got, err := lkmedia.ParseIVF(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if info.FourCC != "VP80" || len(got) != len(frames) {
		t.Fatalf("info %+v, %d frames", info, len(got))
	}
	for i := range frames {
		if !bytes.Equal(got[i].Data, frames[i]) {
			t.Fatalf("frame %d differs", i)
		}
	}
}

func TestOggRoundTripWithPionWriter(t *testing.T) {
	g := synth.NewOpusGenerator(80)
	var buf bytes.Buffer
	w, err := oggwriter.NewWith(&buf, 48000, 1)
	if err != nil {
		t.Fatal(err)
	}
	var packets [][]byte
	for i := 0; i < 10; i++ {
		p := g.Next()
		packets = append(packets, p)
		if err := w.WriteRTP(&rtp.Packet{Header: rtp.Header{Timestamp: uint32(i * 960), SequenceNumber: uint16(i)}, Payload: p}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	info, got, err := lkmedia.ParseOgg(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if info.Channels != 1 || len(got) != len(packets) {
		t.Fatalf("info %+v, %d packets", info, len(got))
	}
	for i := range packets {
		if !bytes.Equal(got[i].Data, packets[i]) || got[i].Duration != 20*time.Millisecond {
			t.Fatalf("packet %d differs", i)
		}
	}
}
