package media

import (
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
)

// benchWriter marshals like pion does before SRTP and counts; no locks, so
// the figures show our path rather than the fake's.
type benchWriter struct {
	scratch [maxPacketSize]byte
	total   *atomic.Int64
}

func (w *benchWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	n, err := h.MarshalTo(w.scratch[:])
	if err != nil {
		return 0, err
	}
	n += copy(w.scratch[n:], payload)
	w.total.Add(1)
	return n, nil
}

func (w *benchWriter) Write(b []byte) (int, error) { return len(b), nil }

// benchPacket is a 1200-byte VP8 keyframe-start payload in a 1212-byte RTP
// packet: a full-size video packet, the common case on a busy track.
func benchPacket() (rtp.Header, []byte) {
	payload := make([]byte, 1200)
	copy(payload, vp8Key)
	return rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 1, Timestamp: 1, SSRC: 1000}, payload
}

// BenchmarkMarshalBaseline is one raw marshal of the benchmark packet: the
// unavoidable cost of a delivery before encryption. Fan-out figures per
// delivery divide by this.
func BenchmarkMarshalBaseline(b *testing.B) {
	h, payload := benchPacket()
	var buf [maxPacketSize]byte
	b.ReportAllocs()
	b.SetBytes(int64(len(payload) + 12))
	for i := 0; b.Loop(); i++ {
		h.SequenceNumber = uint16(i)
		n, err := h.MarshalTo(buf[:])
		if err != nil {
			b.Fatal(err)
		}
		copy(buf[n:], payload)
	}
}

// BenchmarkFanout measures one upstream packet through the whole forwarder
// path (pooled packet, parse, keyframe check, cache, snapshot loop, munge,
// marshal in the fake writer) to subs subscribers. ns/op is per upstream
// packet; ns/delivery divides by subs. The "workers" variants go through the
// writer pool and wait for every delivery of a packet before the next, like
// paced media, so they include the goroutine wake-ups.
func BenchmarkFanout(b *testing.B) {
	for _, c := range []struct {
		subs      int
		threshold int
		name      string
	}{
		{1, -1, "subs=1"},
		{10, -1, "subs=10"},
		{100, -1, "subs=100"},
		{100, 16, "subs=100/workers=2"},
	} {
		b.Run(c.name, func(b *testing.B) {
			benchFanout(b, c.subs, c.threshold)
		})
	}
}

func benchFanout(b *testing.B, subs, threshold int) {
	r := testReceiver(b, vp8Params(), ReceiverOptions{FanoutThreshold: threshold, FanoutWorkers: 2}, 0)
	defer r.Close()
	var total atomic.Int64
	for i := range subs {
		d := NewDownTrack(r, r.opts.Codec.RTPCodecCapability, "TR_x", "PA_p|TR_x")
		ctx := &fakeCtx{codecs: []webrtc.RTPCodecParameters{r.opts.Codec}, ssrc: webrtc.SSRC(i + 1), w: &benchWriter{total: &total}}
		if _, err := d.Bind(ctx); err != nil {
			b.Fatal(err)
		}
		r.AddDownTrack(d)
	}
	h, payload := benchPacket()
	var raw [maxPacketSize]byte
	l := r.layers[0].Load()
	step := func(i int) {
		h.SequenceNumber = uint16(i)
		h.Timestamp = uint32(i) * 3000
		n, _ := h.MarshalTo(raw[:])
		n += copy(raw[n:], payload)
		p := getPacket()
		copy(p.buf[:], raw[:n]) // stands in for TrackRemote.Read
		if err := p.parse(n); err != nil {
			b.Fatal(err)
		}
		r.ingest(l, p)
		p.release()
	}
	async := threshold >= 0 && subs > threshold
	want := int64(0)
	wait := func() {
		want += int64(subs)
		for total.Load() < want {
			runtime.Gosched()
		}
	}
	// Warm the pool, the cache ring and the header slices.
	for i := range 2048 {
		step(i)
		if async {
			wait()
		}
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(payload) + 12))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step(2048 + i)
		if async {
			wait()
		}
	}
	b.StopTimer()
	if !async && total.Load() != int64(subs)*int64(b.N+2048) {
		b.Fatalf("delivered %d, want %d", total.Load(), subs*(b.N+2048))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(subs), "ns/delivery")
}
