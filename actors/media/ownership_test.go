package media

import (
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// Close stops a DownTrack's writes but leaves the receiver's snapshot to the
// track actor, its only writer: the DownTrack is still listed until the owner
// removes it.
func TestCloseLeavesSnapshotToOwner(t *testing.T) {
	r := testReceiver(t, opusParams(), ReceiverOptions{}, 0)
	defer r.Close()
	w := &fakeWriter{}
	d := boundDownTrack(t, r, w, 1)
	feed(t, r, 0, 1, 960, []byte{1})
	d.Close()
	feed(t, r, 0, 2, 1920, []byte{1})
	if w.count() != 1 {
		t.Fatalf("%d packets written, want 1: a closed DownTrack must not write", w.count())
	}
	if !slices.Contains(*r.downs.Load(), d) {
		t.Fatal("Close took the DownTrack out of the snapshot; only the owner may")
	}
	r.RemoveDownTrack(d)
	if slices.Contains(*r.downs.Load(), d) {
		t.Fatal("RemoveDownTrack left the DownTrack in the snapshot")
	}
}

// A closed transport fails every packet; the owner hears of it once. A
// closed pipe is final at once; any other error only once writes have kept
// failing for the DownTrack's failAfter, so a transient error is counted but
// not reported, and a success in between starts the count again.
func TestWriteFailureReportedOnce(t *testing.T) {
	r := testReceiver(t, opusParams(), ReceiverOptions{}, 0)
	defer r.Close()
	transient := &fakeWriter{err: errors.New("temporary")}
	dt := boundDownTrack(t, r, transient, 1)
	dt.failAfter = int64(time.Hour)
	persistent := &fakeWriter{err: errors.New("stream not open")}
	dp := boundDownTrack(t, r, persistent, 2)
	dp.failAfter = int64(100 * time.Millisecond)
	closed := &fakeWriter{err: errClosedPipeForTest}
	dc := boundDownTrack(t, r, closed, 3)
	reports := map[*DownTrack]*atomic.Int32{}
	reported := make(chan *DownTrack, 8)
	for _, d := range []*DownTrack{dt, dp, dc} {
		reports[d] = &atomic.Int32{}
		d.OnWriteFailed(func(error) {
			reports[d].Add(1)
			reported <- d
		})
	}
	seq := uint16(0)
	send := func(n int) {
		for range n {
			feed(t, r, 0, seq, uint32(seq)*960, []byte{1})
			seq++
		}
	}
	send(10)
	if got := waitReport(t, reported); got != dc {
		t.Fatal("the first report is not the closed pipe's")
	}
	deadline := time.Now().Add(5 * time.Second)
	for reports[dp].Load() == 0 && time.Now().Before(deadline) {
		send(1)
		time.Sleep(10 * time.Millisecond)
	}
	if reports[dp].Load() == 0 {
		t.Fatal("writes failing for longer than failAfter were never reported")
	}
	send(20)
	time.Sleep(50 * time.Millisecond) // a second report would have run by now
	for d, name := range map[*DownTrack]string{dt: "transient", dp: "persistent", dc: "closed"} {
		want := int32(1)
		if d == dt {
			want = 0
		}
		if n := reports[d].Load(); n != want {
			t.Errorf("%s: %d failure reports, want %d", name, n, want)
		}
	}
	if st := dt.Stats(); st.WriteErrors != uint64(seq) {
		t.Errorf("transient errors: %d counted, want %d (writes go on)", st.WriteErrors, seq)
	}
	if st := dc.Stats(); st.WriteErrors != 1 {
		t.Errorf("closed transport: %d writes tried, want 1", st.WriteErrors)
	}
}

// A successful write forgets earlier errors: failures must last failAfter
// without a success in between to count as final.
func TestWriteSuccessResetsFailureClock(t *testing.T) {
	r := testReceiver(t, opusParams(), ReceiverOptions{}, 0)
	defer r.Close()
	w := &toggleWriter{}
	d := boundDownTrack(t, r, w, 1)
	d.failAfter = int64(50 * time.Millisecond)
	var reports atomic.Int32
	d.OnWriteFailed(func(error) { reports.Add(1) })
	for i := range 40 {
		w.fail.Store(i%2 == 0) // every other write succeeds
		feed(t, r, 0, uint16(i), uint32(i*960), []byte{1})
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	if n := reports.Load(); n != 0 {
		t.Fatalf("%d failure reports for a transport that keeps working", n)
	}
	if st := d.Stats(); st.WriteErrors != 20 || st.Packets != 20 {
		t.Fatalf("stats %+v, want 20 errors and 20 packets", st)
	}
}

// toggleWriter fails while fail is set and succeeds otherwise.
type toggleWriter struct{ fail atomic.Bool }

func (w *toggleWriter) WriteRTP(_ *rtp.Header, payload []byte) (int, error) {
	if w.fail.Load() {
		return 0, errors.New("temporary")
	}
	return 12 + len(payload), nil
}

func (w *toggleWriter) Write(b []byte) (int, error) { return len(b), nil }

func waitReport(t *testing.T, reported <-chan *DownTrack) *DownTrack {
	t.Helper()
	select {
	case d := <-reported:
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("no failure was reported")
		return nil
	}
}
