package lkmedia

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"
)

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
	dir := filepath.Join("..", "..", "..", "testkit", "testdata")
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
