package actors

// What room and participant share about one session: the client's signalling queue with its
// once-only leave, and the subscriber snapshot a track actor publishes.

import (
	"sync/atomic"

	"github.com/actor-sfu/livekit-server/actors/media"
	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// sessionSink is one participant's outbound signalling queue as the actors use it: the edge's
// SignalSink plus the rule that a session hears at most one leave, from whoever says why first.
// The room (broadcasts; the leave when it closes or replaces a session) and the participant
// actor (its own replies and leave) both send on it, as they send on the SignalSink it wraps;
// like that sink it is safe for concurrent use, and the leave flag is its only state.
type sessionSink struct {
	SignalSink
	left atomic.Bool
}

// sendLeave tells the client to disconnect, unless it was told already or is gone.
func (s *sessionSink) sendLeave(reason livekit.DisconnectReason) {
	if !s.left.CompareAndSwap(false, true) {
		return
	}
	_ = s.Send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Leave{Leave: &livekit.LeaveRequest{
		Reason: reason,
		Action: livekit.LeaveRequest_DISCONNECT,
	}}})
}

// markLeft records that the client needs no leave: it left itself, or its connection is gone.
func (s *sessionSink) markLeft() { s.left.Store(true) }

// subscriberSet is the snapshot a track actor publishes of who receives its track: each
// subscriber's participant actor id with its DownTrack. The track actor is its only writer; the
// room reads it for connection quality and the inspector for the debug view. Each snapshot is
// immutable once stored.
type subscriberSet struct {
	p atomic.Pointer[[]subscriberRef]
}

// subscriberRef is one subscriber of a track: its participant actor's id and its DownTrack.
type subscriberRef struct {
	actorID string
	down    *media.DownTrack
	rate    *bitrateMeter // for the debug view's bitrate
}

// load returns the latest snapshot; nil before the first subscriber.
func (s *subscriberSet) load() []subscriberRef {
	if v := s.p.Load(); v != nil {
		return *v
	}
	return nil
}

// store publishes a new snapshot; subs must not be changed afterwards.
func (s *subscriberSet) store(subs []subscriberRef) { s.p.Store(&subs) }
