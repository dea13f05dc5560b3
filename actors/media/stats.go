package media

import "time"

// LayerStats are the counters of one upstream layer.
type LayerStats struct {
	Layer     int
	RID       string
	SSRC      uint32
	Packets   uint64
	Bytes     uint64 // RTP payload + 12-byte fixed header
	Lost      uint64 // sequence gaps seen by the forwarder (before NACK recovery)
	Keyframes uint64
	Active    bool
	// Jitter is the RFC 3550 interarrival jitter of the publisher's packets.
	Jitter time.Duration
}

// ReceiverStats is a snapshot of a Receiver's atomic counters.
type ReceiverStats struct {
	Packets          uint64
	Bytes            uint64
	Lost             uint64
	PLIsSent         uint64 // keyframe requests that passed the throttle
	KeyframeRequests uint64 // all requests, throttled or not
	ReadErrors       uint64
	DownTracks       int
	// Jitter is the largest interarrival jitter of the active layers.
	Jitter time.Duration
	Layers []LayerStats
}

// Stats reads the counters; any goroutine may call it, as often as it likes.
// Rates are the reader's business (differences between two snapshots).
func (r *Receiver) Stats() ReceiverStats {
	s := ReceiverStats{
		PLIsSent:         r.plisSent.Load(),
		KeyframeRequests: r.keyframeRequests.Load(),
		ReadErrors:       r.readErrors.Load(),
		DownTracks:       len(*r.downs.Load()),
	}
	for i := range r.layers {
		l := r.layers[i].Load()
		if l == nil {
			continue
		}
		ls := LayerStats{
			Layer: i, RID: l.rid, SSRC: l.ssrc,
			Packets: l.packets.Load(), Bytes: l.bytes.Load(), Lost: l.lost.Load(),
			Keyframes: l.keyframe.Load(), Active: !l.ended.Load(),
			Jitter: time.Duration(uint64(l.jitterPub.Load()>>4) * uint64(time.Second) / uint64(r.clockRate)),
		}
		if ls.Active && ls.Jitter > s.Jitter {
			s.Jitter = ls.Jitter
		}
		s.Packets += ls.Packets
		s.Bytes += ls.Bytes
		s.Lost += ls.Lost
		s.Layers = append(s.Layers, ls)
	}
	return s
}

// DownTrackStats is a snapshot of a DownTrack's atomic counters.
type DownTrackStats struct {
	Packets       uint64
	Bytes         uint64
	NACKsReceived uint64 // sequence numbers asked for (in pairs within budget)
	NACKsAnswered uint64 // retransmitted from the cache
	NACKsMissed   uint64 // no longer cached or never sent
	// NACKsSuppressed were already resent within the resend window (the
	// RTT, or 100 ms while it is unknown), duplicates in one packet included.
	NACKsSuppressed uint64
	// NACKsThrottled were not resent because the retransmit budget (half
	// the bytes forwarded to this subscriber, 32 KiB burst) was spent.
	NACKsThrottled uint64
	// NACKPairsDropped are NACK pairs beyond the per-packet (64) or
	// per-second (1,000, burst 200) bound, dropped without being expanded.
	NACKPairsDropped uint64
	RetransmitBytes  uint64        // payload + 12-byte header, like Bytes
	RTT              time.Duration // from the subscriber's receiver reports; 0 = unknown
	PLIsReceived     uint64        // PLI and FIR
	Dropped          uint64        // skipped: waiting for keyframe, queue full, stalled
	WriteErrors      uint64
	LayerSwitches    uint64
	CurrentLayer     int // -1 before the first packet
	TargetLayer      int // -1 = highest available
	Paused           bool
}

// Stats reads the counters.
func (d *DownTrack) Stats() DownTrackStats {
	return DownTrackStats{
		Packets:          d.packets.Load(),
		Bytes:            d.bytes.Load(),
		NACKsReceived:    d.nacksReceived.Load(),
		NACKsAnswered:    d.nacksAnswered.Load(),
		NACKsMissed:      d.nacksMissed.Load(),
		NACKsSuppressed:  d.nacksSuppressed.Load(),
		NACKsThrottled:   d.nacksThrottled.Load(),
		NACKPairsDropped: d.nackPairsDropped.Load(),
		RetransmitBytes:  d.retransmitBytes.Load(),
		RTT:              time.Duration(d.rtt.Load()),
		PLIsReceived:     d.plisReceived.Load(),
		Dropped:          d.dropped.Load(),
		WriteErrors:      d.writeErrors.Load(),
		LayerSwitches:    d.layerSwitches.Load(),
		CurrentLayer:     int(d.cur.Load()),
		TargetLayer:      int(d.target.Load()),
		Paused:           d.paused.Load(),
	}
}
