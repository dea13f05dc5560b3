package media

import (
	"testing"

	"github.com/pion/rtcp"
)

// Every packet in, every delivery out, gaps, NACKs and PLIs land in the
// shared Counters, summed over the receivers and DownTracks that use them.
func TestCountersAggregateReceiversAndDownTracks(t *testing.T) {
	c := &Counters{}
	r1 := testReceiver(t, vp8Params(), ReceiverOptions{Counters: c}, 0)
	defer r1.Close()
	r2 := testReceiver(t, opusParams(), ReceiverOptions{Counters: c}, 0)
	defer r2.Close()
	d1 := boundDownTrack(t, r1, &fakeWriter{}, 1)
	boundDownTrack(t, r1, &fakeWriter{}, 2)
	boundDownTrack(t, r2, &fakeWriter{}, 3)

	payload := append([]byte(nil), vp8Key...)
	feed(t, r1, 0, 1, 3000, payload)
	feed(t, r1, 0, 2, 6000, vp8Delta)
	feed(t, r1, 0, 5, 9000, vp8Delta) // 3 and 4 lost
	for i := range 128 {
		feed(t, r2, 0, uint16(10+i), uint32(i*960), []byte{0xfc, byte(i)})
	}
	d1.handleRTCP(rtcpBytes(t,
		&rtcp.PictureLossIndication{MediaSSRC: 1},
		&rtcp.TransportLayerNack{MediaSSRC: 1, Nacks: []rtcp.NackPair{{PacketID: 1, LostPackets: 0b1}}}, // 2 seqs
	))

	s := c.Snapshot()
	want := CounterSnapshot{
		PacketsIn:  3 + 128,
		BytesIn:    uint64(len(payload)+12+2*(len(vp8Delta)+12)) + 128*(2+12),
		PacketsOut: 3*2 + 128,
		BytesOut:   2*uint64(len(payload)+12+2*(len(vp8Delta)+12)) + 128*(2+12),
		Lost:       2,
		NACKs:      2,
		PLIsIn:     1,
	}
	got := s
	got.PLIsOut, got.LatencyCounts, got.LatencySum = 0, want.LatencyCounts, 0
	if got != want {
		t.Errorf("snapshot\n got %+v\nwant %+v", got, want)
	}
	if s.PLIsOut == 0 {
		t.Error("no keyframe request counted upstream")
	}
	// One sample per 64 deliveries of a DownTrack: the audio one sent 128.
	if n := s.LatencyCount(); n != 2 {
		t.Errorf("latency samples %d, want 2", n)
	}
}

// Receivers made without Counters still count, privately.
func TestReceiverWithoutCounters(t *testing.T) {
	r := testReceiver(t, opusParams(), ReceiverOptions{}, 0)
	defer r.Close()
	feed(t, r, 0, 1, 960, []byte{0xfc})
	if got := r.counters.Snapshot().PacketsIn; got != 1 {
		t.Errorf("packets in %d", got)
	}
}

func TestLatencyHistogramBuckets(t *testing.T) {
	var ctr Counters
	ctr.latency.observe(5_000)      // 5 µs   → first bucket
	ctr.latency.observe(10_000)     // 10 µs  → first bucket (bounds are inclusive)
	ctr.latency.observe(300_000)    // 300 µs → 500 µs bucket
	ctr.latency.observe(int64(1e9)) // 1 s    → +Inf
	c := ctr.Snapshot()
	b := LatencyBuckets()
	if c.LatencyCounts[0] != 2 || c.LatencyCounts[len(b)] != 1 {
		t.Errorf("counts %v", c.LatencyCounts)
	}
	for i, v := range b {
		if v == 500e-6 && c.LatencyCounts[i] != 1 {
			t.Errorf("500µs bucket %d", c.LatencyCounts[i])
		}
	}
}
