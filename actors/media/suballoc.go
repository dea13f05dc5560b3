// This file holds SubscriberAllocator, which applies Allocate to one
// subscriber's DownTracks whenever its estimate changes.
//
// Who writes what: the track set, the wishes and the measured layer rates
// are guarded by SubscriberAllocator.mu; callers are the subscriber's
// participant actor (Set, Remove) and the Estimator's notify goroutine
// (SetEstimate, at most 10 times a second). The DownTracks are steered only
// through their atomic control methods, never per packet.

package media

import (
	"sync"
	"time"
)

// nominalBps is what a live layer is assumed to cost until it has been
// measured (q, h, f for video; audio uses the first).
var nominalBps = [maxLayers]int{150_000, 500_000, 1_500_000}

const (
	nominalAudioBps = 40_000
	// rateWindow is the shortest interval a layer's bitrate is measured over.
	rateWindow = time.Second
	// bweHeadroom is the share of the estimate that is allocated, so that
	// keyframes and retransmissions fit.
	bweHeadroom = 0.9
)

// TrackWishes are the subscriber's settings for one track
// (UpdateTrackSettings and the track's source).
type TrackWishes struct {
	Screen   bool
	Priority int  // 1 highest, 0 unset
	Disabled bool // the subscriber's mute: no RTP, no StreamStateUpdate
	MaxLayer int  // highest wanted spatial layer, negative = the top
}

// allocEntry is one DownTrack under allocation.
type allocEntry struct {
	w       TrackWishes
	applied Allocation
	fresh   bool // not applied yet
	bytes   [maxLayers]uint64
	at      int64
	rates   [maxLayers]int
}

// SubscriberAllocator steers one subscriber PC's DownTracks from its
// bandwidth estimate: each change runs Allocate over the tracks and applies
// the result (target layer, pause). onState, if set, is called with a
// track ID and true when a track is paused for bandwidth, false when it
// resumes: the subscriber's StreamStateUpdate. Once a DownTrack is Set here,
// its pause and layer belong to the allocator: route the subscriber's mute
// through TrackWishes.Disabled, not SetPaused.
type SubscriberAllocator struct {
	allowPause bool
	onState    func(trackID string, paused bool)

	mu     sync.Mutex
	est    int
	tracks map[*DownTrack]*allocEntry
}

// NewSubscriberAllocator creates an allocator; allowPause is the
// subscriber's subscriber_allow_pause.
func NewSubscriberAllocator(allowPause bool, onState func(trackID string, paused bool)) *SubscriberAllocator {
	return &SubscriberAllocator{allowPause: allowPause, onState: onState, tracks: map[*DownTrack]*allocEntry{}}
}

// Set adds d or changes its wishes, and reallocates.
func (a *SubscriberAllocator) Set(d *DownTrack, w TrackWishes) {
	a.mu.Lock()
	e := a.tracks[d]
	if e == nil {
		e = &allocEntry{fresh: true, applied: Allocation{Layer: -1}}
		a.tracks[d] = e
	}
	e.w = w
	a.runLocked()
}

// Remove stops steering d.
func (a *SubscriberAllocator) Remove(d *DownTrack) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.tracks, d)
}

// SetEstimate takes a new estimate in bits per second (0 = unknown) and
// reallocates. Pass it to Estimator.OnEstimate.
func (a *SubscriberAllocator) SetEstimate(bps int) {
	a.mu.Lock()
	a.est = bps
	a.runLocked()
}

// Allocations is the last applied allocation of each track, by track ID.
func (a *SubscriberAllocator) Allocations() map[string]Allocation {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := make(map[string]Allocation, len(a.tracks))
	for d, e := range a.tracks {
		m[d.ID()] = e.applied
	}
	return m
}

// runLocked allocates and applies; it releases mu before telling onState.
func (a *SubscriberAllocator) runLocked() {
	now := nanotime()
	downs := make([]*DownTrack, 0, len(a.tracks))
	in := make([]AllocTrack, 0, len(a.tracks))
	for d, e := range a.tracks {
		e.measure(d.r, now)
		downs = append(downs, d)
		in = append(in, AllocTrack{
			Audio: !d.video, Screen: e.w.Screen, Priority: e.w.Priority,
			Disabled: e.w.Disabled, MaxLayer: e.w.MaxLayer, LayerBps: e.costs(d),
		})
	}
	out := Allocate(int(float64(a.est)*bweHeadroom), in, a.allowPause)
	type change struct {
		id     string
		paused bool
	}
	var changes []change
	for i, d := range downs {
		e := a.tracks[d]
		if e.applied.Paused != out[i].Paused && (!e.fresh || out[i].Paused) {
			changes = append(changes, change{d.ID(), out[i].Paused})
		}
		apply(d, e, out[i])
	}
	a.mu.Unlock()
	if a.onState != nil {
		for _, c := range changes {
			a.onState(c.id, c.paused)
		}
	}
}

// apply steers d to al, touching only what changed.
func apply(d *DownTrack, e *allocEntry, al Allocation) {
	if al.Layer >= 0 && (e.fresh || e.applied.Layer != al.Layer) && d.video {
		d.SetTargetLayer(al.Layer)
	}
	if off := al.Layer < 0; e.fresh || off != (e.applied.Layer < 0) {
		d.SetPaused(off)
	}
	e.applied, e.fresh = al, false
}

// measure updates the entry's per-layer bitrates from the receiver's byte
// counters once a rate window has passed.
func (e *allocEntry) measure(r *Receiver, now int64) {
	if e.at != 0 && now-e.at < int64(rateWindow) {
		return
	}
	for i := range r.layers {
		l := r.layers[i].Load()
		if l == nil {
			e.bytes[i], e.rates[i] = 0, 0
			continue
		}
		b := l.bytes.Load()
		if e.at != 0 && b >= e.bytes[i] {
			e.rates[i] = int(float64(b-e.bytes[i]) * 8 * 1e9 / float64(now-e.at))
		}
		e.bytes[i] = b
	}
	e.at = now
}

// costs is what each layer of d is taken to cost: measured where there is
// a measurement, nominal for a live layer not measured yet, 0 for a layer
// not live.
func (e *allocEntry) costs(d *DownTrack) [maxLayers]int {
	var c [maxLayers]int
	for i := range d.r.layers {
		l := d.r.layers[i].Load()
		if l == nil || l.ended.Load() {
			continue
		}
		switch {
		case e.rates[i] > 0:
			c[i] = e.rates[i]
		case d.video:
			c[i] = nominalBps[i]
		default:
			c[i] = nominalAudioBps
		}
	}
	return c
}
