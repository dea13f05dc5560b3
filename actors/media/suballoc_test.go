package media

import (
	"sync"
	"testing"
)

// TestSubscriberAllocatorSteersDownTrack: the estimate moves one simulcast
// DownTrack between layers, pauses it (one PAUSED report) when even the
// lowest layer does not fit, resumes it (one ACTIVE report) when the
// estimate rises, and a subscriber mute turns it off without a report.
// Forwarding follows: after the switch to q at its keyframe, only q flows.
func TestSubscriberAllocatorSteersDownTrack(t *testing.T) {
	r := testReceiver(t, vp8Params(), ReceiverOptions{}, 0, 1, 2)
	defer r.Close()
	w := &fakeWriter{record: true}
	d := boundDownTrack(t, r, w, 5)

	var mu sync.Mutex
	var states []bool
	a := NewSubscriberAllocator(true, func(id string, paused bool) {
		if id != "TR_x" {
			t.Errorf("state for %q", id)
		}
		mu.Lock()
		states = append(states, paused)
		mu.Unlock()
	})
	seq := [3]uint16{10, 2000, 40000}
	send := func(li int, key bool) {
		pl := vp8Delta
		if key {
			pl = vp8Key
		}
		feed(t, r, li, seq[li], uint32(seq[li])*3000, pl)
		seq[li]++
	}
	check := func(step string, target int, paused bool, wantStates ...bool) {
		t.Helper()
		st := d.Stats()
		if st.TargetLayer != target || st.Paused != paused {
			t.Fatalf("%s: target %d paused %v, want %d %v", step, st.TargetLayer, st.Paused, target, paused)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(states) != len(wantStates) {
			t.Fatalf("%s: stream states %v, want %v", step, states, wantStates)
		}
		for i := range states {
			if states[i] != wantStates[i] {
				t.Fatalf("%s: stream states %v, want %v", step, states, wantStates)
			}
		}
	}

	a.Set(d, TrackWishes{MaxLayer: -1})
	check("unknown estimate", 2, false)
	send(2, true)
	a.SetEstimate(700_000) // 90 % = 630k: h (500k nominal)
	check("700k", 1, false)
	a.SetEstimate(200_000) // 180k: q
	check("200k", 0, false)
	send(2, false)
	send(0, true) // q's keyframe completes the switch
	send(2, false)
	send(0, false)
	if st := d.Stats(); st.CurrentLayer != 0 || st.Packets != 4 {
		t.Fatalf("after the switch: layer %d packets %d, want q and 4", st.CurrentLayer, st.Packets)
	}
	a.SetEstimate(100_000)
	check("100k", 0, true, true)
	before := d.Stats().Packets
	send(0, true)
	if d.Stats().Packets != before {
		t.Fatal("a paused track forwarded a packet")
	}
	a.SetEstimate(5_000_000)
	check("5M", 2, false, true, false)
	a.Set(d, TrackWishes{MaxLayer: -1, Disabled: true})
	check("disabled", 2, true, true, false)
	if al := a.Allocations()["TR_x"]; al.Layer != -1 || al.Paused {
		t.Fatalf("disabled allocation %+v", al)
	}
	a.Set(d, TrackWishes{MaxLayer: 1})
	check("max layer 1", 1, false, true, false)
	a.Remove(d)
	if len(a.Allocations()) != 0 {
		t.Fatal("removed track still allocated")
	}
}
