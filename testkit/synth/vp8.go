package synth

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/actor-sfu/livekit-server/transport/lkclient/lkmedia"
)

// VP8 bitstream sizes (RFC 6386 §9.1).
const (
	vp8TagLen       = 3
	vp8KeyHeaderLen = 7 // start code (3) + width (2) + height (2)
	vp8MaxPartSize  = 1<<19 - 1
)

var vp8StartCode = [3]byte{0x9d, 0x01, 0x2a}

// VP8Generator makes synthetic VP8 frames: a correct frame tag, a keyframe
// header (start code and dimensions) every KeyframeInterval frames, and a body
// that carries a frame counter plus deterministic filler. Decoders would not
// render them, but every SFU-level parser (keyframe detection, dimensions,
// depacketizers) accepts them, and receivers can verify them byte for byte
// with ParseSyntheticVP8.
//
// Next must be called from one goroutine; ForceKeyframe is safe from any.
type VP8Generator struct {
	width, height    uint16
	frameSize        int
	keyframeInterval uint64
	next             uint64
	forceKey         atomic.Bool
}

// MinVP8FrameSize is the smallest frame size NewVP8Generator accepts.
const MinVP8FrameSize = vp8TagLen + vp8KeyHeaderLen + syntheticHeaderLen

// NewVP8Generator returns a generator of frameSize-byte frames (raised to
// MinVP8FrameSize, capped so the partition size fits the 19-bit field) with
// a keyframe every keyframeInterval frames (<= 0: only the first frame).
func NewVP8Generator(width, height, frameSize, keyframeInterval int) *VP8Generator {
	frameSize = max(frameSize, MinVP8FrameSize)
	frameSize = min(frameSize, vp8MaxPartSize)
	var ki uint64
	if keyframeInterval > 0 {
		ki = uint64(keyframeInterval)
	}
	return &VP8Generator{
		width: uint16(width) & 0x3fff, height: uint16(height) & 0x3fff,
		frameSize: frameSize, keyframeInterval: ki,
	}
}

// ForceKeyframe makes the next frame a keyframe (call it on PLI/FIR).
func (g *VP8Generator) ForceKeyframe() { g.forceKey.Store(true) }

// Count is the number of frames generated so far; the next frame carries this counter.
func (g *VP8Generator) Count() uint64 { return g.next }

// Next returns a new frame; the caller owns it.
func (g *VP8Generator) Next() []byte {
	n := g.next
	g.next++
	key := n == 0 || (g.keyframeInterval > 0 && n%g.keyframeInterval == 0)
	if g.forceKey.Swap(false) {
		key = true
	}
	return BuildVP8Frame(n, key, g.width, g.height, g.frameSize)
}

// BuildVP8Frame makes one synthetic frame of size bytes (at least
// MinVP8FrameSize) carrying counter n.
func BuildVP8Frame(n uint64, key bool, width, height uint16, size int) []byte {
	size = max(size, MinVP8FrameSize)
	frame := make([]byte, size)
	hdr := vp8TagLen
	if key {
		hdr += vp8KeyHeaderLen
	}
	// Frame tag: bit 0 = !keyframe, bits 1-3 version 0, bit 4 show_frame, bits 5-23 first partition size.
	tag := uint32(size-hdr)<<5 | 1<<4
	if !key {
		tag |= 1
	}
	frame[0], frame[1], frame[2] = byte(tag), byte(tag>>8), byte(tag>>16)
	if key {
		copy(frame[3:6], vp8StartCode[:])
		binary.LittleEndian.PutUint16(frame[6:8], width&0x3fff)
		binary.LittleEndian.PutUint16(frame[8:10], height&0x3fff)
	}
	putSyntheticBody(frame[hdr:], n)
	return frame
}

// ParseSyntheticVP8 verifies a whole frame made by VP8Generator and returns its
// counter and header. Any changed byte makes it fail.
func ParseSyntheticVP8(frame []byte) (uint64, lkmedia.VP8Header, error) {
	h, err := lkmedia.ParseVP8Header(frame)
	if err != nil {
		return 0, h, err
	}
	n, err := parseSyntheticBody(frame[h.HeaderLen:])
	return n, h, err
}
