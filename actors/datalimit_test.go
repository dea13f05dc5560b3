package actors

import (
	"testing"
	"time"
)

// A bucket allows its burst at once, then its rate; a refused request costs nothing.
func TestTokenBucket(t *testing.T) {
	b := newTokenBucket(10, 5)
	now := time.Unix(1000, 0)
	for i := range 5 {
		if !b.take(1, now) {
			t.Fatalf("take %d of the burst refused", i)
		}
	}
	if b.take(1, now) {
		t.Fatal("a sixth take in the same instant was allowed")
	}
	if b.take(2, now.Add(100*time.Millisecond)) {
		t.Fatal("two tokens allowed 100 ms after the burst at 10/s")
	}
	if !b.take(1, now.Add(100*time.Millisecond)) {
		t.Fatal("one token refused 100 ms after the burst at 10/s")
	}
	if got := b.tokens; got != 0 {
		t.Fatalf("tokens = %v after spending the refill, want 0", got)
	}
	if b.take(6, now.Add(time.Hour)) {
		t.Fatal("more than the burst allowed after a long pause")
	}
	if u := newTokenBucket(-1, 0); !u.take(1e9, now) {
		t.Fatal("a bucket without a rate refused")
	}
}

// The data limiter charges both budgets only when both have room: bytes refused do not spend a
// message, and the byte budget always holds one packet of the largest size.
func TestDataLimiter(t *testing.T) {
	l := newDataLimiter(Limits{DataMessagesPerSecond: 3, DataBytesPerSecond: 1000, MaxDataPacketSize: 4000})
	if !l.allow(4000) {
		t.Fatal("one packet of the largest size refused from a full budget")
	}
	if l.allow(10) {
		t.Fatal("bytes beyond the budget allowed")
	}
	if got := l.msgs.tokens; got < 1.9 || got > 2.1 {
		t.Fatalf("message tokens = %v after one allowed and one refused, want 2", got)
	}
	l = newDataLimiter(Limits{DataMessagesPerSecond: 2, DataBytesPerSecond: 1 << 20, MaxDataPacketSize: 100})
	allowed := 0
	for range 10 {
		if l.allow(1) {
			allowed++
		}
	}
	if allowed != 2 {
		t.Fatalf("%d of 10 tiny messages allowed at 2 messages/s, want 2", allowed)
	}
}

// senderShare forgets after its window, and counts per sender.
func TestSenderShare(t *testing.T) {
	var s senderShare
	now := time.Unix(1000, 0)
	if s.bytes("a", now) != 0 {
		t.Fatal("a new share is not empty")
	}
	s.add("a", 10)
	s.add("a", 5)
	s.add("b", 1)
	if got := s.bytes("a", now.Add(shareWindow/2)); got != 15 {
		t.Fatalf("a = %d, want 15", got)
	}
	if got := s.bytes("a", now.Add(shareWindow)); got != 0 {
		t.Fatalf("a = %d after the window, want 0", got)
	}
}
