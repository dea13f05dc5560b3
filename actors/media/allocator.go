// This file holds the stream allocator: which layer of each subscribed track
// one subscriber gets for its bandwidth estimate. Allocate is pure; the
// caller (the subscriber's participant, or SubscriberAllocator) applies the
// result to the DownTracks.

package media

import (
	"math"
	"slices"
)

// AllocTrack is one subscribed track as the allocator sees it.
type AllocTrack struct {
	Audio bool
	// Screen marks a screen share: served before cameras.
	Screen bool
	// Priority is the subscriber's priority, 1 highest; 0 (unset) comes
	// after every set priority.
	Priority int
	// Disabled is the subscriber's mute (UpdateTrackSettings.disabled).
	Disabled bool
	// MaxLayer is the highest spatial layer the subscriber wants (from
	// quality or width/height); negative = the top one.
	MaxLayer int
	// LayerBps is the measured bitrate of each spatial layer, 0 for one not
	// published or not live. Audio uses LayerBps[0].
	LayerBps [maxLayers]int
}

// Allocation is the decision for one track.
type Allocation struct {
	// Layer is the spatial layer to forward, -1 for none (disabled, paused
	// or nothing live).
	Layer int
	// Paused is true when the track gets nothing for lack of bandwidth (a
	// StreamStateUpdate PAUSED), as opposed to disabled or not live.
	Paused bool
	Bps    int
}

// Allocate chooses a layer for every track within estimate bits per second.
// Audio always comes first and is never cut. Video tracks are served in
// order: screen shares, then by priority (1 first, unset last), then as
// given. First every enabled video track gets its lowest live layer while
// the budget lasts; a track that does not fit is paused when allowPause,
// else it gets its lowest layer anyway. Then, in the same order, each track
// climbs to the highest wanted layer the rest of the budget carries.
// An estimate ≤ 0 means unknown: every track gets its highest wanted layer.
// The result is indexed like tracks.
func Allocate(estimate int, tracks []AllocTrack, allowPause bool) []Allocation {
	out := make([]Allocation, len(tracks))
	budget := estimate
	if estimate <= 0 {
		budget = math.MaxInt / 2
	}
	var video []int
	for i, t := range tracks {
		out[i].Layer = -1
		switch {
		case t.Disabled:
		case t.Audio:
			out[i] = Allocation{Layer: 0, Bps: t.LayerBps[0]}
			budget -= t.LayerBps[0]
		default:
			video = append(video, i)
		}
	}
	slices.SortStableFunc(video, func(a, b int) int {
		ta, tb := tracks[a], tracks[b]
		if ta.Screen != tb.Screen {
			if ta.Screen {
				return -1
			}
			return 1
		}
		return priorityRank(ta.Priority) - priorityRank(tb.Priority)
	})
	for _, i := range video {
		low := lowestLive(tracks[i])
		if low < 0 {
			continue
		}
		cost := tracks[i].LayerBps[low]
		if cost > budget && allowPause {
			out[i].Paused = true
			continue
		}
		out[i] = Allocation{Layer: low, Bps: cost}
		budget -= cost
	}
	for _, i := range video {
		if out[i].Layer < 0 {
			continue
		}
		t := tracks[i]
		for l := topWanted(t); l > out[i].Layer; l-- {
			if c := t.LayerBps[l]; c > 0 && c-out[i].Bps <= budget {
				budget -= c - out[i].Bps
				out[i] = Allocation{Layer: l, Bps: c}
				break
			}
		}
	}
	return out
}

// priorityRank orders priorities: 1 first, unset (0 or less) last.
func priorityRank(p int) int {
	if p <= 0 {
		return math.MaxInt32
	}
	return p
}

// topWanted is the highest layer the subscriber accepts.
func topWanted(t AllocTrack) int {
	if t.MaxLayer < 0 || t.MaxLayer >= maxLayers {
		return maxLayers - 1
	}
	return t.MaxLayer
}

// lowestLive is the lowest live layer within what is wanted, -1 if none.
func lowestLive(t AllocTrack) int {
	for l := 0; l <= topWanted(t); l++ {
		if t.LayerBps[l] > 0 {
			return l
		}
	}
	return -1
}
