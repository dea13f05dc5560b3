package synth

import (
	"fmt"
	"time"
)

// OpusFrameDuration is the duration of each synthetic Opus packet.
const OpusFrameDuration = 20 * time.Millisecond

// opusTOC is a TOC byte for config 31 (CELT-only, fullband, 20 ms), mono, code 0 (one frame).
const opusTOC = 31 << 3

// MinOpusFrameSize is the smallest packet size NewOpusGenerator accepts.
const MinOpusFrameSize = 1 + syntheticHeaderLen

// OpusGenerator makes synthetic Opus packets: a valid TOC byte (one 20 ms
// CELT frame) followed by a counter and deterministic filler. Use
// ParseSyntheticOpus on the receiving side. Not safe for concurrent use.
type OpusGenerator struct {
	size int
	next uint64
}

// NewOpusGenerator returns a generator of size-byte packets (at least MinOpusFrameSize).
func NewOpusGenerator(size int) *OpusGenerator {
	return &OpusGenerator{size: max(size, MinOpusFrameSize)}
}

// Count is the number of packets generated so far.
func (g *OpusGenerator) Count() uint64 { return g.next }

// Next returns a new packet; the caller owns it.
func (g *OpusGenerator) Next() []byte {
	p := make([]byte, g.size)
	p[0] = opusTOC
	putSyntheticBody(p[1:], g.next)
	g.next++
	return p
}

// ParseSyntheticOpus verifies a packet made by OpusGenerator and returns its counter.
func ParseSyntheticOpus(p []byte) (uint64, error) {
	if len(p) == 0 || p[0] != opusTOC {
		return 0, fmt.Errorf("opus TOC: %w", ErrNotSynthetic)
	}
	return parseSyntheticBody(p[1:])
}
