package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/actors/media"
	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// Messages inside the actor tree. Requests from the edge carry protobuf where the Room API or the
// signalling protocol already defines a message, so relaying them to another node later is a
// transport change. The comment of each message names the actor that handles it; a message that
// passes through another actor on its way (joinRoom, toRoom) names both.

// replyError is the reply to a request that failed; Node.ask turns it back into an error.
type replyError struct{ err error }

// --- edge → node ---

// createRoom asks the node to create a room (node).
type createRoom struct{ req *livekit.CreateRoomRequest }

// listRooms asks the node for its rooms (node). Reply: *roomList.
type listRooms struct{ names []string }

type roomList struct{ rooms []*livekit.Room }

// deleteRoom asks the node to close a room (node). Reply: *roomDeleted.
type deleteRoom struct{ name string }

type roomDeleted struct{ pid *actor.PID }

// toRoom wraps a request the node routes, unchanged, to the named room (node).
type toRoom struct {
	room string
	msg  any
}

// joinRoom admits a participant (node, then room). Reply: *joined.
type joinRoom struct{ req *JoinRequest }

type joined struct {
	pid *actor.PID
	sid string
	gen uint64 // the signalling connection's generation
}

// shutdown closes every room with SERVER_SHUTDOWN (node). Reply: *roomPIDs.
type shutdown struct{}

type roomPIDs struct{ pids []*actor.PID }

// --- room → node ---

// roomIdle says a room has been empty for its timeout and would close (node). joinsSeen lets the
// node tell whether a join it forwarded is still on its way; only if none is does it close the room.
type roomIdle struct {
	pid       *actor.PID
	joinsSeen int
}

// roomSummary keeps the node's copy of a room's public info current (node).
type roomSummary struct{ room *livekit.Room }

// --- edge → room (routed by the node) ---

type listParticipants struct{}

type participantList struct{ participants []*livekit.ParticipantInfo }

type getParticipant struct{ identity string }

type removeParticipant struct{ identity string }

type muteTrack struct {
	identity, trackSID string
	muted              bool
}

type updateParticipant struct {
	req *livekit.UpdateParticipantRequest
}

// updateSubscriptions changes what a participant receives (room; from the Room API or, with
// identity set by the participant itself, from its client).
type updateSubscriptions struct {
	identity string
	update   *livekit.UpdateSubscription
}

type sendServerData struct{ req *livekit.SendDataRequest }

type updateRoomMetadata struct{ metadata string }

// closeRoom disconnects everyone with the given reason and stops the room (room).
type closeRoom struct{ reason livekit.DisconnectReason }

// done is the reply to a request that succeeded with nothing to report.
type done struct{}

// --- participant → room ---

// participantChanged carries a participant's new info (room), to store and broadcast.
type participantChanged struct{ info *livekit.ParticipantInfo }

// trackPublished tells the room a track has media and may be subscribed to (room).
type trackPublished struct {
	publisherSID string
	info         *livekit.TrackInfo
	pid          *actor.PID
	receiver     *media.Receiver
	codec        webrtc.RTPCodecCapability
	subscribers  *subscriberSet // published by the track actor
}

// trackUnpublished tells the room a track is gone (room).
type trackUnpublished struct {
	publisherSID, trackSID string
}

// dataFrom carries a data packet a participant (or the Room API) sent, already stamped with its
// sender and encoded, with the recipients it names (room). The room only picks recipients, one
// set lookup per participant: a flood of data, or a packet naming thousands of destinations,
// costs it no decoding, encoding or list scanning.
type dataFrom struct {
	senderIdentity string // empty for the Room API
	kind           livekit.DataPacket_Kind
	data           []byte
	dest           []string        // the destination identities the packet lists
	to             map[string]bool // identities and (legacy) SIDs it is for; nil means everyone
	sequence       uint32          // the sender's reliable-data sequence number; 0 when it sets none
	// rpcAck and rpcResponse are set when the packet acks or answers an RPC, so that the room can
	// take those meant for its own PerformRpc calls (room_rpc.go).
	rpcAck      string
	rpcResponse *livekit.RpcResponse
}

// --- room → participant ---

// subscribeTrack asks a participant to receive a published track (participant).
type subscribeTrack struct {
	publisherSID string
	info         *livekit.TrackInfo
	pid          *actor.PID
	receiver     *media.Receiver
	codec        webrtc.RTPCodecCapability
}

// unsubscribeTrack asks a participant to stop receiving a track (participant).
type unsubscribeTrack struct{ trackSID string }

// deliverData asks a participant to send an encoded DataPacket to its client (participant).
type deliverData struct {
	sender string // the sender's identity; empty for the Room API
	kind   livekit.DataPacket_Kind
	data   []byte
}

// connectionRated carries the room's latest connection-quality rating of a participant, for its
// debug view and /metrics (participant).
type connectionRated struct {
	quality livekit.ConnectionQuality
	score   float32
}

// kick disconnects a participant with a reason (participant).
type kick struct{ reason livekit.DisconnectReason }

// --- participant → track ---

// addDownTrack attaches a subscriber's DownTrack to the track's fan-out (track).
type addDownTrack struct {
	subscriber *actor.PID
	downTrack  *media.DownTrack
}

// removeDownTrack detaches it again (track).
type removeDownTrack struct{ subscriber *actor.PID }

// addLayer hands another simulcast layer of the same track to its actor (track).
type addLayer struct {
	remote   *webrtc.TrackRemote
	receiver *webrtc.RTPReceiver
}

// upstreamEnded says every layer of the publisher's track has ended (track).
type upstreamEnded struct{}

// --- edge → participant ---

// signalIn is one request from the participant's client on connection gen (participant).
type signalIn struct {
	req *livekit.SignalRequest
	gen uint64
}

// connectionClosed says signalling connection gen is gone (participant).
type connectionClosed struct {
	abrupt bool
	gen    uint64
}

// signalAttached says the edge holds connection gen: the join or resume reply reached it
// (participant).
type signalAttached struct{ gen uint64 }

// resumeRoom attaches a new signalling connection to a live session (room, then participant).
// Reply: *joined.
type resumeRoom struct{ req *ResumeRequest }

// --- room → participant (session) ---

// resumeSession tells a participant the room attached connection gen and sent the snapshot; the
// participant restarts ICE, sends a refresh token and answers the edge (participant).
type resumeSession struct {
	gen         uint64
	mintToken   TokenMinter
	tokenExpiry time.Time
}

// sessionCheck re-examines a participant without a signalling connection: resume bound, grace
// period (participant).
type sessionCheck struct{}

// refreshTick sends a periodic refresh_token (participant).
type refreshTick struct{}

// --- participant → room (session) ---

// participantEnding tells the room why a participant is about to stop, for its departure
// (room).
type participantEnding struct {
	sid    string
	reason livekit.DisconnectReason
}

// --- pion callbacks → participant (each delivered through the mailbox, never handled in place) ---

type localCandidate struct {
	target    livekit.SignalTarget
	candidate *webrtc.ICECandidate
}

type pcStateChanged struct {
	target livekit.SignalTarget
	state  webrtc.PeerConnectionState
}

type remoteTrackArrived struct {
	remote   *webrtc.TrackRemote
	receiver *webrtc.RTPReceiver
}

// transportClosed says a PeerConnection's SCTP association ended: the peer closed it.
type transportClosed struct{ target livekit.SignalTarget }

type dataChannelOpened struct {
	target  livekit.SignalTarget
	channel *webrtc.DataChannel
}

type dataReceived struct {
	label string
	data  []byte
}

// speakerTick asks the room to look at audio levels (room).
type speakerTick struct{}

// roomTimeout fires the room's empty/departure timer (room); gen guards against stale timers.
type roomTimeout struct{ gen int }
