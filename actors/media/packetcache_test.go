package media

import "testing"

func cachedTestPacket(seq uint16) *packet {
	p := getPacket()
	p.hdr.SequenceNumber = seq
	return p
}

func TestPacketCache(t *testing.T) {
	c := newPacketCache(5, 0) // rounds to 8
	if len(c.slots) != 8 {
		t.Fatalf("size %d, want 8", len(c.slots))
	}
	var first *packet
	for seq := uint16(65530); seq != 4; seq++ { // wraps
		p := cachedTestPacket(seq)
		c.put(p)
		if first == nil {
			first = p // keep our reference to watch the cache drop its own
		} else {
			p.release()
		}
	}
	for _, seq := range []uint16{65532, 65535, 0, 3} {
		p := c.get(seq)
		if p == nil || p.hdr.SequenceNumber != seq {
			t.Fatalf("seq %d missing", seq)
		}
		p.release()
	}
	if c.get(65530) != nil || c.get(65531) != nil {
		t.Fatal("evicted packets still returned")
	}
	if c.get(4) != nil {
		t.Fatal("unseen seq returned")
	}
	// The cache dropped its reference to the evicted packet; only ours is left.
	if n := first.refs.Load(); n != 1 {
		t.Fatalf("evicted refs %d, want 1", n)
	}
	first.release()
	held := c.get(3)
	c.clear()
	if n := held.refs.Load(); n != 1 {
		t.Fatalf("held refs %d after clear, want 1", n)
	}
	held.release()
}

// The byte cap bounds what a cache pins: a count that would pin more is
// lowered to the largest power of two that fits, and the default
// configuration keeps its 512 packets within 1 MiB.
func TestPacketCacheByteCap(t *testing.T) {
	for _, tc := range []struct{ size, bytes, want int }{
		{512, 1 << 20, 512},
		{32768, 1 << 20, 512},
		{32768, 0, 32768},
		{1024, 10 * packetFootprint, 8},
		{64, 1, 1},
	} {
		c := newPacketCache(tc.size, tc.bytes)
		if len(c.slots) != tc.want {
			t.Errorf("size %d, cap %d B: %d slots, want %d", tc.size, tc.bytes, len(c.slots), tc.want)
		}
		if tc.bytes > packetFootprint && len(c.slots)*packetFootprint > tc.bytes {
			t.Errorf("size %d: %d slots pin %d B, cap %d", tc.size, len(c.slots), len(c.slots)*packetFootprint, tc.bytes)
		}
	}
	r := testReceiver(t, opusParams(), ReceiverOptions{PacketCacheSize: 1 << 15}, 0)
	defer r.Close()
	if n := len(r.layers[0].Load().cache.slots); n*packetFootprint > 1<<20 {
		t.Errorf("a receiver asking for 32768 packets caches %d, pinning %d B", n, n*packetFootprint)
	}
}
