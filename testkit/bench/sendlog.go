package bench

import "sync/atomic"

// SendLog records when each synthetic frame (video) or packet (audio) of one published track
// left the publisher: Record is called from synth.Options.OnFrame with the frame
// counter. It holds a fixed number of counters; later ones are not recorded.
type SendLog struct {
	times []atomic.Int64
}

// NewSendLog holds send times for counters 0..capacity-1.
func NewSendLog(capacity int) *SendLog {
	return &SendLog{times: make([]atomic.Int64, capacity)}
}

// Record stores the send time (Now) of counter n.
func (l *SendLog) Record(n uint64, at int64) {
	if n < uint64(len(l.times)) {
		l.times[n].Store(at)
	}
}

// At returns the send time of counter n, or 0 if it was not recorded.
func (l *SendLog) At(n uint64) int64 {
	if n < uint64(len(l.times)) {
		return l.times[n].Load()
	}
	return 0
}

// Len is the capacity.
func (l *SendLog) Len() int { return len(l.times) }
