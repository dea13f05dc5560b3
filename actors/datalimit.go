package actors

// Limits on data and other per-participant floods: token buckets, the node-wide drop counters
// that /metrics reads, and a log line that says how much was dropped without one line per drop.

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// dropLogInterval is the shortest time between two log lines about the same kind of drop.
const dropLogInterval = 5 * time.Second

// tokenBucket refills at rate tokens per second up to burst. The zero value refuses everything;
// a bucket with rate ≤ 0 allows everything. Not safe for concurrent use.
type tokenBucket struct {
	rate, burst, tokens float64
	last                time.Time
	unlimited           bool
}

func newTokenBucket(rate, burst float64) tokenBucket {
	return tokenBucket{rate: rate, burst: burst, tokens: burst, unlimited: rate <= 0}
}

// refill adds the tokens earned since the last call.
func (b *tokenBucket) refill(now time.Time) {
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
}

// has reports whether n tokens are there to spend.
func (b *tokenBucket) has(n float64) bool { return b.unlimited || b.tokens >= n }

// take spends n tokens if the bucket holds them at now.
func (b *tokenBucket) take(n float64, now time.Time) bool {
	b.refill(now)
	if !b.has(n) {
		return false
	}
	b.tokens -= n
	return true
}

// dataLimiter caps the data one participant sends, in messages and bytes per second. pion calls
// each data channel's message callback on that channel's own goroutine, so the limiter is shared
// by two goroutines and takes a lock; it runs before the message is posted to the mailbox, so a
// flood costs the node one lock and a comparison per message beyond the limit.
type dataLimiter struct {
	mu          sync.Mutex
	msgs, bytes tokenBucket
}

// newDataLimiter holds one second's worth of each budget, and at least one packet of maxPacket
// bytes, so that a single large message is never refused outright.
func newDataLimiter(l Limits) *dataLimiter {
	return &dataLimiter{
		msgs:  newTokenBucket(float64(l.DataMessagesPerSecond), float64(l.DataMessagesPerSecond)),
		bytes: newTokenBucket(float64(l.DataBytesPerSecond), float64(max(l.DataBytesPerSecond, l.MaxDataPacketSize))),
	}
}

// allow reports whether a message of size bytes is within the sender's budget; both buckets are
// charged only when both have room.
func (l *dataLimiter) allow(size int) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs.refill(now)
	l.bytes.refill(now)
	if !l.msgs.has(1) || !l.bytes.has(float64(size)) {
		return false
	}
	l.msgs.tokens--
	l.bytes.tokens -= float64(size)
	return true
}

// dropCounters are the node-wide counts of data the node refused to relay, by reason. Any
// goroutine may add to them; Node.Stats reads them.
type dropCounters struct {
	rateLimited, bufferFull, queueFull atomic.Int64
	iceCandidates                      atomic.Int64 // remote candidates ignored
}

// DataDropStats counts data packets the node dropped instead of relaying.
type DataDropStats struct {
	// RateLimited counts packets beyond their sender's DataMessagesPerSecond or DataBytesPerSecond.
	RateLimited int64
	// BufferFull counts deliveries skipped because the subscriber's data channel already buffered
	// DataChannelMaxBufferedAmount bytes (the subscriber reads too slowly, or not at all).
	BufferFull int64
	// QueueFull counts reliable deliveries dropped because the subscriber's channel was not open yet
	// and 256 packets or DataChannelMaxBufferedAmount bytes were already waiting for it.
	QueueFull int64
}

func (c *dropCounters) snapshot() DataDropStats {
	return DataDropStats{RateLimited: c.rateLimited.Load(), BufferFull: c.bufferFull.Load(), QueueFull: c.queueFull.Load()}
}

// dropLog writes at most one line per dropLogInterval about repeated drops, with how many there
// were since the last line. Safe for concurrent use.
type dropLog struct {
	mu     sync.Mutex
	last   time.Time
	missed int
}

// note records one drop and logs it when the last line is old enough.
func (d *dropLog) note(log *slog.Logger, msg string, args ...any) {
	d.mu.Lock()
	now := time.Now()
	if !d.last.IsZero() && now.Sub(d.last) < dropLogInterval {
		d.missed++
		d.mu.Unlock()
		return
	}
	missed := d.missed
	d.last, d.missed = now, 0
	d.mu.Unlock()
	log.Warn(msg, append(args, "droppedSinceLastLine", missed)...)
}
