package media

import (
	"reflect"
	"testing"
)

// cam is a 3-layer camera at 150k / 500k / 1.8M.
func cam() AllocTrack {
	return AllocTrack{MaxLayer: -1, LayerBps: [3]int{150_000, 500_000, 1_800_000}}
}

func TestAllocate(t *testing.T) {
	audio := AllocTrack{Audio: true, LayerBps: [3]int{40_000}}
	screen := AllocTrack{Screen: true, MaxLayer: -1, LayerBps: [3]int{300_000, 0, 1_000_000}}
	with := func(t AllocTrack, f func(*AllocTrack)) AllocTrack { f(&t); return t }
	a := func(layer, bps int) Allocation { return Allocation{Layer: layer, Bps: bps} }
	off := Allocation{Layer: -1}
	paused := Allocation{Layer: -1, Paused: true}
	cases := []struct {
		name       string
		estimate   int
		tracks     []AllocTrack
		allowPause bool
		want       []Allocation
	}{
		{"plenty: top layer", 5_000_000, []AllocTrack{audio, cam()}, false,
			[]Allocation{a(0, 40_000), a(2, 1_800_000)}},
		{"unknown estimate: top layer", 0, []AllocTrack{cam()}, false,
			[]Allocation{a(2, 1_800_000)}},
		{"600k cap: middle layer", 600_000, []AllocTrack{audio, cam()}, true,
			[]Allocation{a(0, 40_000), a(1, 500_000)}},
		{"audio counts first", 520_000, []AllocTrack{audio, cam()}, true,
			[]Allocation{a(0, 40_000), a(0, 150_000)}},
		{"100k: paused, audio kept", 100_000, []AllocTrack{audio, cam()}, true,
			[]Allocation{a(0, 40_000), paused}},
		{"100k without pause: lowest anyway", 100_000, []AllocTrack{audio, cam()}, false,
			[]Allocation{a(0, 40_000), a(0, 150_000)}},
		{"audio even when over budget", 10_000, []AllocTrack{audio}, true,
			[]Allocation{a(0, 40_000)}},
		{"disabled gets nothing, not paused", 5_000_000, []AllocTrack{with(cam(), func(t *AllocTrack) { t.Disabled = true }), audio}, true,
			[]Allocation{off, a(0, 40_000)}},
		{"max quality caps the layer", 5_000_000, []AllocTrack{with(cam(), func(t *AllocTrack) { t.MaxLayer = 1 })}, false,
			[]Allocation{a(1, 500_000)}},
		{"screen share climbs before camera", 1_400_000, []AllocTrack{cam(), screen}, true,
			[]Allocation{a(0, 150_000), a(2, 1_000_000)}},
		{"screen share keeps its layer when only one fits", 400_000, []AllocTrack{cam(), screen}, true,
			[]Allocation{paused, a(0, 300_000)}},
		{"priority 1 before unset", 700_000, []AllocTrack{cam(), with(cam(), func(t *AllocTrack) { t.Priority = 1 })}, true,
			[]Allocation{a(0, 150_000), a(1, 500_000)}},
		{"priority 2 after 1", 200_000, []AllocTrack{with(cam(), func(t *AllocTrack) { t.Priority = 2 }), with(cam(), func(t *AllocTrack) { t.Priority = 1 })}, true,
			[]Allocation{paused, a(0, 150_000)}},
		{"missing low layer: lowest live one", 2_000_000, []AllocTrack{with(cam(), func(t *AllocTrack) { t.LayerBps[0] = 0; t.MaxLayer = 1 })}, false,
			[]Allocation{a(1, 500_000)}},
		{"nothing live: none, not paused", 2_000_000, []AllocTrack{{MaxLayer: -1}}, true,
			[]Allocation{off}},
		{"skips a layer that does not fit for one that does", 1_000_000, []AllocTrack{with(cam(), func(t *AllocTrack) { t.LayerBps[1] = 1_200_000 })}, false,
			[]Allocation{a(0, 150_000)}},
		{"two cameras share", 1_000_000, []AllocTrack{cam(), cam()}, true,
			[]Allocation{a(1, 500_000), a(1, 500_000)}},
		{"first camera climbs first", 900_000, []AllocTrack{cam(), cam()}, true,
			[]Allocation{a(1, 500_000), a(0, 150_000)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Allocate(c.estimate, c.tracks, c.allowPause)
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Allocate(%d) = %+v, want %+v", c.estimate, got, c.want)
			}
			sum := 0
			for i, g := range got {
				if !c.tracks[i].Audio {
					sum += g.Bps
				}
			}
			if c.estimate > 0 && c.allowPause && sum > c.estimate {
				t.Fatalf("video allocation %d over the estimate %d", sum, c.estimate)
			}
		})
	}
}
