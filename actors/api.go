// Package actors is the domain of the node: rooms, participants and published tracks, each an actor
// that owns its state. The edges (package transport) reach it only through the methods of Node and
// Session declared here; everything behind them is message passing.
package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actor-sfu/livekit-server/actors/media"
	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// ServerVersion is the LiveKit server version a node reports to clients (server_info.version)
// unless Config.Version says otherwise. livekit-client refuses servers below 1.8.0.
const ServerVersion = "1.9.0"

// Config holds everything a Node needs. The zero value of every field has a sensible default.
type Config struct {
	// NodeID names this node in ServerInfo and logs.
	NodeID string
	// Version is reported to clients as server_info.version; empty means ServerVersion.
	Version string
	// Region is reported in ServerInfo.
	Region string
	// Logger receives every log line of the node; nil means slog.Default().
	Logger *slog.Logger
	// Media configures the WebRTC engine shared by every participant.
	Media media.Config
	// Room holds defaults for rooms that do not set their own.
	Room RoomConfig
	// Limits caps what one node, room or participant may use.
	Limits Limits
	// ICEServers are handed to clients in JoinResponse. The default hands out none.
	ICEServers []*livekit.ICEServer
	// ICEServersFor, when set, mints a participant's ice_servers at its join instead of
	// ICEServers (per-session TURN credentials). tlsOnly asks for TLS-capable TURN only
	// (PROTOCOL.md §12.5). It runs on the room's goroutine and must not block.
	ICEServersFor func(participantSID string, tlsOnly bool) []*livekit.ICEServer
	// PingInterval and PingTimeout are told to clients in JoinResponse (LiveKit: 5 s and 15 s).
	PingInterval, PingTimeout time.Duration
	// RequestTimeout bounds every Room API call that has no earlier context deadline.
	RequestTimeout time.Duration
	// Session tunes how a participant outlives its signalling connection (resume).
	Session SessionConfig
	// Agents tunes the dispatch of jobs to agent workers.
	Agents AgentConfig
	// Events, when set, receives room, participant and track lifecycle events. It must not block.
	Events EventSink
	// ReceiverMiddleware, when set, wraps the Receive of every actor the node spawns (node, rooms,
	// participants, tracks), outermost first. It runs on the actor's goroutine for every message,
	// system messages included, so it must be cheap; tests use it to inject faults.
	ReceiverMiddleware []actor.ReceiverMiddleware
}

// RoomConfig holds room defaults.
type RoomConfig struct {
	// EmptyTimeout closes a room nobody has joined after this long (LiveKit default 5 min).
	EmptyTimeout time.Duration
	// DepartureTimeout closes a room this long after its last participant left (LiveKit default 20 s).
	DepartureTimeout time.Duration
	// MaxParticipants caps a room's participants; 0 means no cap.
	MaxParticipants int
	// DisableAutoCreate refuses joins to rooms that were not created through the Room API.
	DisableAutoCreate bool
	// EnableRemoteUnmute lets MutePublishedTrack unmute a track (LiveKit refuses this by default).
	EnableRemoteUnmute bool
}

// SessionConfig tunes resume: the participant actor, not the WebSocket, is the session. When
// the socket drops the participant keeps its PeerConnections, subscriptions and tracks and waits
// for the client to come back with /rtc?reconnect=1&sid=….
type SessionConfig struct {
	// DisconnectGrace is how long a participant without a signalling connection is kept once its
	// media transport is down too (no PeerConnection connected, or one failed or disconnected);
	// then it leaves with CONNECTION_TIMEOUT. Default 5 s (LiveKit's timer after a PC failure).
	DisconnectGrace time.Duration
	// MaxSignalLoss bounds how long a participant is kept without a signalling connection while
	// its media is still up (LiveKit keeps it indefinitely); then it leaves with SIGNAL_CLOSE.
	// Default 60 s, longer than livekit-client's resume attempts (about 45 s).
	MaxSignalLoss time.Duration
	// TokenRefreshInterval is how often a participant is sent a fresh access token
	// (refresh_token), besides right after join and resume and after Room API changes to its
	// name, metadata, attributes or permission. Default 5 min.
	TokenRefreshInterval time.Duration
}

// Limits caps resources per node, room and participant. Zero means the default. The maximum number
// of participants per room is RoomConfig.MaxParticipants (a room default that CreateRoom may
// override, as in LiveKit).
type Limits struct {
	// MaxRooms caps the rooms on this node; 0 means no cap. A join or CreateRoom beyond it fails
	// with ErrTooManyRooms (HTTP 503, Twirp resource_exhausted).
	MaxRooms int
	// MaxTracksPerParticipant caps published tracks per participant (default 16); add_track beyond
	// it is refused with request_response LIMIT_EXCEEDED.
	MaxTracksPerParticipant int
	// MaxMetadataSize caps room and participant metadata in bytes (default 64 KiB, LiveKit's).
	MaxMetadataSize int
	// MaxAttributesSize caps the total bytes of a participant's attribute keys and values
	// (default 64 KiB).
	MaxAttributesSize int
	// MaxDataPacketSize caps one data packet relayed by the node (default 64 KiB).
	MaxDataPacketSize int
	// DataMessagesPerSecond and DataBytesPerSecond cap the data one participant sends (token
	// buckets that hold one second's worth; defaults 500 messages/s and 2 MiB/s; negative means no
	// cap). Packets beyond them are dropped and counted in NodeStats.DataDropped.
	DataMessagesPerSecond, DataBytesPerSecond int
	// DataChannelMaxBufferedAmount is how many bytes a subscriber's data channel may hold unsent
	// before the node drops further data toward it (default 1 MiB; LiveKit's
	// rtc.data_channel_max_buffered_amount). It bounds what a client that stops reading costs.
	DataChannelMaxBufferedAmount int
	// MaxTrackNameSize caps an add_track's name, stream and cids in bytes (default 256).
	MaxTrackNameSize int
	// MaxTrackLayers caps an add_track's simulcast layers, and those of each of its simulcast
	// codecs (default 4; clients send at most 3).
	MaxTrackLayers int
	// MaxSimulcastCodecs caps an add_track's simulcast codecs (default 4; clients send at most 2).
	MaxSimulcastCodecs int
	// MaxParticipantNameSize caps the name a participant gives itself or the Room API gives it
	// (default 256, as the edge checks the token's name).
	MaxParticipantNameSize int
	// MetadataUpdatesPerSecond caps a client's own update_metadata requests (a token bucket
	// holding two seconds' worth; default 5/s); beyond it they are refused with LIMIT_EXCEEDED.
	MetadataUpdatesPerSecond int
	// ParticipantUpdateInterval is the shortest time between two ParticipantUpdates the room sends
	// about one participant (default 100 ms): changes in between (mute toggles, metadata) coalesce
	// into the next one. Larger participant infos are spaced further apart, so that the updates
	// about one participant cost each recipient at most ParticipantUpdateBytesPerSecond.
	ParticipantUpdateInterval time.Duration
	// ParticipantUpdateBytesPerSecond: see ParticipantUpdateInterval (default 64 KiB/s).
	ParticipantUpdateBytesPerSecond int
	// MaxSubscriptionTracks caps the track SIDs one subscription change may name (default 1000).
	// A client's larger request is applied up to the cap and the rest refused with
	// LIMIT_EXCEEDED; a Room API request beyond it fails with ErrInvalidArgument.
	MaxSubscriptionTracks int
	// MaxICECandidatesPerPC caps the remote ICE candidates the node takes per PeerConnection: that
	// many trickled over the session, and that many a=candidate lines in each session description
	// (default 50). Further ones are ignored and counted in NodeStats.ICECandidatesIgnored.
	MaxICECandidatesPerPC int
}

// Errors returned by Node and Session methods. Use errors.Is: they are usually wrapped with context.
var (
	ErrRoomNotFound        = errors.New("requested room does not exist")
	ErrParticipantNotFound = errors.New("participant does not exist")
	ErrTrackNotFound       = errors.New("track does not exist")
	ErrRoomFull            = errors.New("room is full")
	ErrTooManyRooms        = errors.New("node has reached its room limit")
	ErrInvalidArgument     = errors.New("invalid argument")
	ErrFailedPrecondition  = errors.New("failed precondition")
	ErrNotAllowed          = errors.New("not allowed")
	ErrTimeout             = errors.New("request timed out")
	ErrNodeClosed          = errors.New("node is shutting down")
	ErrRoomClosing         = errors.New("room is closing")
)

// errUnexpectedReply means an actor answered a request with a message of the wrong type: a bug in
// the node, reported as an error rather than a panic at the edge.
var errUnexpectedReply = errors.New("unexpected reply type")

// SignalSink is the outbound half of a signalling connection. The participant actor and its room
// push SignalResponses into it; the transport's writer goroutine drains it.
type SignalSink interface {
	// Send queues one response. It never blocks; it fails when the sink is closed or full.
	Send(*livekit.SignalResponse) error
	// Close flushes what is queued, then closes the connection.
	Close()
}

// JoinRequest carries everything the edge learned about a joining client: identity and grants from
// its token, options from the query string, and the sink for its replies.
type JoinRequest struct {
	Room, Identity, Name, Metadata string
	Attributes                     map[string]string
	// Permission comes from the token's video grant.
	Permission *livekit.ParticipantPermission
	Kind       livekit.ParticipantInfo_Kind
	// AutoSubscribe subscribes the participant to every track in the room (the SDKs' default).
	AutoSubscribe  bool
	AdaptiveStream bool
	// Client describes the SDK (sdk, version, protocol, os, browser, ...).
	Client *livekit.ClientInfo
	// Reconnect and ReconnectSID are set when a client tries to resume a session.
	Reconnect    bool
	ReconnectSID string
	// SinglePC is the single-PeerConnection mode (/rtc/v1, or join_request on /rtc): one PC the
	// client offers on carries both directions, and the node asks for offers with
	// media_sections_requirement instead of offering itself.
	SinglePC bool
	// Sink receives every response for this participant; JoinResponse is always the first.
	Sink SignalSink
	// MintToken, when set, signs the participant's refresh tokens; TokenExpiry is when the token
	// it joined with expires (a refreshed token lives at least that long).
	MintToken   TokenMinter
	TokenExpiry time.Time
}

// ResumeRequest asks to attach a new signalling connection to a live session: the client came
// back with /rtc?reconnect=1&sid=… and a valid token for the same identity and room.
type ResumeRequest struct {
	Room, Identity string
	// SID is the participant sid the client names; it must be the live session's.
	SID string
	// Client describes the SDK as the new connection's query does.
	Client *livekit.ClientInfo
	// Sink is the new connection. ReconnectResponse is always its first frame.
	Sink SignalSink
	// MintToken and TokenExpiry replace the session's, from the token the client resumed with.
	MintToken   TokenMinter
	TokenExpiry time.Time
}

// TokenMinter signs an access token with the given claims, valid for validFor. The edge supplies
// it (it holds the API keys); the participant calls it for refresh_token.
type TokenMinter func(claims TokenClaims, validFor time.Duration) (string, error)

// TokenClaims is what a refreshed access token says about its participant.
type TokenClaims struct {
	Room, Identity, Name, Metadata string
	Attributes                     map[string]string
	Kind                           livekit.ParticipantInfo_Kind
	// Permission is the participant's current permission (it becomes the video grant).
	Permission *livekit.ParticipantPermission
}

// Session is the edge's handle on one signalling connection of a participant: the join's, or a
// resume's. Requests and the close it reports carry the connection's generation, so that a
// participant that has moved on to a newer connection ignores an old one.
type Session struct {
	node *Node
	pid  *actor.PID
	sid  string
	gen  uint64
}

// ParticipantSID returns the PA_ id given to the participant.
func (s *Session) ParticipantSID() string { return s.sid }

// Signal hands one decoded request from the client to its participant actor.
func (s *Session) Signal(req *livekit.SignalRequest) {
	s.node.system.Root.Send(s.pid, &signalIn{req: req, gen: s.gen})
}

// Close tells the participant its connection is gone. abrupt is true when the socket closed without
// a leave request. The participant then waits for a resume (SessionConfig).
func (s *Session) Close(abrupt bool) {
	s.node.system.Root.Send(s.pid, &connectionClosed{abrupt: abrupt, gen: s.gen})
}

// PingTimeouts returns the ping interval and timeout the node advertises to clients; the edge
// pings as often and treats a connection silent for the timeout as gone.
func (n *Node) PingTimeouts() (interval, timeout time.Duration) {
	return n.cfg.PingInterval, n.cfg.PingTimeout
}

// ActorInfo describes one live actor for inspection.
type ActorInfo struct {
	// Path is the actor's place in the tree, e.g. /node/rooms/r1/alice/TR_x.
	Path string `json:"path"`
	// Kind is node, room, participant or track.
	Kind string `json:"kind"`
	// Mailbox is the number of user messages waiting, counting the one being handled.
	Mailbox int64 `json:"mailbox"`
	// Processed counts user messages handled so far.
	Processed int64 `json:"processed"`
	// Stats holds kind-specific figures (participants, packets, bytes, PC state, ...).
	Stats map[string]any `json:"stats,omitempty"`
}

// requestTimeout picks the deadline for one actor request.
func (n *Node) requestTimeout(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		if d := time.Until(dl); d > 0 {
			return d
		}
		return time.Millisecond
	}
	return n.cfg.RequestTimeout
}

// ask sends msg to the node actor and waits for its reply, turning reply errors into Go errors.
func (n *Node) ask(ctx context.Context, msg any) (any, error) {
	if n.closed.Load() {
		return nil, ErrNodeClosed
	}
	f := n.system.Root.RequestFuture(n.pid, msg, n.requestTimeout(ctx))
	res, err := f.Result()
	if err != nil {
		if errors.Is(err, actor.ErrTimeout) {
			return nil, fmt.Errorf("%T: %w", msg, ErrTimeout)
		}
		return nil, fmt.Errorf("%T: %w", msg, err)
	}
	if e, ok := res.(*replyError); ok {
		return nil, e.err
	}
	return res, nil
}

// askFor sends msg to the node actor and returns its reply as a T, or an error when the request
// failed, timed out or was answered with anything else.
func askFor[T any](ctx context.Context, n *Node, msg any) (T, error) {
	var zero T
	res, err := n.ask(ctx, msg)
	if err != nil {
		return zero, err
	}
	v, ok := res.(T)
	if !ok {
		return zero, fmt.Errorf("%T answered with %T, want %T: %w", msg, res, zero, errUnexpectedReply)
	}
	return v, nil
}

// askRoomFor is askFor for a request the node routes to one room's actor.
func askRoomFor[T any](ctx context.Context, n *Node, room string, msg any) (T, error) {
	if room == "" {
		var zero T
		return zero, fmt.Errorf("room name is empty: %w", ErrInvalidArgument)
	}
	return askFor[T](ctx, n, &toRoom{room: room, msg: msg})
}

// CreateRoom creates a room, or returns the existing one of that name (LiveKit's behaviour).
func (n *Node) CreateRoom(ctx context.Context, req *livekit.CreateRoomRequest) (*livekit.Room, error) {
	if req.GetName() == "" {
		return nil, fmt.Errorf("room name is empty: %w", ErrInvalidArgument)
	}
	if err := n.checkMetadata(req.GetMetadata()); err != nil {
		return nil, err
	}
	return askFor[*livekit.Room](ctx, n, &createRoom{req: req})
}

// ListRooms lists the rooms on this node, filtered by names when any are given.
func (n *Node) ListRooms(ctx context.Context, names []string) ([]*livekit.Room, error) {
	res, err := askFor[*roomList](ctx, n, &listRooms{names: names})
	if err != nil {
		return nil, err
	}
	return res.rooms, nil
}

// DeleteRoom disconnects everyone in a room (leave with ROOM_DELETED) and closes it. It returns once
// the room's actors are gone.
func (n *Node) DeleteRoom(ctx context.Context, room string) error {
	res, err := askFor[*roomDeleted](ctx, n, &deleteRoom{name: room})
	if err != nil {
		return err
	}
	pid := res.pid
	// The room stops itself on closeRoom; the poison pill only gives us a future that resolves
	// once it and its participants are gone.
	if err := n.system.Root.PoisonFuture(pid).Wait(); err != nil {
		return fmt.Errorf("waiting for room %q to stop: %w", room, ErrTimeout)
	}
	return nil
}

// ListParticipants lists a room's participants, hidden ones included.
func (n *Node) ListParticipants(ctx context.Context, room string) ([]*livekit.ParticipantInfo, error) {
	res, err := askRoomFor[*participantList](ctx, n, room, &listParticipants{})
	if err != nil {
		return nil, err
	}
	return res.participants, nil
}

// GetParticipant returns one participant of a room.
func (n *Node) GetParticipant(ctx context.Context, room, identity string) (*livekit.ParticipantInfo, error) {
	return askRoomFor[*livekit.ParticipantInfo](ctx, n, room, &getParticipant{identity: identity})
}

// RemoveParticipant disconnects a participant with leave{PARTICIPANT_REMOVED}.
func (n *Node) RemoveParticipant(ctx context.Context, room, identity string) error {
	_, err := askRoomFor[*done](ctx, n, room, &removeParticipant{identity: identity})
	return err
}

// MutePublishedTrack mutes (or, when enabled, unmutes) a participant's published track.
func (n *Node) MutePublishedTrack(ctx context.Context, req *livekit.MuteRoomTrackRequest) (*livekit.TrackInfo, error) {
	if !req.GetMuted() && !n.cfg.Room.EnableRemoteUnmute {
		return nil, fmt.Errorf("remote unmute is disabled on this node: %w", ErrFailedPrecondition)
	}
	return askRoomFor[*livekit.TrackInfo](ctx, n, req.GetRoom(), &muteTrack{identity: req.GetIdentity(), trackSID: req.GetTrackSid(), muted: req.GetMuted()})
}

// UpdateParticipant changes a participant's metadata, name, attributes or permissions. Permission
// changes apply at once: revoking canPublish unpublishes, revoking canSubscribe unsubscribes.
func (n *Node) UpdateParticipant(ctx context.Context, req *livekit.UpdateParticipantRequest) (*livekit.ParticipantInfo, error) {
	if err := n.checkMetadata(req.GetMetadata()); err != nil {
		return nil, err
	}
	if err := n.checkAttributes(req.GetAttributes()); err != nil {
		return nil, err
	}
	return askRoomFor[*livekit.ParticipantInfo](ctx, n, req.GetRoom(), &updateParticipant{req: req})
}

// UpdateSubscriptions subscribes or unsubscribes a participant to tracks.
func (n *Node) UpdateSubscriptions(ctx context.Context, req *livekit.UpdateSubscriptionsRequest) error {
	count := len(req.GetTrackSids())
	for _, pt := range req.GetParticipantTracks() {
		count += len(pt.GetTrackSids())
	}
	if count > n.cfg.Limits.MaxSubscriptionTracks {
		return fmt.Errorf("%d track SIDs, limit %d: %w", count, n.cfg.Limits.MaxSubscriptionTracks, ErrInvalidArgument)
	}
	_, err := askRoomFor[*done](ctx, n, req.GetRoom(), &updateSubscriptions{
		identity: req.GetIdentity(),
		update: &livekit.UpdateSubscription{
			TrackSids:         req.GetTrackSids(),
			Subscribe:         req.GetSubscribe(),
			ParticipantTracks: req.GetParticipantTracks(),
		},
	})
	return err
}

// SendData sends a data packet from the server to a room (all of it, or the listed identities).
func (n *Node) SendData(ctx context.Context, req *livekit.SendDataRequest) error {
	if len(req.GetData()) > n.cfg.Limits.MaxDataPacketSize {
		return fmt.Errorf("data is %d bytes, limit %d: %w", len(req.GetData()), n.cfg.Limits.MaxDataPacketSize, ErrInvalidArgument)
	}
	_, err := askRoomFor[*done](ctx, n, req.GetRoom(), &sendServerData{req: req})
	return err
}

// UpdateRoomMetadata sets a room's metadata and tells everyone in it (room_update).
func (n *Node) UpdateRoomMetadata(ctx context.Context, room, metadata string) (*livekit.Room, error) {
	if err := n.checkMetadata(metadata); err != nil {
		return nil, err
	}
	return askRoomFor[*livekit.Room](ctx, n, room, &updateRoomMetadata{metadata: metadata})
}

// Join admits a participant to a room, creating the room unless auto-create is off. It returns once
// the JoinResponse is queued on req.Sink.
func (n *Node) Join(ctx context.Context, req JoinRequest) (*Session, error) {
	switch {
	case req.Room == "":
		return nil, fmt.Errorf("no room name: %w", ErrInvalidArgument)
	case req.Identity == "":
		return nil, fmt.Errorf("identity cannot be empty: %w", ErrInvalidArgument)
	case req.Sink == nil:
		return nil, fmt.Errorf("join without a signal sink: %w", ErrInvalidArgument)
	}
	if err := n.checkMetadata(req.Metadata); err != nil {
		return nil, err
	}
	if err := n.checkAttributes(req.Attributes); err != nil {
		return nil, err
	}
	if req.Permission == nil {
		req.Permission = &livekit.ParticipantPermission{CanPublish: true, CanSubscribe: true, CanPublishData: true}
	}
	j, err := askFor[*joined](ctx, n, &joinRoom{req: &req})
	if err != nil {
		return nil, err
	}
	return n.acknowledge(j), nil
}

// Resume attaches a new signalling connection to the live session named by req: it returns once
// the ReconnectResponse, a participant snapshot and room_update are queued on req.Sink. An
// unknown or closed session, or a sid that is not the live session's, fails with
// ErrParticipantNotFound; the client must then join afresh.
func (n *Node) Resume(ctx context.Context, req ResumeRequest) (*Session, error) {
	switch {
	case req.Room == "" || req.Identity == "" || req.SID == "":
		return nil, fmt.Errorf("resume needs room, identity and sid: %w", ErrInvalidArgument)
	case req.Sink == nil:
		return nil, fmt.Errorf("resume without a signal sink: %w", ErrInvalidArgument)
	}
	j, err := askRoomFor[*joined](ctx, n, req.Room, &resumeRoom{req: &req})
	if err != nil {
		if errors.Is(err, ErrRoomNotFound) || errors.Is(err, errUnexpectedReply) {
			return nil, fmt.Errorf("resuming %s: %w", req.SID, ErrParticipantNotFound)
		}
		return nil, err
	}
	return n.acknowledge(j), nil
}

// acknowledge tells the participant the edge holds its new connection (until then it counts as
// missing: a join whose edge gave up waiting must not live on) and returns the edge's handle.
func (n *Node) acknowledge(j *joined) *Session {
	n.system.Root.Send(j.pid, &signalAttached{gen: j.gen})
	return &Session{node: n, pid: j.pid, sid: j.sid, gen: j.gen}
}

func (n *Node) checkMetadata(md string) error {
	if len(md) > n.cfg.Limits.MaxMetadataSize {
		return fmt.Errorf("metadata is %d bytes, limit %d: %w", len(md), n.cfg.Limits.MaxMetadataSize, ErrInvalidArgument)
	}
	return nil
}

func (n *Node) checkAttributes(attrs map[string]string) error {
	if size := attributesSize(attrs); size > n.cfg.Limits.MaxAttributesSize {
		return fmt.Errorf("attributes are %d bytes, limit %d: %w", size, n.cfg.Limits.MaxAttributesSize, ErrInvalidArgument)
	}
	return nil
}

// iceServers is a participant's JoinResponse and ReconnectResponse ice_servers: minted afresh by Config.ICEServersFor when
// set, else the static Config.ICEServers.
func (n *Node) iceServers(participantSID string) []*livekit.ICEServer {
	if n.cfg.ICEServersFor != nil {
		return n.cfg.ICEServersFor(participantSID, false)
	}
	return n.cfg.ICEServers
}
