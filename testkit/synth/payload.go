package synth

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// syntheticMagic starts every synthetic payload body, after any codec header.
var syntheticMagic = [4]byte{'L', 'K', 'S', '1'}

// syntheticHeaderLen is the magic plus the 8-byte big-endian counter.
const syntheticHeaderLen = 4 + 8

// ErrNotSynthetic is returned when a payload was not made by this package's
// generators (or was altered on the way).
var ErrNotSynthetic = errors.New("synth: not a synthetic payload")

// fillByte is the deterministic filler at offset i of the body of frame n.
// It depends on both, so a frame delivered under the wrong counter, truncated
// or corrupted does not verify.
func fillByte(n uint64, i int) byte {
	return byte(n*31 + uint64(i)*7 + uint64(i>>8))
}

// putSyntheticBody writes magic, counter and filler into b (len(b) >= syntheticHeaderLen).
func putSyntheticBody(b []byte, n uint64) {
	copy(b, syntheticMagic[:])
	binary.BigEndian.PutUint64(b[4:], n)
	for i := syntheticHeaderLen; i < len(b); i++ {
		b[i] = fillByte(n, i)
	}
}

// parseSyntheticBody checks a body written by putSyntheticBody and returns its counter.
func parseSyntheticBody(b []byte) (uint64, error) {
	if len(b) < syntheticHeaderLen || [4]byte(b[:4]) != syntheticMagic {
		return 0, ErrNotSynthetic
	}
	n := binary.BigEndian.Uint64(b[4:])
	for i := syntheticHeaderLen; i < len(b); i++ {
		if b[i] != fillByte(n, i) {
			return n, fmt.Errorf("frame %d: byte %d is %#x, want %#x: %w", n, i, b[i], fillByte(n, i), ErrNotSynthetic)
		}
	}
	return n, nil
}
