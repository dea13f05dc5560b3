package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// ProtocolVersion is the LiveKit signalling protocol version this node implements, reported as
// JoinResponse.server_info.protocol. 16 is LiveKit's types.CurrentProtocol of its 1.8/1.9 servers:
// the node behaves as they do for every client version up to 16 (protobuf signalling,
// subscriber-primary, speakers_changed deltas, connection quality, unpublish, DISCONNECTED
// updates, sync-stream ids, identity-based reconnection). It never moves a participant between
// rooms (no MoveParticipant), so room_moved, the one message 16 adds, is never sent. 17's packet
// trailer is not implemented.
const ProtocolVersion = 16

// roomUpdateInterval is how often, at most, participant and publisher counts reach the
// participants as room_update (LiveKit batches them too, every 5 s). Metadata and
// active_recording changes go out at once.
const roomUpdateInterval = time.Second

// roomUpdateTick is the room's reminder that a batched room_update is due.
type roomUpdateTick struct{}

// roomFacts is what a room_update tells participants, for telling whether one is due.
type roomFacts struct {
	participants, publishers uint32
	recording                bool
	metadata                 string
}

func factsOf(info *livekit.Room) roomFacts {
	return roomFacts{info.GetNumParticipants(), info.GetNumPublishers(), info.GetActiveRecording(), info.GetMetadata()}
}

// roomUpdates remembers the last room_update the room broadcast and the pending batched one.
type roomUpdates struct {
	sent   roomFacts
	sentAt time.Time
	timer  *time.Timer
}

// roomChanged is called whenever the room's public info may have changed: a metadata or recording
// change is broadcast at once, a count change at most once per roomUpdateInterval.
func (r *roomActor) roomChanged(ctx actor.Context) {
	cur := r.roomInfo()
	now, u := factsOf(cur), &r.updates
	switch {
	case now == u.sent:
		return
	case now.metadata != u.sent.metadata || now.recording != u.sent.recording:
		r.sendRoomUpdate(cur)
	case u.timer != nil:
		// a batched update is already due
	default:
		if wait := roomUpdateInterval - time.Since(u.sentAt); wait > 0 {
			u.timer = sendAfter(ctx, wait, &roomUpdateTick{})
			return
		}
		r.sendRoomUpdate(cur)
	}
}

// roomUpdateDue sends the batched room_update if the counts still differ from the last one sent.
func (r *roomActor) roomUpdateDue() {
	r.updates.timer = nil
	if cur := r.roomInfo(); factsOf(cur) != r.updates.sent {
		r.sendRoomUpdate(cur)
	}
}

// sendRoomUpdate broadcasts info as room_update and remembers it as sent.
func (r *roomActor) sendRoomUpdate(info *livekit.Room) {
	r.updates.sent, r.updates.sentAt = factsOf(info), time.Now()
	r.broadcast(&livekit.SignalResponse{Message: &livekit.SignalResponse_RoomUpdate{RoomUpdate: &livekit.RoomUpdate{Room: info}}})
}

// stopRoomUpdates cancels a pending batched room_update.
func (r *roomActor) stopRoomUpdates() {
	if r.updates.timer != nil {
		r.updates.timer.Stop()
		r.updates.timer = nil
	}
}

// countRoom fills info's participant and publisher counts and active_recording from the members,
// as LiveKit counts them: hidden participants are not counted; a recorder in the room (as an
// egress joins) marks it recording.
func (r *roomActor) countRoom(info *livekit.Room) {
	var parts, pubs uint32
	recording := false
	for _, p := range r.participants {
		perm := p.info.GetPermission()
		if perm.GetRecorder() {
			recording = true
		}
		if perm.GetHidden() {
			continue
		}
		parts++
		if p.info.GetIsPublisher() {
			pubs++
		}
	}
	info.NumParticipants, info.NumPublishers, info.ActiveRecording = parts, pubs, recording
}

// countJoiner counts a participant that is joining into room, the info its JoinResponse carries:
// the room as it is with the joiner in it.
func countJoiner(room *livekit.Room, joiner *livekit.ParticipantInfo) {
	perm := joiner.GetPermission()
	if perm.GetRecorder() {
		room.ActiveRecording = true
	}
	if !perm.GetHidden() {
		room.NumParticipants++
	}
}

// memberCount is how a participant counts in the room's info; a change means the counts changed.
type memberCount struct{ hidden, recorder, publisher bool }

// countedAs is info's memberCount.
func countedAs(info *livekit.ParticipantInfo) memberCount {
	perm := info.GetPermission()
	return memberCount{perm.GetHidden(), perm.GetRecorder(), info.GetIsPublisher()}
}
