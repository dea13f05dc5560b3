package actors

import (
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// Lifecycle event names, as LiveKit's webhooks spell them.
const (
	EventRoomStarted  = "room_started"
	EventRoomFinished = "room_finished"
	// EventParticipantJoined is sent when the participant becomes ACTIVE (its primary
	// PeerConnection connected), as LiveKit sends it, not when its signal connection joins.
	EventParticipantJoined = "participant_joined"
	EventParticipantLeft   = "participant_left"
	// EventParticipantConnectionAborted replaces participant_left for a participant that joined
	// but never became ACTIVE (its media never connected).
	EventParticipantConnectionAborted = "participant_connection_aborted"
	EventTrackPublished               = "track_published"
	EventTrackUnpublished             = "track_unpublished"
)

// EventSink receives the node's lifecycle events (for webhooks, metrics, audit). It is called
// from inside actors, so it must return at once: queue the event, never do I/O in place.
type EventSink func(*livekit.WebhookEvent)

// emit hands one event to the configured sink. Every message in it is a copy: the actor goes on
// changing its own.
func (n *Node) emit(event string, room *livekit.Room, p *livekit.ParticipantInfo, track *livekit.TrackInfo) {
	n.noteAgentEvent(event, room, p)
	if n.cfg.Events == nil {
		return
	}
	e := &livekit.WebhookEvent{Event: event, Id: newID("EV_"), CreatedAt: time.Now().Unix()}
	if room != nil {
		e.Room = proto.Clone(room).(*livekit.Room)
	}
	if p != nil {
		e.Participant = proto.Clone(p).(*livekit.ParticipantInfo)
	}
	if track != nil {
		e.Track = proto.Clone(track).(*livekit.TrackInfo)
	}
	n.cfg.Events(e)
}
