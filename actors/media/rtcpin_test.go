package media

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// floodNACK is the attacker's packet: as many generic NACK pairs as fit in 1.5 KB (372), every
// BLP bit set, covering 372×17 sequence numbers from first on. pion's marshaller refuses more than
// 252 pairs, so it is built by hand.
func floodNACK(ssrc uint32, first uint16) []byte {
	const pairs = 372
	b := make([]byte, 12+4*pairs)
	b[0], b[1] = 0x80|fmtNACK, rtcpRTPFB
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)/4-1))
	binary.BigEndian.PutUint32(b[4:8], 9)
	binary.BigEndian.PutUint32(b[8:12], ssrc)
	for i := range pairs {
		binary.BigEndian.PutUint16(b[12+4*i:], first+uint16(i*17))
		binary.BigEndian.PutUint16(b[14+4*i:], 0xffff)
	}
	return b
}

// videoDownTrack forwards count 1,000-byte VP8 packets (seq 1000…) to a recording DownTrack on
// SSRC 77 and returns it with its writer and the bytes forwarded.
func videoDownTrack(t *testing.T, count int) (*Receiver, *DownTrack, *fakeWriter, uint64) {
	t.Helper()
	r := testReceiver(t, vp8Params(), ReceiverOptions{PacketCacheSize: 1024}, 0)
	w := &fakeWriter{}
	d := boundDownTrack(t, r, w, 77)
	payload := make([]byte, 1000)
	copy(payload, vp8Key)
	for i := range count {
		feed(t, r, 0, uint16(1000+i), uint32(i*3000), payload)
		copy(payload, vp8Delta)
	}
	st := d.Stats()
	if st.Packets != uint64(count) {
		t.Fatalf("forwarded %d of %d", st.Packets, count)
	}
	return r, d, w, st.Bytes
}

// One flood packet does bounded work: 64 pairs expanded (at most 64×17 sequence numbers looked
// at), the other 308 dropped and counted; what is resent stays within half the forwarded bytes
// (and the burst cap); a repeat of the packet resends nothing already resent.
func TestNACKFloodIsBounded(t *testing.T) {
	r, d, w, fwd := videoDownTrack(t, 1000)
	defer r.Close()
	pk := floodNACK(77, 1000) // outgoing seqs start where upstream did, at 1000
	if len(pk) > 1500 {
		t.Fatalf("flood packet is %d bytes", len(pk))
	}
	sentBefore := w.count()
	d.handleRTCP(pk)
	st := d.Stats()
	if st.NACKPairsDropped != 372-maxNACKPairsPerPacket {
		t.Errorf("pairs dropped %d, want %d", st.NACKPairsDropped, 372-maxNACKPairsPerPacket)
	}
	if st.NACKsReceived != maxNACKPairsPerPacket*17 {
		t.Errorf("sequence numbers looked at %d, want %d", st.NACKsReceived, maxNACKPairsPerPacket*17)
	}
	budget := min(fwd/retransmitShareDiv, retransmitBurst)
	if st.RetransmitBytes > budget || st.RetransmitBytes < budget-1012 {
		t.Errorf("retransmitted %d bytes, budget %d", st.RetransmitBytes, budget)
	}
	if got := uint64(w.count() - sentBefore); got != st.NACKsAnswered || got == 0 {
		t.Errorf("writer saw %d retransmits, stats say %d", got, st.NACKsAnswered)
	}
	if st.NACKsThrottled == 0 {
		t.Errorf("nothing throttled: %+v", st)
	}

	// The same packet again, at once: the resent ones are suppressed, the rest still throttled.
	d.handleRTCP(pk)
	st2 := d.Stats()
	if st2.NACKsAnswered != st.NACKsAnswered {
		t.Errorf("repeat resent %d more", st2.NACKsAnswered-st.NACKsAnswered)
	}
	if st2.NACKsSuppressed-st.NACKsSuppressed != st.NACKsAnswered {
		t.Errorf("repeat suppressed %d, want %d", st2.NACKsSuppressed-st.NACKsSuppressed, st.NACKsAnswered)
	}
}

// Over a second's worth of flood packets the pair budget holds: at most the burst plus the
// refill for the time that passed.
func TestNACKPairBudgetPerSecond(t *testing.T) {
	r, d, _, _ := videoDownTrack(t, 100)
	defer r.Close()
	pk := floodNACK(77, 1000)
	start := time.Now()
	for range 1000 {
		d.handleRTCP(pk)
	}
	elapsed := time.Since(start)
	st := d.Stats()
	processed := st.NACKsReceived / 17
	allowed := uint64(nackPairBurst) + uint64(elapsed.Seconds()*nackPairsPerSecond) + 1
	if processed > allowed {
		t.Errorf("processed %d pairs in %v, budget %d", processed, elapsed, allowed)
	}
	if processed+st.NACKPairsDropped != 1000*372 {
		t.Errorf("processed %d + dropped %d pairs != %d sent", processed, st.NACKPairsDropped, 1000*372)
	}
}

// A packet is resent again once the window has passed, and the window follows the RTT.
func TestNACKResentAfterWindow(t *testing.T) {
	r, d, w, _ := videoDownTrack(t, 10)
	defer r.Close()
	d.rtt.Store(int64(resendWindowMin)) // known RTT: the window is 10 ms, not 100
	nack := rtcpBytes(t, &rtcp.TransportLayerNack{MediaSSRC: 77, Nacks: []rtcp.NackPair{{PacketID: 1003}}})
	n0 := w.count()
	d.handleRTCP(nack)
	d.handleRTCP(nack)
	if got := w.count() - n0; got != 1 {
		t.Fatalf("two NACKs at once resent %d times, want 1", got)
	}
	time.Sleep(2 * resendWindowMin)
	d.handleRTCP(nack)
	if got := w.count() - n0; got != 2 {
		t.Fatalf("after the window: resent %d times, want 2", got)
	}
	if st := d.Stats(); st.NACKsSuppressed != 1 || st.NACKsAnswered != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// Feedback for another SSRC (pion hands a compound to every SSRC it mentions) is not ours.
func TestRTCPForOtherSSRCIgnored(t *testing.T) {
	var plis atomic.Int32
	r := testReceiver(t, vp8Params(), ReceiverOptions{OnKeyframeRequest: func(uint32) { plis.Add(1) }}, 0)
	defer r.Close()
	w := &fakeWriter{}
	d := boundDownTrack(t, r, w, 77)
	feed(t, r, 0, 1, 0, vp8Key)
	time.Sleep(pliInterval + 10*time.Millisecond) // let the keyframe throttle open again
	before := plis.Load()
	n0 := w.count()
	d.handleRTCP(rtcpBytes(t,
		&rtcp.TransportLayerNack{MediaSSRC: 78, Nacks: []rtcp.NackPair{{PacketID: 1}}},
		&rtcp.PictureLossIndication{MediaSSRC: 78},
		&rtcp.FullIntraRequest{FIR: []rtcp.FIREntry{{SSRC: 78}}},
	))
	if w.count() != n0 || plis.Load() != before || d.Stats().PLIsReceived != 0 {
		t.Fatalf("acted on feedback for SSRC 78: %d resent, %d PLIs, stats %+v", w.count()-n0, plis.Load()-before, d.Stats())
	}
	d.handleRTCP(rtcpBytes(t, &rtcp.FullIntraRequest{FIR: []rtcp.FIREntry{{SSRC: 78}, {SSRC: 77}}}))
	if d.Stats().PLIsReceived != 1 || plis.Load() != before+1 {
		t.Fatalf("FIR naming SSRC 77 not honoured: stats %+v", d.Stats())
	}
}

// A PLI flood from a subscriber reaches the publisher as one keyframe request per pliInterval.
func TestPLIFloodThrottledUpstream(t *testing.T) {
	var plis atomic.Int32
	r := testReceiver(t, vp8Params(), ReceiverOptions{OnKeyframeRequest: func(uint32) { plis.Add(1) }}, 0)
	defer r.Close()
	d := boundDownTrack(t, r, &fakeWriter{}, 77)
	feed(t, r, 0, 1, 0, vp8Key)
	pli := rtcpBytes(t, &rtcp.PictureLossIndication{MediaSSRC: 77}, &rtcp.PictureLossIndication{MediaSSRC: 77})
	before := plis.Load()
	start := time.Now()
	for range 5000 {
		d.handleRTCP(pli)
	}
	allowed := int32(time.Since(start)/pliInterval) + 1
	if got := plis.Load() - before; got > allowed {
		t.Fatalf("%d keyframe requests upstream for 5,000 PLI packets, want ≤ %d", got, allowed)
	}
	if got := d.Stats().PLIsReceived; got != 5000 {
		t.Fatalf("PLIs counted %d, want 5000 (one per compound)", got)
	}
}

// The RTT comes from a receiver report block about our SSRC: now − LSR − DLSR.
func TestRTTFromReceiverReport(t *testing.T) {
	r, d, _, _ := videoDownTrack(t, 1)
	defer r.Close()
	lsr := ntpMiddle(time.Now().Add(-80 * time.Millisecond))
	dlsr := uint32(30 * 65536 / 1000) // 30 ms held by the subscriber
	d.handleRTCP(rtcpBytes(t, &rtcp.ReceiverReport{SSRC: 9, Reports: []rtcp.ReceptionReport{
		{SSRC: 78, LastSenderReport: lsr, Delay: 0}, // another track: ignored
		{SSRC: 77, LastSenderReport: lsr, Delay: dlsr},
	}}))
	rtt := d.Stats().RTT
	if rtt < 49*time.Millisecond || rtt > time.Second {
		t.Fatalf("RTT %v, want about 50 ms", rtt)
	}
	if w := d.resendWindow(); w != rtt {
		t.Fatalf("resend window %v, want the RTT %v", w, rtt)
	}
}

// Handling subscriber RTCP allocates nothing, flood or not: the parser works in place.
func TestHandleRTCPAllocatesNothing(t *testing.T) {
	r, d, _, _ := videoDownTrack(t, 200)
	defer r.Close()
	pk := append(floodNACK(77, 1000), rtcpBytes(t, &rtcp.PictureLossIndication{MediaSSRC: 77},
		&rtcp.ReceiverReport{SSRC: 9, Reports: []rtcp.ReceptionReport{{SSRC: 77, LastSenderReport: 1}}})...)
	if n := testing.AllocsPerRun(200, func() { d.handleRTCP(pk) }); n != 0 {
		t.Fatalf("%v allocations per RTCP packet", n)
	}
}

// Malformed compounds stop the walk without acting on garbage: a truncated length, a bad
// version, padding longer than the packet.
func TestHandleRTCPMalformed(t *testing.T) {
	r, d, w, _ := videoDownTrack(t, 10)
	defer r.Close()
	good := rtcpBytes(t, &rtcp.TransportLayerNack{MediaSSRC: 77, Nacks: []rtcp.NackPair{{PacketID: 1002}}})
	long := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(long[2:4], 100) // claims 404 bytes
	badVersion := append([]byte(nil), good...)
	badVersion[0] = 0x41
	badPad := append([]byte(nil), good...)
	badPad[0] |= 0x20
	badPad[len(badPad)-1] = 200
	n0 := w.count()
	for _, b := range [][]byte{long, badVersion, badPad, good[:3], nil} {
		d.handleRTCP(b)
	}
	if w.count() != n0 || d.Stats().NACKsReceived != 0 {
		t.Fatalf("acted on malformed RTCP: %+v", d.Stats())
	}
	d.handleRTCP(good)
	if w.count() != n0+1 {
		t.Fatal("the well-formed NACK was not answered")
	}
}
