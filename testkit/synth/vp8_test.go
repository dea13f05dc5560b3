package synth

import (
	"errors"
	"testing"

	"github.com/actor-sfu/livekit-server/transport/lkclient/lkmedia"
	"github.com/pion/rtp/codecs"
)

func TestVP8GeneratorFrames(t *testing.T) {
	tests := []struct {
		name           string
		size, interval int
		wantKey        []bool
		wantSize       int
		width, height  int
	}{
		{name: "interval 3", size: 100, interval: 3, wantKey: []bool{true, false, false, true, false, false, true}, wantSize: 100, width: 320, height: 240},
		{name: "only first", size: 50, interval: 0, wantKey: []bool{true, false, false, false}, wantSize: 50, width: 640, height: 360},
		{name: "tiny size raised", size: 1, interval: 1, wantKey: []bool{true, true}, wantSize: MinVP8FrameSize, width: 16, height: 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewVP8Generator(tt.width, tt.height, tt.size, tt.interval)
			for i, want := range tt.wantKey {
				f := g.Next()
				if len(f) != tt.wantSize {
					t.Fatalf("frame %d: %d bytes, want %d", i, len(f), tt.wantSize)
				}
				n, h, err := ParseSyntheticVP8(f)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if n != uint64(i) || h.Keyframe != want || !h.ShowFrame || h.Version != 0 {
					t.Fatalf("frame %d: counter %d header %+v, want key=%v", i, n, h, want)
				}
				if h.Keyframe && (int(h.Width) != tt.width || int(h.Height) != tt.height) {
					t.Fatalf("frame %d: %dx%d", i, h.Width, h.Height)
				}
				if int(h.FirstPartSize) != len(f)-h.HeaderLen {
					t.Fatalf("frame %d: first partition %d of %d", i, h.FirstPartSize, len(f))
				}
			}
		})
	}
}

func TestVP8GeneratorForceKeyframe(t *testing.T) {
	g := NewVP8Generator(320, 240, 200, 0)
	g.Next()
	if lkmedia.IsVP8Keyframe(g.Next()) {
		t.Fatal("frame 1 is a keyframe")
	}
	g.ForceKeyframe()
	if !lkmedia.IsVP8Keyframe(g.Next()) {
		t.Fatal("forced frame is not a keyframe")
	}
	if lkmedia.IsVP8Keyframe(g.Next()) {
		t.Fatal("force lasted more than one frame")
	}
}

func TestParseSyntheticVP8DetectsCorruption(t *testing.T) {
	f := BuildVP8Frame(7, false, 0, 0, 300)
	f[200] ^= 1
	if _, _, err := ParseSyntheticVP8(f); !errors.Is(err, ErrNotSynthetic) {
		t.Fatalf("corrupted frame: err=%v", err)
	}
	if _, err := lkmedia.ParseVP8Header([]byte{0x10}); !errors.Is(err, lkmedia.ErrBadVP8) {
		t.Fatalf("short frame: err=%v", err)
	}
	bad := BuildVP8Frame(0, true, 1, 1, 100)
	bad[3] = 0
	if _, err := lkmedia.ParseVP8Header(bad); !errors.Is(err, lkmedia.ErrBadVP8) {
		t.Fatalf("bad start code: err=%v", err)
	}
}

// TestVP8GeneratorThroughPionPacketizer checks the frames survive pion's own
// VP8 payloader and depacketizer, and that the RTP-level keyframe bit
// (P bit of the first partition's first byte) is what receivers expect.
func TestVP8GeneratorThroughPionPacketizer(t *testing.T) {
	g := NewVP8Generator(320, 240, 3000, 2)
	pay := &codecs.VP8Payloader{EnablePictureID: true}
	for i := 0; i < 4; i++ {
		frame := g.Next()
		payloads := pay.Payload(1200, frame)
		if len(payloads) < 3 {
			t.Fatalf("frame %d: %d packets", i, len(payloads))
		}
		var got []byte
		for j, p := range payloads {
			var d codecs.VP8Packet
			body, err := d.Unmarshal(p)
			if err != nil {
				t.Fatalf("depacketize: %v", err)
			}
			if head := d.IsPartitionHead(p); head != (j == 0) {
				t.Fatalf("packet %d: partition head %v", j, head)
			}
			if j == 0 && (body[0]&1 == 0) != (i%2 == 0) {
				t.Fatalf("frame %d: RTP keyframe bit wrong", i)
			}
			got = append(got, body...)
		}
		if n, _, err := ParseSyntheticVP8(got); err != nil || n != uint64(i) {
			t.Fatalf("frame %d: counter %d err %v", i, n, err)
		}
	}
}

func TestOpusGenerator(t *testing.T) {
	g := NewOpusGenerator(60)
	for i := 0; i < 3; i++ {
		p := g.Next()
		if len(p) != 60 || lkmedia.OpusPacketDuration(p) != OpusFrameDuration {
			t.Fatalf("packet %d: len %d duration %v", i, len(p), lkmedia.OpusPacketDuration(p))
		}
		if n, err := ParseSyntheticOpus(p); err != nil || n != uint64(i) {
			t.Fatalf("packet %d: counter %d err %v", i, n, err)
		}
	}
	if _, err := ParseSyntheticOpus([]byte{0x78, 1, 2}); !errors.Is(err, ErrNotSynthetic) {
		t.Fatalf("foreign packet: %v", err)
	}
}
