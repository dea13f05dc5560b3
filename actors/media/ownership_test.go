package media

import (
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"
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

// A closed transport fails every packet; the owner hears of it once, and a
// transient write error is counted but not reported as final.
func TestWriteFailureReportedOnce(t *testing.T) {
	r := testReceiver(t, opusParams(), ReceiverOptions{}, 0)
	defer r.Close()
	transient := &fakeWriter{err: errors.New("temporary")}
	dt := boundDownTrack(t, r, transient, 1)
	closed := &fakeWriter{err: errClosedPipeForTest}
	dc := boundDownTrack(t, r, closed, 2)
	var calls atomic.Int32
	reported := make(chan error, 4)
	for _, d := range []*DownTrack{dt, dc} {
		d.OnWriteFailed(func(err error) {
			calls.Add(1)
			reported <- err
		})
	}
	for i := range 50 {
		feed(t, r, 0, uint16(i), uint32(i*960), []byte{1})
	}
	select {
	case err := <-reported:
		if !errors.Is(err, errClosedPipeForTest) {
			t.Fatalf("reported %v, want the closed pipe", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a closed transport was never reported")
	}
	time.Sleep(50 * time.Millisecond) // a second report would run by now
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d failure reports, want exactly 1", n)
	}
	if st := dt.Stats(); st.WriteErrors != 50 {
		t.Fatalf("transient errors: %d counted, want 50 (writes go on)", st.WriteErrors)
	}
	if st := dc.Stats(); st.WriteErrors != 1 {
		t.Fatalf("closed transport: %d writes tried, want 1", st.WriteErrors)
	}
}
