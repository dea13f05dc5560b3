// Package shaper is a test-only UDP relay on loopback that throttles one
// client's downlink: what the target (a node's ICE port) sends towards the
// client passes a token bucket and a drop-tail queue; what the client sends
// goes straight through. Point the client at Addr instead of the node's
// port and hide the client's own candidates from the node, so the node
// learns the relay's upstream socket as the client's (peer-reflexive)
// address and every packet takes the relay.
package shaper

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Stats counts what the shaped direction did.
type Stats struct {
	Forwarded, Dropped           uint64 // packets towards the client
	ForwardedBytes, DroppedBytes uint64
}

// Relay is one client's shaped path to a target.
type Relay struct {
	client *net.UDPConn // the client talks to this socket
	up     *net.UDPConn // connected to the target
	peer   atomic.Pointer[net.UDPAddr]

	mu       sync.Mutex
	cond     *sync.Cond
	queue    [][]byte
	queued   int
	maxDelay time.Duration
	limit    int // queue bytes: maxDelay at the rate
	rate     int // bytes per second, 0 = unlimited
	tokens   float64
	refillAt time.Time
	closed   bool

	st struct{ fwd, drop, fwdB, dropB atomic.Uint64 }
	wg sync.WaitGroup
}

// New starts a relay on 127.0.0.1 towards target, capping the downlink at
// bps bits per second (0 = unlimited) with a drop-tail queue that holds
// maxDelay at the cap (at least two full-size packets).
func New(target *net.UDPAddr, bps int, maxDelay time.Duration) (*Relay, error) {
	lo := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	c, err := net.ListenUDP("udp4", lo)
	if err != nil {
		return nil, fmt.Errorf("shaper: listen: %w", err)
	}
	up, err := net.DialUDP("udp4", lo, target)
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("shaper: dial %s: %w", target, err)
	}
	r := &Relay{client: c, up: up, maxDelay: maxDelay, refillAt: time.Now()}
	r.cond = sync.NewCond(&r.mu)
	r.SetRate(bps)
	r.wg.Add(3)
	go r.fromClient()
	go r.fromTarget()
	go r.drain()
	return r, nil
}

// Addr is where the client must send instead of the target.
func (r *Relay) Addr() *net.UDPAddr { return r.client.LocalAddr().(*net.UDPAddr) }

// SetRate changes the cap, in bits per second; 0 lifts it.
func (r *Relay) SetRate(bps int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rate = bps / 8
	r.limit = max(int(float64(r.rate)*r.maxDelay.Seconds()), 3000)
	r.cond.Broadcast()
}

// Stats reads the counters.
func (r *Relay) Stats() Stats {
	return Stats{Forwarded: r.st.fwd.Load(), Dropped: r.st.drop.Load(), ForwardedBytes: r.st.fwdB.Load(), DroppedBytes: r.st.dropB.Load()}
}

// Close stops the relay and waits for its goroutines.
func (r *Relay) Close() error {
	r.mu.Lock()
	r.closed = true
	r.cond.Broadcast()
	r.mu.Unlock()
	err := errors.Join(r.client.Close(), r.up.Close())
	r.wg.Wait()
	return err
}

// fromClient forwards the client's packets to the target unshaped.
func (r *Relay) fromClient() {
	defer r.wg.Done()
	buf := make([]byte, 1<<16)
	for {
		n, from, err := r.client.ReadFromUDP(buf)
		if err != nil {
			return
		}
		r.peer.Store(from)
		_, _ = r.up.Write(buf[:n])
	}
}

// fromTarget queues the target's packets for the client, dropping at the
// tail when the queue is full.
func (r *Relay) fromTarget() {
	defer r.wg.Done()
	buf := make([]byte, 1<<16)
	for {
		n, err := r.up.Read(buf)
		if err != nil {
			return
		}
		p := append([]byte(nil), buf[:n]...)
		r.mu.Lock()
		if r.rate > 0 && r.queued+n > r.limit {
			r.mu.Unlock()
			r.st.drop.Add(1)
			r.st.dropB.Add(uint64(n))
			continue
		}
		r.queue = append(r.queue, p)
		r.queued += n
		r.cond.Signal()
		r.mu.Unlock()
	}
}

// drain sends queued packets to the client as the token bucket allows.
func (r *Relay) drain() {
	defer r.wg.Done()
	for {
		p, ok := r.next()
		if !ok {
			return
		}
		if to := r.peer.Load(); to != nil {
			if _, err := r.client.WriteToUDP(p, to); err == nil {
				r.st.fwd.Add(1)
				r.st.fwdB.Add(uint64(len(p)))
			}
		}
	}
}

// next waits for the head packet and for the tokens to send it.
func (r *Relay) next() ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if r.closed {
			return nil, false
		}
		if len(r.queue) == 0 {
			r.cond.Wait()
			continue
		}
		p := r.queue[0]
		if r.rate > 0 {
			now := time.Now()
			burst := float64(max(r.rate/50, 1500)) // 20 ms of the rate
			r.tokens = min(burst, r.tokens+now.Sub(r.refillAt).Seconds()*float64(r.rate))
			r.refillAt = now
			if r.tokens < float64(len(p)) {
				wait := time.Duration((float64(len(p)) - r.tokens) / float64(r.rate) * float64(time.Second))
				r.mu.Unlock()
				time.Sleep(wait)
				r.mu.Lock()
				continue
			}
			r.tokens -= float64(len(p))
		}
		r.queue[0] = nil
		r.queue = r.queue[1:]
		r.queued -= len(p)
		return p, true
	}
}
