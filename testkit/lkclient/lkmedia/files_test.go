package lkmedia

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v3/pkg/media/ivfwriter"
	"github.com/pion/webrtc/v3/pkg/media/oggwriter"
)

func TestIVFRoundTripWithPionWriter(t *testing.T) {
	g := NewVP8Generator(320, 240, 1800, 4)
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
	info, got, err := ParseIVF(buf.Bytes())
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
	g := NewOpusGenerator(80)
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
	info, got, err := ParseOgg(buf.Bytes())
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

func TestOggMultiplePacketsPerPage(t *testing.T) {
	// One page: lacing 255,10 (one 265-byte packet) and 3 (a second packet).
	page := []byte("OggS")
	page = append(page, make([]byte, 22)...)
	page = append(page, 3, 255, 10, 3)
	page = append(page, bytes.Repeat([]byte{1}, 265)...)
	page = append(page, 2, 2, 2)
	got, err := oggPackets(page)
	if err != nil || len(got) != 2 || len(got[0]) != 265 || len(got[1]) != 3 {
		t.Fatalf("%d packets, err %v", len(got), err)
	}
	if _, err := oggPackets(page[:30]); err == nil {
		t.Fatal("truncated page accepted")
	}
}

func TestTestdataFiles(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata")
	info, frames, err := LoadIVF(filepath.Join(dir, "vp8-320x240-15fps-3s.ivf"))
	if err != nil {
		t.Fatal(err)
	}
	if info.FourCC != "VP80" || info.Width != 320 || info.Height != 240 || len(frames) != 45 {
		t.Fatalf("ivf %+v with %d frames", info, len(frames))
	}
	keys := 0
	for i, f := range frames {
		h, err := ParseVP8Header(f.Data)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if h.Keyframe {
			keys++
			if h.Width != 320 || h.Height != 240 {
				t.Fatalf("keyframe %d: %dx%d", i, h.Width, h.Height)
			}
		}
		if f.Duration != time.Second/15 {
			t.Fatalf("frame %d lasts %v", i, f.Duration)
		}
	}
	if !IsVP8Keyframe(frames[0].Data) || keys != 3 {
		t.Fatalf("%d keyframes", keys)
	}
	oinfo, packets, err := LoadOgg(filepath.Join(dir, "opus-48k-mono-3s.ogg"))
	if err != nil {
		t.Fatal(err)
	}
	var total time.Duration
	for _, p := range packets {
		total += p.Duration
	}
	if oinfo.Channels != 1 || total < 2900*time.Millisecond || total > 3100*time.Millisecond {
		t.Fatalf("ogg %+v: %d packets, %v", oinfo, len(packets), total)
	}
}
