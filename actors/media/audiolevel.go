// This file holds the audio-level meter fed by the ssrc-audio-level header
// extension.
//
// Who writes what: the forwarder goroutine of the audio layer is the only
// writer; the room's speaker ticks read it through atomics.

package media

import (
	"math"
	"sync/atomic"
	"time"
)

const (
	// audioActiveDBov: packets at or louder than this count as speech. 40 dBov
	// is about 0.01 linear, quiet speech; the V bit from the sender is ignored
	// because not every client sets it.
	audioActiveDBov = 40
	// audioActiveHold is how long a speaker stays active after the last loud
	// packet, so that pauses between words do not flicker the indicator.
	audioActiveHold = 500 * time.Millisecond
	// audioSmoothing is the weight of a new packet in the moving average; at
	// 50 packets/s this gives a time constant of roughly 100 ms.
	audioSmoothing = 0.2
)

// dbovToLinear maps the 7-bit level of RFC 6464 (0 = loudest, 127 = silence)
// to 10^(-dBov/20), precomputed so the forwarder does no math per packet.
var dbovToLinear = func() (t [128]float32) {
	for i := range t {
		t[i] = float32(math.Pow(10, -float64(i)/20))
	}
	t[127] = 0
	return t
}()

// audioLevel smooths the ssrc-audio-level extension. observe is called by the
// single forwarder goroutine of an audio track; get may be called from
// anywhere, so the state is in atomics.
type audioLevel struct {
	smoothed   atomic.Uint32 // float32 bits
	lastActive atomic.Int64  // nanotime of the last loud packet, 0 = never
}

func (a *audioLevel) observe(dbov uint8, now int64) {
	dbov &= 0x7f
	prev := math.Float32frombits(a.smoothed.Load())
	next := prev + audioSmoothing*(dbovToLinear[dbov]-prev)
	a.smoothed.Store(math.Float32bits(next))
	if dbov <= audioActiveDBov {
		a.lastActive.Store(now)
	}
}

func (a *audioLevel) get(now int64) (float32, bool) {
	last := a.lastActive.Load()
	active := last != 0 && now-last < int64(audioActiveHold)
	return math.Float32frombits(a.smoothed.Load()), active
}
