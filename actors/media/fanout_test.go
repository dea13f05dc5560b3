package media

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

// A subscriber whose write never returns must not starve the others: its
// writer is replaced and the rest of its share keeps receiving.
func TestFanoutIsolatesBlockedSubscriber(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := testReceiver(t, opusParams(), ReceiverOptions{
		FanoutThreshold: 4, FanoutWorkers: 2, stallTimeout: 20 * time.Millisecond,
	}, 0)
	blocked := &fakeWriter{block: make(chan struct{})}
	bd := boundDownTrack(t, r, blocked, 1)
	normal := make([]*fakeWriter, 20)
	for i := range normal {
		normal[i] = &fakeWriter{}
		boundDownTrack(t, r, normal[i], uint32(i+2))
	}

	const n = 2000
	for i := range n {
		feed(t, r, 0, uint16(i), uint32(i*960), []byte{0xfc, byte(i)})
		// Paced roughly like media (not a timing assertion): a forwarder
		// faster than its writers would overflow healthy queues too.
		time.Sleep(100 * time.Microsecond)
	}
	// Wait for the writers to drain what is queued.
	deadline := time.Now().Add(10 * time.Second)
	for i := range normal {
		for normal[i].count() < n*99/100 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if c := normal[i].count(); c < n*99/100 {
			t.Fatalf("subscriber %d received %d of %d", i, c, n)
		}
	}
	if !bd.stalled.Load() {
		t.Fatal("blocked subscriber was not marked stalled")
	}
	close(blocked.block)
	r.Close()
}
