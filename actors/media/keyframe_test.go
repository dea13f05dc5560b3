package media

import "testing"

func TestIsKeyframeStart(t *testing.T) {
	tests := []struct {
		name string
		k    codecKind
		b    []byte
		want bool
	}{
		{"vp8 key, no ext", codecVP8, []byte{0x10, 0x00}, true},
		{"vp8 delta", codecVP8, []byte{0x10, 0x01}, false},
		{"vp8 not start", codecVP8, []byte{0x00, 0x00}, false},
		{"vp8 partition 1", codecVP8, []byte{0x11, 0x00}, false},
		{"vp8 key, 15-bit picture id", codecVP8, []byte{0x90, 0x80, 0x81, 0x23, 0x00}, true},
		{"vp8 delta, 15-bit picture id", codecVP8, []byte{0x90, 0x80, 0x81, 0x23, 0x01}, false},
		{"vp8 key, 7-bit pid + tl0 + tid", codecVP8, []byte{0x90, 0xe0, 0x12, 0x05, 0x40, 0x00}, true},
		{"vp8 delta, 7-bit pid + tl0 + tid", codecVP8, []byte{0x90, 0xe0, 0x12, 0x05, 0x40, 0x01}, false},
		{"vp8 truncated", codecVP8, []byte{0x90, 0x80}, false},
		{"vp8 empty", codecVP8, nil, false},
		{"h264 idr", codecH264, []byte{0x65, 0x88}, true},
		{"h264 sps", codecH264, []byte{0x67, 0x42}, true},
		{"h264 non-idr", codecH264, []byte{0x41, 0x9a}, false},
		{"h264 stap-a sps+pps", codecH264, []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce}, true},
		{"h264 stap-a other", codecH264, []byte{0x78, 0x00, 0x02, 0x06, 0x05, 0x00, 0x02, 0x41, 0x00}, false},
		{"h264 stap-a bad size", codecH264, []byte{0x78, 0x00, 0x09, 0x67}, false},
		{"h264 fu-a idr start", codecH264, []byte{0x7c, 0x85, 0x00}, true},
		{"h264 fu-a idr middle", codecH264, []byte{0x7c, 0x05, 0x00}, false},
		{"h264 fu-a non-idr start", codecH264, []byte{0x7c, 0x81, 0x00}, false},
		{"vp9 key", codecVP9, []byte{0x88, 0x01}, true},             // I, B; 7-bit pid
		{"vp9 inter", codecVP9, []byte{0xc8, 0x01}, false},          // P set
		{"vp9 not begin", codecVP9, []byte{0x80, 0x01}, false},      // B clear
		{"vp9 key sid1", codecVP9, []byte{0xa8, 0x01, 0x02}, false}, // L with sid=1
		{"vp9 key sid0", codecVP9, []byte{0xa8, 0x01, 0x00}, true},
		{"av1 new sequence", codecAV1, []byte{0x18}, true},
		{"av1 other", codecAV1, []byte{0x10}, false},
		{"opus always", codecOpus, []byte{0xfc}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isKeyframeStart(tt.k, tt.b); got != tt.want {
				t.Fatalf("got %v want %v", got, tt.want)
			}
		})
	}
}
