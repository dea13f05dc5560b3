// This file holds what a DownTrack does with the RTCP its subscriber sends:
// an in-place parser (no allocation, bounded work per packet) and the limits
// that keep a hostile or broken subscriber from turning NACKs into an
// amplifier.
//
// Who writes what: everything here runs on the DownTrack's RTCP goroutine,
// which alone owns rtcpState; the suppression stamps live in the seq map
// under DownTrack.mu; the results are published as atomic counters and the
// RTT as an atomic for Stats.

package media

import (
	"encoding/binary"
	"time"
)

// RTCP packet types and feedback formats the subscriber side acts on
// (RFC 3550, RFC 4585, RFC 5104).
const (
	rtcpSR        = 200
	rtcpRR        = 201
	rtcpRTPFB     = 205
	rtcpPSFB      = 206
	fmtNACK       = 1 // RTPFB generic NACK
	fmtPLI        = 1 // PSFB picture loss
	fmtFIR        = 4 // PSFB full intra request
	reportBlockSz = 24
)

// NACK limits. A real subscriber asks for a few sequence numbers per
// report; libwebrtc at 5 % loss on a 2 Mbit/s stream sends well under 100
// pairs a second. One 1.5 KB compound can carry 372 pairs of 17 sequence
// numbers each, so without limits a single datagram buys 6,000 retransmits.
const (
	// maxNACKPairsPerPacket bounds the work one RTCP compound can cause.
	maxNACKPairsPerPacket = 64
	// nackPairsPerSecond and nackPairBurst are the token bucket that bounds
	// the pairs processed per DownTrack over time. Pairs beyond either bound
	// are dropped unexpanded and counted (NACKPairsDropped).
	nackPairsPerSecond = 1000
	nackPairBurst      = 200
	// retransmitShareDiv makes the retransmit byte budget 1/retransmitShareDiv
	// (50 %) of the bytes forwarded to this subscriber.
	retransmitShareDiv = 2
	// retransmitBurst caps the unspent retransmit budget, so that a long
	// quiet spell cannot be saved up for a burst.
	retransmitBurst = 32 << 10
	// resendWindowUnknown suppresses a repeated NACK for a packet resent this
	// recently when the subscriber's RTT is not known yet; with a known RTT
	// the window is the RTT, clamped to [resendWindowMin, resendWindowMax].
	resendWindowUnknown = 100 * time.Millisecond
	resendWindowMin     = 10 * time.Millisecond
	resendWindowMax     = time.Second
)

// pairCostNs is what one NACK pair costs in the pair bucket, whose tokens
// are nanoseconds of refill.
const pairCostNs = int64(time.Second) / nackPairsPerSecond

// stampShift turns nanotime into the seq map's resend stamps (units of
// 2^20 ns ≈ 1.05 ms, 32 bits: wraps after 52 days, compared modulo 2^32).
const stampShift = 20

// rtcpState is owned by the DownTrack's RTCP goroutine.
type rtcpState struct {
	pairTokens int64 // nanoseconds of pair budget
	pairAt     int64 // nanotime of the last refill
	// credit2 is the retransmit budget in half bytes: every byte forwarded
	// adds one, every byte retransmitted costs retransmitShareDiv.
	credit2   int64
	fwdSeen   uint64 // DownTrack.bytes at the last refill
	pairsLeft int    // pairs this compound may still process
	resendWin uint32 // suppression window in stamp units, for this compound
	now       uint32 // stamp of this compound
}

// handleRTCP acts on one compound RTCP packet from the subscriber, parsed in
// place: PLI and FIR for our SSRC become a throttled keyframe request
// upstream, generic NACKs for our SSRC are answered from the packet cache
// within the limits above, and report blocks about our SSRC update the RTT.
// Anything malformed ends the walk; what came before it stands.
func (d *DownTrack) handleRTCP(buf []byte) {
	b := d.bound.Load()
	if b == nil {
		return
	}
	d.beginCompound()
	keyframe := false
	for len(buf) >= 4 {
		if buf[0]>>6 != 2 {
			return
		}
		size := (int(binary.BigEndian.Uint16(buf[2:4])) + 1) * 4
		if size > len(buf) {
			return
		}
		pk := buf[:size]
		buf = buf[size:]
		if pk[0]&0x20 != 0 { // padding: the last byte counts it, header excluded
			pad := int(pk[size-1])
			if pad == 0 || pad > size-4 {
				return
			}
			pk = pk[:size-pad]
		}
		count := int(pk[0] & 0x1f)
		switch pk[1] {
		case rtcpRTPFB:
			if count == fmtNACK && len(pk) >= 12 && binary.BigEndian.Uint32(pk[8:12]) == b.ssrc {
				d.handleNACK(b, pk[12:])
			}
		case rtcpPSFB:
			if (count == fmtPLI || count == fmtFIR) && feedbackFor(pk, count, b.ssrc) {
				keyframe = true
			}
		case rtcpRR:
			d.handleReports(pk, 8, count, b.ssrc)
		case rtcpSR:
			d.handleReports(pk, 28, count, b.ssrc)
		}
	}
	if keyframe && d.video && !d.closed.Load() {
		d.plisReceived.Add(1)
		d.ctr.plisIn.Add(1)
		d.r.RequestKeyframe(d.currentOrTarget())
	}
}

// feedbackFor reports whether a PLI or FIR names ssrc: a PLI in its media
// SSRC, a FIR (whose media SSRC is unused, RFC 5104 §4.3.1.2) in one of its
// entries. pion delivers a compound to every SSRC it mentions, so feedback
// meant for another track of the same subscriber arrives here too.
func feedbackFor(pk []byte, count int, ssrc uint32) bool {
	if len(pk) < 12 {
		return false
	}
	if count == fmtPLI {
		return binary.BigEndian.Uint32(pk[8:12]) == ssrc
	}
	for e := pk[12:]; len(e) >= 8; e = e[8:] {
		if binary.BigEndian.Uint32(e[0:4]) == ssrc {
			return true
		}
	}
	return binary.BigEndian.Uint32(pk[8:12]) == ssrc
}

// beginCompound refills the pair bucket and the retransmit budget and fixes
// this compound's clock and suppression window.
func (d *DownTrack) beginCompound() {
	s := &d.rtcp
	now := nanotime()
	if s.pairAt == 0 {
		s.pairTokens = nackPairBurst * pairCostNs
	} else {
		s.pairTokens = min(s.pairTokens+now-s.pairAt, nackPairBurst*pairCostNs)
	}
	s.pairAt = now
	fwd := d.bytes.Load()
	s.credit2 = min(s.credit2+int64(fwd-s.fwdSeen), retransmitShareDiv*retransmitBurst)
	s.fwdSeen = fwd
	s.pairsLeft = maxNACKPairsPerPacket
	s.now = uint32(now>>stampShift) | 1 // 0 means "never resent"
	s.resendWin = uint32(d.resendWindow() >> stampShift)
}

// resendWindow is how long a resent packet is not resent again: the RTT
// when a receiver report has told us one, else resendWindowUnknown.
func (d *DownTrack) resendWindow() time.Duration {
	rtt := time.Duration(d.rtt.Load())
	if rtt <= 0 {
		return resendWindowUnknown
	}
	return min(max(rtt, resendWindowMin), resendWindowMax)
}

// handleNACK expands the generic NACK pairs in fci (RFC 4585 §6.2.1) within
// this compound's and this second's pair budget and answers each sequence
// number. Pairs over budget are counted, not expanded.
func (d *DownTrack) handleNACK(b *binding, fci []byte) {
	if d.closed.Load() {
		return
	}
	s := &d.rtcp
	for ; len(fci) >= 4; fci = fci[4:] {
		if s.pairsLeft <= 0 || s.pairTokens < pairCostNs {
			d.nackPairsDropped.Add(uint64(len(fci) / 4))
			return
		}
		s.pairsLeft--
		s.pairTokens -= pairCostNs
		pid := binary.BigEndian.Uint16(fci[0:2])
		blp := binary.BigEndian.Uint16(fci[2:4])
		d.answerNACK(b, pid)
		for i := range uint16(16) {
			if blp&(1<<i) != 0 {
				d.answerNACK(b, pid+i+1)
			}
		}
	}
}

func (d *DownTrack) answerNACK(b *binding, seq uint16) {
	d.nacksReceived.Add(1)
	d.ctr.nacks.Add(1)
	d.retransmit(b, seq)
}

// spendRetransmit takes size bytes from the retransmit budget; false (and
// nothing taken) when the budget cannot cover them.
func (d *DownTrack) spendRetransmit(size int) bool {
	cost := int64(size) * retransmitShareDiv
	if d.rtcp.credit2 < cost {
		return false
	}
	d.rtcp.credit2 -= cost
	return true
}

// handleReports reads the report blocks of an RR or SR starting at off and
// takes the RTT from the one about ssrc (RFC 3550 §6.4.1: now − LSR − DLSR,
// in 1/65536 s). Our sender reports carry wall-clock NTP time (pion's
// report interceptor), so the subscriber's LSR is comparable with ours.
func (d *DownTrack) handleReports(pk []byte, off, count int, ssrc uint32) {
	for i := range count {
		at := off + i*reportBlockSz
		if at+reportBlockSz > len(pk) {
			return
		}
		blk := pk[at : at+reportBlockSz]
		if binary.BigEndian.Uint32(blk[0:4]) != ssrc {
			continue
		}
		lsr := binary.BigEndian.Uint32(blk[16:20])
		dlsr := binary.BigEndian.Uint32(blk[20:24])
		if lsr == 0 {
			return
		}
		units := ntpMiddle(time.Now()) - lsr - dlsr
		if int32(units) < 0 || units > 10<<16 { // negative or over 10 s: not an RTT
			return
		}
		d.rtt.Store(int64(units) * int64(time.Second) >> 16)
		return
	}
}

// ntpMiddle is the middle 32 bits of t as a 64-bit NTP timestamp (16 bits of
// seconds since 1900, 16 bits of fraction), the unit of LSR and DLSR.
func ntpMiddle(t time.Time) uint32 {
	const ntpEpochOffset = 2208988800 // seconds from 1900 to 1970
	ns := t.UnixNano()
	sec := uint64(ns/int64(time.Second)) + ntpEpochOffset
	frac := uint64(ns%int64(time.Second)) << 16 / uint64(time.Second)
	return uint32(sec<<16) | uint32(frac)
}
