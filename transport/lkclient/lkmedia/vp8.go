package lkmedia

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// VP8 bitstream constants (RFC 6386 §9.1).
const (
	vp8TagLen       = 3
	vp8KeyHeaderLen = 7 // start code (3) + width (2) + height (2)
)

var vp8StartCode = [3]byte{0x9d, 0x01, 0x2a}

// ErrBadVP8 is returned for frames whose VP8 header does not parse.
var ErrBadVP8 = errors.New("lkmedia: malformed VP8 frame")

// VP8Header is the uncompressed data chunk at the start of every VP8 frame.
type VP8Header struct {
	Keyframe      bool
	Version       uint8
	ShowFrame     bool
	FirstPartSize uint32
	// Width and Height are set for keyframes only (scaling bits stripped).
	Width, Height uint16
	// HeaderLen is 10 for keyframes and 3 otherwise: where the first partition starts.
	HeaderLen int
}

// ParseVP8Header decodes the frame tag (and, for keyframes, the start code and
// dimensions) of a whole VP8 frame.
func ParseVP8Header(frame []byte) (VP8Header, error) {
	if len(frame) < vp8TagLen {
		return VP8Header{}, fmt.Errorf("%d bytes: %w", len(frame), ErrBadVP8)
	}
	tag := uint32(frame[0]) | uint32(frame[1])<<8 | uint32(frame[2])<<16
	h := VP8Header{
		Keyframe:      tag&1 == 0,
		Version:       uint8(tag>>1) & 7,
		ShowFrame:     tag>>4&1 == 1,
		FirstPartSize: tag >> 5,
		HeaderLen:     vp8TagLen,
	}
	if h.Keyframe {
		if len(frame) < vp8TagLen+vp8KeyHeaderLen {
			return h, fmt.Errorf("keyframe of %d bytes: %w", len(frame), ErrBadVP8)
		}
		if [3]byte(frame[3:6]) != vp8StartCode {
			return h, fmt.Errorf("keyframe start code % x: %w", frame[3:6], ErrBadVP8)
		}
		h.Width = binary.LittleEndian.Uint16(frame[6:8]) & 0x3fff
		h.Height = binary.LittleEndian.Uint16(frame[8:10]) & 0x3fff
		h.HeaderLen = vp8TagLen + vp8KeyHeaderLen
	}
	if int(h.FirstPartSize) > len(frame)-h.HeaderLen {
		return h, fmt.Errorf("first partition %d bytes in a %d-byte frame: %w", h.FirstPartSize, len(frame), ErrBadVP8)
	}
	return h, nil
}

// IsVP8Keyframe reports whether a whole VP8 frame is a keyframe with a valid start code.
func IsVP8Keyframe(frame []byte) bool {
	h, err := ParseVP8Header(frame)
	return err == nil && h.Keyframe
}
