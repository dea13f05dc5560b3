package actors

// What room and participant share about one session: the client's replaceable signalling
// attachment with its once-only leave, the last reliable data sequence accepted from the client,
// and the subscriber snapshot a track actor publishes.

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/actor-sfu/livekit-server/actors/media"
	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// errSignalDetached is what Send returns while the session has no signalling connection: the
// socket is gone and the client has not resumed yet. Nothing is queued meanwhile; a resume
// re-sends the state instead (LiveKit's behaviour).
var errSignalDetached = errors.New("signal connection detached")

// sessionSink is one participant's outbound signalling as the actors use it. The participant
// actor, not the WebSocket, is the session: the edge's SignalSink behind it is replaceable (a
// resume attaches a new one) and may be absent (the socket dropped). Each attachment has a
// generation, so that the edge's messages about an old socket can be told from the current one,
// and its own rule that it hears at most one leave, from whoever says why first.
//
// The room (broadcasts, resume) and the participant actor (its replies, leave, detach) both use
// it; it is safe for concurrent use.
type sessionSink struct {
	mu  sync.Mutex
	cur *attachment

	// lastDataSeq is the highest reliable DataPacket sequence accepted from the client. The
	// participant actor writes it; the room reads it for ReconnectResponse.last_message_seq.
	lastDataSeq atomic.Uint32
}

// attachment is one signalling connection of a session.
type attachment struct {
	sink SignalSink // nil while detached
	gen  uint64
	left atomic.Bool
}

// newSessionSink starts a session attached to sink, generation 1.
func newSessionSink(sink SignalSink) *sessionSink {
	return &sessionSink{cur: &attachment{sink: sink, gen: 1}}
}

func (s *sessionSink) current() *attachment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Send queues a response on the current connection; it fails while detached.
func (s *sessionSink) Send(m *livekit.SignalResponse) error {
	a := s.current()
	if a.sink == nil {
		return errSignalDetached
	}
	return a.sink.Send(m)
}

// Close flushes and closes the current connection, if any.
func (s *sessionSink) Close() {
	if a := s.current(); a.sink != nil {
		a.sink.Close()
	}
}

// generation names the current attachment.
func (s *sessionSink) generation() uint64 { return s.current().gen }

// attach makes sink the session's connection and returns its generation and the connection it
// replaces (nil when there was none), which the caller closes.
func (s *sessionSink) attach(sink SignalSink) (uint64, SignalSink) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur
	s.cur = &attachment{sink: sink, gen: old.gen + 1}
	return s.cur.gen, old.sink
}

// detach drops the current connection (if it is still generation gen) and returns it, so the
// caller can flush and close it. Later Sends fail until a resume attaches a new one.
func (s *sessionSink) detach(gen uint64) SignalSink {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur
	if old.gen != gen || old.sink == nil {
		return nil
	}
	s.cur = &attachment{gen: old.gen + 1}
	return old.sink
}

// sendLeave tells the client to disconnect for good, unless it was told already or is gone.
func (s *sessionSink) sendLeave(reason livekit.DisconnectReason) {
	s.sendLeaveAction(reason, livekit.LeaveRequest_DISCONNECT)
}

// sendLeaveAction sends a leave with the given action (DISCONNECT, RESUME or RECONNECT) on the
// current connection, once per connection.
func (s *sessionSink) sendLeaveAction(reason livekit.DisconnectReason, action livekit.LeaveRequest_Action) {
	a := s.current()
	if a.sink == nil || !a.left.CompareAndSwap(false, true) {
		return
	}
	_ = a.sink.Send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Leave{Leave: &livekit.LeaveRequest{
		Reason: reason,
		Action: action,
	}}})
}

// markLeft records that the current connection needs no leave: the client left itself, or the
// connection is gone.
func (s *sessionSink) markLeft() { s.current().left.Store(true) }

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
