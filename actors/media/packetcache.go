// This file holds the per-layer packet cache that answers NACKs.
//
// Who writes what: only the layer's forwarder goroutine puts packets in;
// DownTracks' RTCP goroutines read them under the cache's lock, taking a
// reference, and the Receiver clears it on Close.

package media

import (
	"sync"
	"unsafe"
)

// packetFootprint is what one cached packet pins: the whole pooled packet,
// buffer included, however small the RTP packet in it.
const packetFootprint = int(unsafe.Sizeof(packet{}))

// packetCache keeps the last N packets of one upstream layer, indexed by
// sequence number, so that subscriber NACKs are answered from one shared copy
// instead of a per-subscriber copy inside pion's NACK responder.
type packetCache struct {
	mu    sync.Mutex
	mask  uint16
	slots []*packet
}

// newPacketCache makes a cache of size slots, rounded up to a power of two
// (at most 32768), then halved until the packets it can hold pin no more
// than maxBytes (0: no byte cap). Slots hold pooled packets whose buffers
// are all maxPacketSize, so the byte cap is a count cap in disguise: a
// publisher sending tiny packets pins no more than one sending large ones.
func newPacketCache(size, maxBytes int) *packetCache {
	n := 1
	for n < size && n < 1<<15 {
		n <<= 1
	}
	for maxBytes > 0 && n > 1 && n*packetFootprint > maxBytes {
		n >>= 1
	}
	return &packetCache{mask: uint16(n - 1), slots: make([]*packet, n)}
}

// put stores p (taking a reference) and drops whatever occupied its slot.
func (c *packetCache) put(p *packet) {
	p.acquire()
	i := p.hdr.SequenceNumber & c.mask
	c.mu.Lock()
	old := c.slots[i]
	c.slots[i] = p
	c.mu.Unlock()
	if old != nil {
		old.release()
	}
}

// get returns the packet with sequence number seq with a reference the caller
// must release, or nil if it was never seen or has been overwritten.
func (c *packetCache) get(seq uint16) *packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.slots[seq&c.mask]
	if p == nil || p.hdr.SequenceNumber != seq {
		return nil
	}
	p.acquire()
	return p
}

// clear releases every cached packet.
func (c *packetCache) clear() {
	c.mu.Lock()
	slots := c.slots
	c.slots = make([]*packet, len(slots))
	c.mu.Unlock()
	for _, p := range slots {
		if p != nil {
			p.release()
		}
	}
}
