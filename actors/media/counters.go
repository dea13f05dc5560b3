// This file holds the node-wide packet counters.
//
// Who writes what: every forwarder and DownTrack adds to its own shard with
// atomic adds; scrapes sum the shards. No counter has a single writer, so
// all of them are atomics.

package media

import (
	"sync/atomic"
	"time"
)

// counterShards spreads the node-wide counters over several cache lines.
// Every forwarder and every DownTrack bumps them per packet; one shared line
// would bounce between cores on every write. Each Receiver and DownTrack is
// pinned to one shard when created, and a scrape sums the shards.
const counterShards = 16

// counterShard is one stripe of the node-wide counters, padded to two cache
// lines so that neighbouring shards never share one (adjacent-line prefetch
// included).
type counterShard struct {
	packetsIn, bytesIn   atomic.Uint64
	packetsOut, bytesOut atomic.Uint64
	lost                 atomic.Uint64
	nacks                atomic.Uint64
	plisIn, plisOut      atomic.Uint64
	_                    [128 - 8*8]byte
}

// latencySampleMask picks which forwarded packets are timed: one in 64 per
// DownTrack. Reading the clock for every delivery would cost more than the
// rest of the bookkeeping together.
const latencySampleMask = 63

// latencyBuckets are the upper bounds of the forwarding-latency histogram, in
// seconds. A fixed table, not a setting.
var latencyBuckets = [...]float64{
	10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6,
	1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3,
}

// LatencyBuckets returns the upper bounds of the forwarding-latency histogram
// (from reading a packet off the publisher's track to handing it to the
// subscriber's SRTP writer), in seconds.
func LatencyBuckets() []float64 {
	b := latencyBuckets
	return b[:]
}

// latencyBoundsNs are latencyBuckets in nanoseconds, for the hot path.
var latencyBoundsNs = func() (b [len(latencyBuckets)]int64) {
	for i, s := range latencyBuckets {
		b[i] = int64(s * float64(time.Second))
	}
	return b
}()

// latencyHistogram counts sampled forwarding delays. It is shared, not
// sharded: at one sample per 64 deliveries contention does not matter.
type latencyHistogram struct {
	_       [128]byte                              // keep the shards' last line to themselves
	buckets [len(latencyBuckets) + 1]atomic.Uint64 // last = +Inf
	sumNs   atomic.Int64
}

func (h *latencyHistogram) observe(ns int64) {
	i := 0
	for i < len(latencyBoundsNs) && ns > latencyBoundsNs[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sumNs.Add(ns)
}

// Counters are the node-wide media counters: every packet and byte received
// from publishers and sent to subscribers, sequence gaps, NACKs and PLIs,
// across all tracks that ever existed on the Engine. They only grow. The
// per-packet cost is two uncontended atomic adds per direction; reading them
// (Snapshot) is for scrapes, not for the hot path.
type Counters struct {
	shards  [counterShards]counterShard
	next    atomic.Uint32
	latency latencyHistogram
}

// shard hands out shards round-robin; called once per Receiver or DownTrack.
func (c *Counters) shard() *counterShard {
	return &c.shards[c.next.Add(1)%counterShards]
}

// CounterSnapshot is a point-in-time sum of Counters.
type CounterSnapshot struct {
	PacketsIn, BytesIn   uint64 // RTP from publishers (bytes: payload + 12-byte header)
	PacketsOut, BytesOut uint64 // RTP to subscribers, retransmissions excluded
	Lost                 uint64 // sequence gaps seen upstream, before NACK recovery
	NACKs                uint64 // sequence numbers subscribers asked to resend
	PLIsIn               uint64 // PLI/FIR received from subscribers
	PLIsOut              uint64 // keyframe requests sent to publishers (after throttling)
	// Latency is the sampled forwarding-delay histogram: LatencyCounts[i]
	// counts samples <= LatencyBuckets()[i] and above the previous bound (not
	// cumulative); the last element counts samples above every bound.
	LatencyCounts [len(latencyBuckets) + 1]uint64
	LatencySum    time.Duration
}

// LatencyCount is the number of latency samples.
func (s CounterSnapshot) LatencyCount() uint64 {
	var n uint64
	for _, c := range s.LatencyCounts {
		n += c
	}
	return n
}

// Snapshot sums the shards. Concurrent increments may or may not be included;
// each counter is monotonic across snapshots.
func (c *Counters) Snapshot() CounterSnapshot {
	var s CounterSnapshot
	for i := range c.shards {
		sh := &c.shards[i]
		s.PacketsIn += sh.packetsIn.Load()
		s.BytesIn += sh.bytesIn.Load()
		s.PacketsOut += sh.packetsOut.Load()
		s.BytesOut += sh.bytesOut.Load()
		s.Lost += sh.lost.Load()
		s.NACKs += sh.nacks.Load()
		s.PLIsIn += sh.plisIn.Load()
		s.PLIsOut += sh.plisOut.Load()
	}
	for i := range c.latency.buckets {
		s.LatencyCounts[i] = c.latency.buckets[i].Load()
	}
	s.LatencySum = time.Duration(c.latency.sumNs.Load())
	return s
}
