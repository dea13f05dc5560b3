package media

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
	"go.uber.org/goleak"
)

// waitErr waits for the first error on ch.
func waitErr(t *testing.T, what string, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: never reported", what)
		return nil
	}
}

// A panic on a subscriber's RTCP goroutine fails that subscriber's DownTrack only (its owner is
// told through OnWriteFailed, as for a closed transport); the other subscriber keeps receiving.
// A panic on the publisher's RTCP drain fails the track (OnFailure). Real pion peers over
// loopback; the panics are injected through the loops' test hooks.
func TestPanicsInRTCPLoopsAreContained(t *testing.T) {
	defer goleak.VerifyNone(t)
	eng, err := NewEngine(Config{LoopbackOnly: true}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	api := loopbackClientAPI(t)
	pubClient, pub, src, recvCh := loopbackPublisher(t, eng, api)
	defer pubClient.Close()
	defer pub.Close()
	stop := make(chan struct{})
	sending := make(chan struct{})
	go func() {
		defer close(sending)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := uint32(0); ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			pl := vp8Delta
			if i%10 == 0 {
				pl = vp8Key
			}
			_ = src.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: uint16(i), Timestamp: i * 3000}, Payload: pl})
		}
	}()
	defer func() { close(stop); <-sending }()
	r := waitReceiver(t, recvCh)
	defer r.Close()
	trackFailed := make(chan error, 1)
	r.OnFailure(func(err error) { trackFailed <- err })

	var gotA, gotB atomic.Int64
	subA, clientA, dtA, readA := loopbackSubscriber(t, eng, api, r, func(*webrtc.TrackRemote) {}, func(*rtp.Packet) { gotA.Add(1) })
	subB, clientB, dtB, readB := loopbackSubscriber(t, eng, api, r, func(*webrtc.TrackRemote) {}, func(*rtp.Packet) { gotB.Add(1) })
	defer func() {
		_ = clientA.Close()
		_ = clientB.Close()
		_ = subA.Close()
		_ = subB.Close()
		readA.Wait()
		readB.Wait()
		<-dtA.RTCPDone()
		<-dtB.RTCPDone()
	}()
	waitFor(t, "both subscribers receive", func() bool { return gotA.Load() > 10 && gotB.Load() > 10 })

	aFailed := make(chan error, 1)
	dtA.OnWriteFailed(func(err error) { aFailed <- err })
	hook := func(d *DownTrack) {
		if d == dtA {
			panic("injected RTCP panic")
		}
	}
	rtcpHook.Store(&hook)
	defer rtcpHook.Store(nil)
	if err := clientA.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: dtA.SSRC()}}); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, "subscriber A's RTCP panic", aFailed); !strings.Contains(err.Error(), "injected RTCP panic") {
		t.Fatalf("failure %v does not carry the panic", err)
	}
	<-dtA.RTCPDone()
	b0 := gotB.Load()
	waitFor(t, "subscriber B keeps receiving", func() bool { return gotB.Load() > b0+20 })
	select {
	case err := <-trackFailed:
		t.Fatalf("a subscriber's RTCP panic failed the whole track: %v", err)
	default:
	}

	drain := func(rr *Receiver) {
		if rr == r {
			panic(errors.New("injected drain panic"))
		}
	}
	drainHook.Store(&drain)
	defer drainHook.Store(nil)
	// The test clients have no report interceptors: send the publisher's sender report by hand.
	ssrc := uint32(pubClient.GetSenders()[0].GetParameters().Encodings[0].SSRC)
	if err := pubClient.WriteRTCP([]rtcp.Packet{&rtcp.SenderReport{SSRC: ssrc, NTPTime: 1 << 32}}); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, "the publisher RTCP drain panic", trackFailed); !strings.Contains(err.Error(), "injected drain panic") {
		t.Fatalf("failure %v does not carry the panic", err)
	}
}

// A panic on a fan-out writer fails the track; the forwarder that dispatched to it does not
// panic and the other writers keep delivering until the owner closes the receiver.
func TestFanoutWriterPanicFailsTrack(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := testReceiver(t, opusParams(), ReceiverOptions{FanoutThreshold: 1, FanoutWorkers: 2}, 0)
	failed := make(chan error, 1)
	r.OnFailure(func(err error) { failed <- err })
	healthy := &fakeWriter{}
	boundDownTrack(t, r, healthy, 1)              // writer 0's share
	bad := boundDownTrack(t, r, &fakeWriter{}, 2) // writer 1's share
	params := r.opts.Codec
	if _, err := bad.Bind(&fakeCtx{codecs: []webrtc.RTPCodecParameters{params}, ssrc: 2, w: panickingWriter{}}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		feed(t, r, 0, uint16(i), uint32(i*960), []byte{0xfc, byte(i)})
	}
	if err := waitErr(t, "the fan-out writer panic", failed); !strings.Contains(err.Error(), "fan-out writer") {
		t.Fatalf("failure %v does not name the fan-out writer", err)
	}
	waitFor(t, "the healthy share is delivered", func() bool { return healthy.count() == 20 })
	r.Close()
}

// A forwarder panic reported before anyone registered for it is reported at registration.
func TestFailureBeforeOnFailureIsReported(t *testing.T) {
	r := testReceiver(t, opusParams(), ReceiverOptions{}, 0)
	defer r.Close()
	func() {
		defer r.recoverLoop("forwarder")
		panic("early")
	}()
	failed := make(chan error, 1)
	r.OnFailure(func(err error) { failed <- err })
	if err := waitErr(t, "the early panic", failed); !strings.Contains(err.Error(), "early") {
		t.Fatalf("failure %v", err)
	}
}

type panickingWriter struct{}

func (panickingWriter) WriteRTP(*rtp.Header, []byte) (int, error) { panic("injected write panic") }
func (panickingWriter) Write([]byte) (int, error)                 { panic("injected write panic") }
