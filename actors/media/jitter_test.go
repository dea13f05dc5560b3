package media

import (
	"testing"
	"time"
)

// The RFC 3550 estimator: packets that arrive exactly on their timestamps' schedule show no
// jitter; arrivals alternating 5 ms early and late (|ΔD| = 10 ms every packet) converge to 10 ms.
func TestReceiverJitter(t *testing.T) {
	r := testReceiver(t, opusParams(), ReceiverOptions{}, 0)
	defer r.Close()
	l := r.layers[0].Load()
	const step = 20 * time.Millisecond
	at := func(i int, offset time.Duration) *packet {
		p := &packet{arrival: int64(time.Hour + time.Duration(i)*step + offset)}
		p.hdr.Timestamp = uint32(i * 960) // 20 ms at 48 kHz
		return p
	}
	for i := range 50 {
		r.updateJitter(l, at(i, 0))
	}
	if j := r.Stats().Jitter; j > time.Millisecond/10 {
		t.Fatalf("steady arrivals: jitter %v, want ~0", j)
	}
	for i := 50; i < 400; i++ {
		off := 5 * time.Millisecond
		if i%2 == 0 {
			off = -off
		}
		r.updateJitter(l, at(i, off))
	}
	if j := r.Stats().Jitter; j < 9*time.Millisecond || j > 11*time.Millisecond {
		t.Fatalf("±5 ms arrivals: jitter %v, want ~10 ms", j)
	}
	// A timestamp jump (new source, wrap) is not jitter.
	r.updateJitter(l, at(5_000_000, 0))
	if j := r.Stats().Jitter; j > 11*time.Millisecond {
		t.Fatalf("after a timestamp jump: jitter %v", j)
	}
}
