// This file holds the pooled upstream packet.
//
// Who writes what: the layer's forwarder goroutine fills a packet and parses
// it; from then on it is read-only, shared by the cache, the forwarder and
// the fan-out writers, and reference counted so the last holder returns it
// to the pool.

package media

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// maxPacketSize bounds one RTP packet as read from pion (its receive MTU is
// 1460; a little slack costs nothing).
const maxPacketSize = 1500

// packet is one upstream RTP packet shared by the packet cache, the
// forwarder and the fan-out workers. It is parsed once and then read-only;
// refs counts the holders and the last release returns it to the pool, so
// the steady state allocates nothing however many places hold it.
type packet struct {
	hdr      rtp.Header
	payload  []byte // aliases buf, padding removed
	arrival  int64  // monotonic nanoseconds, see nanotime
	keyframe bool   // first packet of a keyframe (always true for audio)
	layer    int8
	refs     atomic.Int32
	buf      [maxPacketSize]byte
}

var packetPool = sync.Pool{New: func() any { return new(packet) }}

// getPacket returns a packet with one reference held by the caller.
func getPacket() *packet {
	p := packetPool.Get().(*packet)
	p.refs.Store(1)
	return p
}

func (p *packet) acquire() { p.refs.Add(1) }

func (p *packet) release() {
	if n := p.refs.Add(-1); n == 0 {
		p.payload = nil
		packetPool.Put(p)
	} else if n < 0 {
		panic("media: packet released too often")
	}
}

// parse fills hdr and payload from the first n bytes of buf. Header slices
// (extensions, CSRC) are reused across pool cycles, so this does not allocate
// once warm.
func (p *packet) parse(n int) error {
	hl, err := p.hdr.Unmarshal(p.buf[:n])
	if err != nil {
		return err
	}
	end := n
	if p.hdr.Padding && n > hl {
		pad := int(p.buf[n-1])
		if pad == 0 || hl+pad > n {
			return errBadPadding
		}
		end -= pad
	}
	p.payload = p.buf[hl:end]
	return nil
}

// epoch anchors nanotime. It is process state, not a setting.
var epoch = time.Now()

// nanotime is a cheap monotonic clock for per-packet timestamps; an int64 fits
// in atomics and packet structs without carrying a time.Time around.
func nanotime() int64 { return int64(time.Since(epoch)) }
