package media

import (
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
)

// sentPacket is what a fake writer saw.
type sentPacket struct {
	seq     uint16
	ts      uint32
	ssrc    uint32
	pt      uint8
	marker  bool
	payload []byte
}

// fakeWriter stands in for pion's TrackLocalWriter. It marshals like pion
// would before encrypting, so benchmark figures include that cost; record
// keeps copies for assertions (tests only: it allocates).
type fakeWriter struct {
	record bool
	block  chan struct{} // if non-nil, WriteRTP waits until it is closed
	err    error

	mu      sync.Mutex
	scratch [maxPacketSize]byte
	n       int
	sent    []sentPacket
}

func (w *fakeWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	if w.block != nil {
		<-w.block
	}
	if w.err != nil {
		return 0, w.err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	hn, err := h.MarshalTo(w.scratch[:])
	if err != nil {
		return 0, err
	}
	n := hn + copy(w.scratch[hn:], payload)
	w.n++
	if w.record {
		w.sent = append(w.sent, sentPacket{h.SequenceNumber, h.Timestamp, h.SSRC, h.PayloadType, h.Marker, append([]byte(nil), payload...)})
	}
	return n, nil
}

func (w *fakeWriter) Write(b []byte) (int, error) { return len(b), nil }

func (w *fakeWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

func (w *fakeWriter) packets() []sentPacket {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]sentPacket(nil), w.sent...)
}

// fakeCtx is the TrackLocalContext pion would pass to Bind.
type fakeCtx struct {
	codecs []webrtc.RTPCodecParameters
	ssrc   webrtc.SSRC
	w      webrtc.TrackLocalWriter
}

func (c *fakeCtx) CodecParameters() []webrtc.RTPCodecParameters           { return c.codecs }
func (c *fakeCtx) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter { return nil }
func (c *fakeCtx) SSRC() webrtc.SSRC                                      { return c.ssrc }
func (c *fakeCtx) WriteStream() webrtc.TrackLocalWriter                   { return c.w }
func (c *fakeCtx) ID() string                                             { return "ctx" }
func (c *fakeCtx) RTCPReader() interceptor.RTCPReader                     { return nil }

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func vp8Params() webrtc.RTPCodecParameters {
	c, _ := CodecCapability(webrtc.MimeTypeVP8)
	return webrtc.RTPCodecParameters{RTPCodecCapability: c, PayloadType: 96}
}

func opusParams() webrtc.RTPCodecParameters {
	c, _ := CodecCapability(webrtc.MimeTypeOpus)
	return webrtc.RTPCodecParameters{RTPCodecCapability: c, PayloadType: 111}
}

// testReceiver builds a receiver with the given layers attached but no pion
// track behind them; feed packets with feed.
func testReceiver(t testing.TB, codec webrtc.RTPCodecParameters, opts ReceiverOptions, layers ...int) *Receiver {
	t.Helper()
	opts.Codec = codec
	opts.Log = quietLog()
	if opts.OnKeyframeRequest == nil {
		opts.OnKeyframeRequest = func(uint32) {}
	}
	r := NewReceiver(opts)
	for _, i := range layers {
		if !r.attachLayer(&layer{idx: int8(i), ssrc: uint32(1000 + i)}) {
			t.Fatalf("attach layer %d", i)
		}
	}
	return r
}

// feed injects one upstream packet as the forwarder would after Read.
func feed(t testing.TB, r *Receiver, li int, seq uint16, ts uint32, payload []byte) {
	p := getPacket()
	h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, SSRC: uint32(1000 + li)}
	n, err := h.MarshalTo(p.buf[:])
	if err != nil {
		t.Fatal(err)
	}
	n += copy(p.buf[n:], payload)
	if err := p.parse(n); err != nil {
		t.Fatal(err)
	}
	r.ingest(r.layers[li].Load(), p)
	p.release()
}

// boundDownTrack creates, binds and adds a DownTrack writing to w.
func boundDownTrack(t testing.TB, r *Receiver, w webrtc.TrackLocalWriter, ssrc uint32) *DownTrack {
	t.Helper()
	d := NewDownTrack(r, r.opts.Codec.RTPCodecCapability, "TR_x", "PA_p|TR_x")
	params := r.opts.Codec
	params.PayloadType = 100 // negotiated differently on the subscriber side
	if _, err := d.Bind(&fakeCtx{codecs: []webrtc.RTPCodecParameters{params}, ssrc: webrtc.SSRC(ssrc), w: w}); err != nil {
		t.Fatal(err)
	}
	r.AddDownTrack(d)
	return d
}

var (
	vp8Key   = []byte{0x10, 0x00, 0x9d, 0x01, 0x2a} // S=1 PID=0, P=0
	vp8Delta = []byte{0x10, 0x01, 0x00, 0x00}       // S=1 PID=0, P=1
	vp8Cont  = []byte{0x00, 0xaa, 0xbb}             // continuation
)

// checkContinuous asserts consecutive sequence numbers and non-decreasing
// timestamps (mod 2^16 / 2^32).
func checkContinuous(t *testing.T, pk []sentPacket) {
	t.Helper()
	for i := 1; i < len(pk); i++ {
		if pk[i].seq != pk[i-1].seq+1 {
			t.Fatalf("packet %d: seq %d after %d", i, pk[i].seq, pk[i-1].seq)
		}
		if int32(pk[i].ts-pk[i-1].ts) < 0 {
			t.Fatalf("packet %d: ts %d after %d", i, pk[i].ts, pk[i-1].ts)
		}
	}
}

// rtcpBytes marshals pkts as one compound, as a subscriber would send it.
func rtcpBytes(t testing.TB, pkts ...rtcp.Packet) []byte {
	t.Helper()
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var errClosedPipeForTest = io.ErrClosedPipe
