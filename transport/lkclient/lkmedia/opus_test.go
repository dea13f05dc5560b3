package lkmedia

import "testing"

func TestOpusPacketDuration(t *testing.T) {
	tests := []struct {
		p    []byte
		want string
	}{
		{[]byte{0xf8}, "20ms"},        // CELT FB 20 ms, one frame
		{[]byte{0x78}, "20ms"},        // config 15: hybrid FB 20 ms
		{[]byte{0x08 | 1}, "40ms"},    // config 1 (SILK NB 20 ms), two frames
		{[]byte{0x03 << 3}, "60ms"},   // config 3 SILK NB 60 ms
		{[]byte{0xf8 | 3, 3}, "60ms"}, // code 3 with 3 frames
		{nil, "0s"},
	}
	for _, tt := range tests {
		if got := OpusPacketDuration(tt.p).String(); got != tt.want {
			t.Errorf("% x: %s, want %s", tt.p, got, tt.want)
		}
	}
}
