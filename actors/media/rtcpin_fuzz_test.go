package media

import (
	"testing"

	"github.com/pion/rtcp"
)

// FuzzSubscriberRTCP feeds arbitrary bytes to what a subscriber's RTCP reaches on the node: the
// DownTrack's in-place compound parser and its NACK (limits, suppression, retransmission from the
// packet cache), PLI/FIR and receiver-report handling, on a DownTrack that has forwarded 64 video
// packets. Each input is handled twice, as a repeated packet would be. Besides not panicking:
// every NACKed sequence number is accounted exactly once, one compound looks at no more than
// maxNACKPairsPerPacket pairs, the retransmitted bytes stay within the budget, and a compound
// pion parses as holding a PLI for our SSRC is seen as one.
func FuzzSubscriberRTCP(f *testing.F) {
	f.Add(floodNACK(77, 1000))
	f.Add(rtcpBytes(f, &rtcp.ReceiverReport{SSRC: 9, Reports: []rtcp.ReceptionReport{{SSRC: 77, LastSenderReport: 1, Delay: 2}}},
		&rtcp.PictureLossIndication{MediaSSRC: 77}))
	f.Add(rtcpBytes(f, &rtcp.TransportLayerNack{MediaSSRC: 77, Nacks: []rtcp.NackPair{{PacketID: 1010, LostPackets: 0x00ff}, {PacketID: 1010}}}))
	f.Add(rtcpBytes(f, &rtcp.FullIntraRequest{FIR: []rtcp.FIREntry{{SSRC: 78}, {SSRC: 77}}}))
	f.Add(rtcpBytes(f, &rtcp.SenderReport{SSRC: 9, Reports: []rtcp.ReceptionReport{{SSRC: 77, LastSenderReport: 5}}}))
	f.Add([]byte{0xa1, 0xcd, 0x00, 0x03, 0, 0, 0, 9, 0, 0, 0, 77, 0x03, 0xe8, 0, 0}) // padding bit, no room for it
	f.Add([]byte{0x81, 0xcd, 0x00, 0x02})                                            // truncated NACK

	f.Fuzz(func(t *testing.T, data []byte) {
		r := testReceiver(t, vp8Params(), ReceiverOptions{PacketCacheSize: 64}, 0)
		defer r.Close()
		d := boundDownTrack(t, r, &fakeWriter{}, 77)
		payload := make([]byte, 300)
		copy(payload, vp8Key)
		for i := range 64 {
			feed(t, r, 0, uint16(1000+i), uint32(i*3000), payload)
			copy(payload, vp8Delta)
		}
		fwd := d.Stats().Bytes
		plis := d.Stats().PLIsReceived
		in := append([]byte(nil), data...)
		d.handleRTCP(in)
		st := d.Stats()
		if st.NACKsReceived > maxNACKPairsPerPacket*17 {
			t.Fatalf("one compound looked at %d sequence numbers", st.NACKsReceived)
		}
		if wantsPLI(data) && st.PLIsReceived != plis+1 {
			t.Fatalf("pion sees a PLI for SSRC 77, the DownTrack counted %d", st.PLIsReceived-plis)
		}
		d.handleRTCP(in)
		st = d.Stats()
		if sum := st.NACKsAnswered + st.NACKsMissed + st.NACKsSuppressed + st.NACKsThrottled; sum != st.NACKsReceived {
			t.Fatalf("%d sequence numbers asked for, %d accounted: %+v", st.NACKsReceived, sum, st)
		}
		if budget := min(fwd/retransmitShareDiv, retransmitBurst); st.RetransmitBytes > budget {
			t.Fatalf("retransmitted %d bytes, budget %d", st.RetransmitBytes, budget)
		}
	})
}

// wantsPLI reports whether pion parses b as a compound holding a PLI for SSRC 77, no packet of it
// padded (pion is laxer about padding than RFC 3550, which the DownTrack follows).
func wantsPLI(b []byte) bool {
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		return false
	}
	found := false
	for _, p := range pkts {
		if h, ok := p.(interface{ Header() rtcp.Header }); ok && h.Header().Padding {
			return false
		}
		if pli, ok := p.(*rtcp.PictureLossIndication); ok && pli.MediaSSRC == 77 {
			found = true
		}
	}
	for rest := b; len(rest) >= 4; {
		if rest[0]&0x20 != 0 {
			return false
		}
		n := (int(rest[2])<<8 | int(rest[3]) + 1) * 4
		if n > len(rest) {
			return false
		}
		rest = rest[n:]
	}
	return found
}
