package actors

// Participant updates, coalesced: the room tells everyone about a participant's change at once
// when it has said nothing about that participant for a while, and otherwise folds the changes
// that follow into one update at the next tick. A client toggling mute fifty times a second, or
// rewriting its metadata, costs each recipient at most one ParticipantUpdate per
// ParticipantUpdateInterval — and, for large infos, no more than ParticipantUpdateBytesPerSecond
// — instead of overflowing everyone's signal queue.

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
)

// updateTick asks the room to send the participant updates it held back (room).
type updateTick struct{}

// updateState is what the room remembers about the updates it sent about one participant.
type updateState struct {
	last    time.Time // when the latest update went out
	pending bool      // a change since then has not been sent
	size    int       // encoded size of the participant's info, for spacing
}

// queueUpdate tells everyone about p's latest info now, or at the next tick if an update about p
// went out too recently.
func (r *roomActor) queueUpdate(ctx actor.Context, p *memberEntry) {
	p.updates.size = proto.Size(p.info)
	now := time.Now()
	if !p.updates.pending && now.Sub(p.updates.last) >= r.updateSpacing(p) {
		r.sendUpdate(p, now)
		return
	}
	p.updates.pending = true
	if r.updateTimer == nil {
		r.updateTimer = sendAfter(ctx, r.node.cfg.Limits.ParticipantUpdateInterval, &updateTick{})
	}
}

// updateSpacing is the shortest time between two updates about p: the configured interval, or
// longer when p's info is so large that updates at that interval would exceed the byte rate.
func (r *roomActor) updateSpacing(p *memberEntry) time.Duration {
	l := r.node.cfg.Limits
	spacing := l.ParticipantUpdateInterval
	if l.ParticipantUpdateBytesPerSecond > 0 {
		spacing = max(spacing, time.Duration(p.updates.size)*time.Second/time.Duration(l.ParticipantUpdateBytesPerSecond))
	}
	return spacing
}

// sendUpdate broadcasts p's info and marks it sent.
func (r *roomActor) sendUpdate(p *memberEntry, now time.Time) {
	p.updates.last, p.updates.pending = now, false
	r.broadcastParticipant(p.info, "")
}

// flushUpdate sends p's held-back update at once, for a change others must learn before what
// follows it (a track's description before the offer that carries its media).
func (r *roomActor) flushUpdate(p *memberEntry) {
	if p.updates.pending {
		r.sendUpdate(p, time.Now())
	}
}

// flushUpdates sends the held-back updates whose spacing has passed and keeps ticking while any
// remain.
func (r *roomActor) flushUpdates(ctx actor.Context) {
	r.updateTimer = nil
	now := time.Now()
	waiting := false
	for _, p := range r.sortedMembers() {
		if !p.updates.pending {
			continue
		}
		if now.Sub(p.updates.last) >= r.updateSpacing(p) {
			r.sendUpdate(p, now)
		} else {
			waiting = true
		}
	}
	if waiting {
		r.updateTimer = sendAfter(ctx, r.node.cfg.Limits.ParticipantUpdateInterval, &updateTick{})
	}
}
