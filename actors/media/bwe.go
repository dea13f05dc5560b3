// This file holds the send-side bandwidth estimation of one subscriber
// PeerConnection: TWCC stamping on the write path, feedback into pion's GCC
// estimator, REMB where the client sends it.
//
// Who writes what: the TWCC counter is an atomic bumped by whichever
// goroutine writes a packet on the PC; the stamp buffer of a stream is
// written only by that stream's writer (a DownTrack serialises its writes
// under its mu). RTCP arrives on every sender's RTCP goroutine and is
// serialised by Estimator.mu. The estimate is read lock-free.

package media

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// Defaults of the estimator's range, in bits per second.
const (
	defaultBWEInitial = 1_000_000
	defaultBWEMin     = 50_000
	defaultBWEMax     = 20_000_000
	// rembMaxAge is how long a REMB value counts without a newer one.
	rembMaxAge = 2 * time.Second
	// estimateInterval is how often OnEstimate may fire (at most 10×/s).
	estimateInterval = 100 * time.Millisecond
)

// BWEConfig sets the range of the per-subscriber-PC estimator, in bits per
// second; zero fields take the defaults (1 Mbit/s initial, 50 kbit/s min,
// 20 Mbit/s max).
type BWEConfig struct {
	Disabled   bool
	InitialBps int
	MinBps     int
	MaxBps     int
}

func (c BWEConfig) withDefaults() BWEConfig {
	if c.InitialBps <= 0 {
		c.InitialBps = defaultBWEInitial
	}
	if c.MinBps <= 0 {
		c.MinBps = defaultBWEMin
	}
	if c.MaxBps <= 0 {
		c.MaxBps = defaultBWEMax
	}
	return c
}

// Estimator is the bandwidth estimate of one subscriber PeerConnection:
// pion's GCC fed by the subscriber's transport-wide-cc feedback, capped by
// the subscriber's REMB when it sends one. Engine.SubscriberEstimator finds
// the one of a PC.
type Estimator struct {
	gcc *gcc.SendSideBWE

	seq       atomic.Uint32 // next transport-wide sequence number
	feedbacks atomic.Uint64 // TWCC feedback packets taken (duplicates dropped)
	rembs     atomic.Uint64
	remb      atomic.Int64 // last REMB bitrate
	rembAt    atomic.Int64 // nanotime of the last REMB

	mu     sync.Mutex // serialises RTCP from the PC's senders
	lastFb [2]uint32  // sender SSRC and count+1 of the last TWCC feedback

	onEst     atomic.Pointer[func(bps int)]
	stop      chan struct{}
	closeOnce sync.Once
	onClose   atomic.Pointer[func()] // the engine's deregistration
}

func newEstimator(cfg BWEConfig, lf logging.LoggerFactory) (*Estimator, error) {
	g, err := gcc.NewSendSideBWE(
		gcc.SendSideBWEInitialBitrate(cfg.InitialBps),
		gcc.SendSideBWEMinBitrate(cfg.MinBps),
		gcc.SendSideBWEMaxBitrate(cfg.MaxBps),
		gcc.SendSideBWEPacer(gcc.NewNoOpPacer()),
		gcc.WithLoggerFactory(lf),
	)
	if err != nil {
		return nil, fmt.Errorf("media: gcc estimator: %w", err)
	}
	e := &Estimator{gcc: g, stop: make(chan struct{})}
	go e.notifyLoop()
	return e, nil
}

// Estimate is the available send bitrate towards the subscriber in bits per
// second: GCC's target once TWCC feedback has arrived, the lower of that and
// a recent REMB, the REMB alone when the client sends only REMB, and 0 while
// nothing is known.
func (e *Estimator) Estimate() int {
	var est int
	if e.feedbacks.Load() > 0 {
		est = e.gcc.GetTargetBitrate()
	}
	if at := e.rembAt.Load(); at != 0 && nanotime()-at < int64(rembMaxAge) {
		if r := int(e.remb.Load()); est == 0 || r < est {
			est = r
		}
	}
	return est
}

// EstimatorStats is a snapshot for inspection.
type EstimatorStats struct {
	EstimateBps   int
	Feedbacks     uint64 // TWCC feedback packets used
	REMBs         uint64
	LastREMBBps   int
	TWCCSequences uint32 // packets stamped
	GCC           map[string]any
}

// Stats reads the estimator's counters and GCC's own state.
func (e *Estimator) Stats() EstimatorStats {
	return EstimatorStats{
		EstimateBps: e.Estimate(), Feedbacks: e.feedbacks.Load(), REMBs: e.rembs.Load(),
		LastREMBBps: int(e.remb.Load()), TWCCSequences: e.seq.Load(), GCC: e.gcc.GetStats(),
	}
}

// OnEstimate registers fn, called on the estimator's own goroutine at most
// every 100 ms and only when the estimate changed. fn must not block long
// (tell an actor, do not wait for it).
func (e *Estimator) OnEstimate(fn func(bps int)) { e.onEst.Store(&fn) }

func (e *Estimator) notifyLoop() {
	t := time.NewTicker(estimateInterval)
	defer t.Stop()
	last := -1
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
		}
		fn := e.onEst.Load()
		if fn == nil {
			continue
		}
		if est := e.Estimate(); est != last {
			last = est
			(*fn)(est)
		}
	}
}

// Close stops the estimator; pion calls it when the PC closes.
func (e *Estimator) Close() error {
	var err error
	e.closeOnce.Do(func() {
		close(e.stop)
		err = e.gcc.Close()
		if fn := e.onClose.Load(); fn != nil {
			(*fn)()
		}
	})
	return err
}

// handleRTCP feeds one RTCP compound read by a sender of the PC. pion hands
// a compound to every sender whose SSRC it names, so a TWCC feedback repeated
// from the same sender with the same count is dropped.
func (e *Estimator) handleRTCP(b []byte) {
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range pkts {
		switch fb := p.(type) {
		case *rtcp.TransportLayerCC:
			key := [2]uint32{fb.SenderSSRC, uint32(fb.FbPktCount) + 1}
			if key == e.lastFb {
				continue
			}
			e.lastFb = key
			if err := e.gcc.WriteRTCP([]rtcp.Packet{fb}, nil); err == nil {
				e.feedbacks.Add(1)
			}
		case *rtcp.ReceiverEstimatedMaximumBitrate:
			e.remb.Store(int64(fb.Bitrate))
			e.rembAt.Store(nanotime())
			e.rembs.Add(1)
		}
	}
}

// bweFactory builds one bweInterceptor, and so one Estimator, per subscriber
// PeerConnection. The engine creates PCs one at a time under its lock and
// takes the estimator just made with take.
type bweFactory struct {
	cfg  BWEConfig
	lf   logging.LoggerFactory
	mu   sync.Mutex
	last *Estimator
}

// NewInterceptor is called by pion inside NewPeerConnection.
func (f *bweFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	e, err := newEstimator(f.cfg, f.lf)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.last = e
	f.mu.Unlock()
	return &bweInterceptor{e: e}, nil
}

func (f *bweFactory) take() *Estimator {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.last
	f.last = nil
	return e
}

// bweInterceptor stamps every outgoing packet with the PC's transport-wide
// sequence number, records it with GCC and reads the feedback.
type bweInterceptor struct {
	interceptor.NoOp
	e *Estimator
}

// BindLocalStream wraps a stream that negotiated transport-wide-cc; others
// pass through untouched.
func (i *bweInterceptor) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	var id uint8
	for _, x := range info.RTPHeaderExtensions {
		if x.URI == sdp.TransportCCURI {
			id = uint8(x.ID)
		}
	}
	if id == 0 {
		return w
	}
	return &twccStamper{id: id, e: i.e, next: i.e.gcc.AddStream(info, w)}
}

// BindRTCPReader passes the subscriber's RTCP through after feeding it to
// the estimator.
func (i *bweInterceptor) BindRTCPReader(r interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attr, err := r.Read(b, a)
		if err != nil {
			return n, attr, err
		}
		i.e.handleRTCP(b[:n])
		return n, attr, nil
	})
}

// Close closes the estimator with the PC.
func (i *bweInterceptor) Close() error { return i.e.Close() }

// twccStamper sets the transport-wide sequence number without allocating:
// the extension payload lives in buf, which the header references until the
// synchronous write below has marshalled it. One stream's writes never run
// concurrently (the DownTrack's mu), so buf is not shared.
type twccStamper struct {
	id   uint8
	e    *Estimator
	next interceptor.RTPWriter
	buf  [2]byte
}

// Write stamps h and hands it on.
func (s *twccStamper) Write(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
	binary.BigEndian.PutUint16(s.buf[:], uint16(s.e.seq.Add(1)-1))
	if err := h.SetExtension(s.id, s.buf[:]); err != nil {
		return 0, fmt.Errorf("media: twcc stamp: %w", err)
	}
	return s.next.Write(h, payload, a)
}
