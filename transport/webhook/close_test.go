package webhook

import (
	"context"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Events raced against Close are each either delivered or counted as dropped: none is lost
// between the workers' final drain and the closed flag. Repeated, because the window is small.
func TestNotifyRacingCloseIsAccounted(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	for round := range 30 {
		before, _, _ := rc.snapshot()
		n := newNotifier(t, Config{URLs: []string{srv.URL}, QueueSize: 8})
		var notified atomic.Uint64
		var closed atomic.Bool
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Keep notifying until Close has returned, so that some calls straddle it.
				for i := 0; !closed.Load() || i < 20; i++ {
					n.Notify(event(g*100000 + i))
					notified.Add(1)
				}
			}()
		}
		time.Sleep(time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := n.Close(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		closed.Store(true)
		wg.Wait()
		after, _, _ := rc.snapshot()
		st := n.Stats()
		if got := uint64(len(after) - len(before)); got != st.Sent {
			t.Fatalf("round %d: receiver got %d, Stats.Sent %d", round, got, st.Sent)
		}
		if st.Sent+st.Dropped+st.Failed != notified.Load() {
			t.Fatalf("round %d: notified %d, sent %d + dropped %d + failed %d: events lost uncounted",
				round, notified.Load(), st.Sent, st.Dropped, st.Failed)
		}
	}
}
