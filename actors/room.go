package actors

import (
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/actors/media"
	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// speakerInterval is how often a room with audio looks at audio levels for speakers_changed.
const speakerInterval = 300 * time.Millisecond

// roomActor is /node/rooms/<name>: it owns the participant list, the published tracks, who is
// subscribed to what, and the room's timers. It never touches media; participants and tracks do.
type roomActor struct {
	node *Node
	log  *slog.Logger
	info *livekit.Room

	participants map[string]*memberEntry // by identity
	tracks       map[string]*trackEntry  // by track SID
	closing      bool
	departed     []departure // recent departures, oldest first, for resumed clients (room_resume.go)

	timer     *time.Timer
	timerGen  int
	hadJoin   bool
	joinsSeen int // joinRoom messages received, for the node's idle check

	speakerTimer *time.Timer
	speaking     map[string]float32 // participant SID → level last reported as active

	qualityTimer *time.Timer
	updateTimer  *time.Timer                          // armed while participant updates are held back
	lastQuality  map[string]livekit.ConnectionQuality // participant SID → rating last sent
	downWindows  map[*media.DownTrack]downWindow      // subscriber counters at the last rating

	numParticipants, numTracks atomic.Int64

	updates roomUpdates // room_update batching (room_update.go)

	rpcs map[string]*pendingRPC // RoomService.PerformRpc calls awaiting an answer, by request id (room_rpc.go)
}

// memberEntry is the room's view of one participant.
type memberEntry struct {
	pid           *actor.PID
	sink          *sessionSink             // the client's signalling queue, shared with its actor
	info          *livekit.ParticipantInfo // latest copy sent by the participant actor
	autoSubscribe bool
	protocol      int32                    // the client's signalling protocol version
	updates       updateState              // the ParticipantUpdates sent about it, for coalescing
	leaveReason   livekit.DisconnectReason // why it is stopping, when it said so (participantEnding)
	// becameActive is set when the participant first turned ACTIVE: participant_joined was sent,
	// and its departure is participant_left (else participant_connection_aborted).
	becameActive bool
	// subPerm is who may subscribe to its tracks (room_permissions.go); nil lets everyone.
	subPerm *livekit.SubscriptionPermission
}

// trackEntry is the room's view of one published track.
type trackEntry struct {
	owner       *memberEntry   // the publisher, while it is in the room
	pub         subscribeTrack // everything a subscriber needs, ready to send
	subscribers *subscriberSet // who receives it, as its track actor publishes it
	window      trackWindow    // receive counters at the last connection-quality rating
	// wanted holds the subscribers that want the track, each with whether the publisher lets it
	// receive it (room_permissions.go).
	wanted         map[string]bool
	subscribedSent bool // track_subscribed went to the publisher
}

func newRoomActor(n *Node, info *livekit.Room, st *actorStats) *roomActor {
	r := &roomActor{
		node:         n,
		log:          n.log.With("room", info.Name, "roomID", info.Sid),
		info:         info,
		participants: map[string]*memberEntry{},
		tracks:       map[string]*trackEntry{},
		speaking:     map[string]float32{},
		lastQuality:  map[string]livekit.ConnectionQuality{},
		downWindows:  map[*media.DownTrack]downWindow{},
	}
	name, sid := info.Name, info.Sid
	st.describe = func() map[string]any {
		return map[string]any{"name": name, "sid": sid, "participants": r.numParticipants.Load(), "tracks": r.numTracks.Load()}
	}
	return r
}

// Receive handles the room's messages.
func (r *roomActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		r.node.emit(EventRoomStarted, r.info, nil, nil)
		r.armTimer(ctx, time.Duration(r.info.EmptyTimeout)*time.Second)
		r.scheduleQualityTick(ctx)
	case *joinRoom:
		r.joinsSeen++
		r.join(ctx, m.req)
	case *participantChanged:
		r.participantChanged(ctx, m.info)
	case *resumeRoom:
		r.resume(ctx, m.req)
	case *participantEnding:
		if p := r.memberBySID(m.sid); p != nil {
			p.leaveReason = m.reason
		}
	case *trackPublished:
		r.trackPublished(ctx, m)
	case *trackUnpublished:
		r.dropTrack(ctx, m.trackSID)
	case *dataFrom:
		if !r.rpcAnswered(ctx, m) {
			r.relayData(ctx, m)
		}
	case *setSubscriptionPermission:
		r.subscriptionPermission(ctx, m)
	case *subscriptionBound:
		r.trackSubscribed(m)
	case *performRPC:
		r.performRPC(ctx, m.req)
	case *rpcTimeout:
		r.rpcTimedOut(ctx, m)
	case *actor.Terminated:
		r.participantGone(ctx, m.Who)
	case *closeRoom:
		r.close(ctx, m.reason)
	case *roomTimeout:
		if m.gen == r.timerGen && !r.hasIndependentMember() {
			// The node decides: a join it has already forwarded may be on its way here.
			ctx.Send(ctx.Parent(), &roomIdle{pid: ctx.Self(), joinsSeen: r.joinsSeen})
			r.armTimer(ctx, time.Duration(r.info.DepartureTimeout)*time.Second) // ask again if refused
		}
	case *speakerTick:
		r.updateSpeakers(ctx)
	case *qualityTick:
		r.updateQuality(ctx)
	case *updateTick:
		r.flushUpdates(ctx)
	case *roomUpdateTick:
		r.roomUpdateDue()
	case *actor.Stopping:
		r.stopTimers()
		r.failRPCs(ctx, "", rpcErrRecipientDisconnected)
		for _, p := range r.participants {
			p.sink.sendLeave(livekit.DisconnectReason_ROOM_CLOSED)
		}
	case *actor.Stopped:
		r.node.inspector.remove(ctx.Self().Id)
		r.node.emit(EventRoomFinished, r.roomInfo(), nil, nil)
		r.log.Info("room stopped")
	default:
		r.receiveRequest(ctx, m)
	}
}

// receiveRequest handles the Room API requests the node routes here.
func (r *roomActor) receiveRequest(ctx actor.Context, msg any) {
	switch m := msg.(type) {
	case *listParticipants:
		list := make([]*livekit.ParticipantInfo, 0, len(r.participants))
		for _, p := range r.sortedMembers() {
			list = append(list, proto.Clone(p.info).(*livekit.ParticipantInfo))
		}
		ctx.Respond(&participantList{participants: list})
	case *getParticipant:
		if p := r.member(ctx, m.identity); p != nil {
			ctx.Respond(proto.Clone(p.info))
		}
	case *removeParticipant:
		if p := r.member(ctx, m.identity); p != nil {
			ctx.Send(p.pid, &kick{reason: livekit.DisconnectReason_PARTICIPANT_REMOVED})
			// Gone for the room at once, as with a duplicate identity: a second removal, a
			// ListParticipants or a rejoin right after this call must not find the old session
			// while its actor is still closing its PeerConnections.
			r.forgetMember(ctx, p)
			r.publishSummary(ctx)
			ctx.Respond(&done{})
		}
	case *muteTrack:
		if p := r.member(ctx, m.identity); p != nil {
			ctx.Forward(p.pid)
		}
	case *updateParticipant:
		if p := r.member(ctx, m.req.GetIdentity()); p != nil {
			ctx.Forward(p.pid)
		}
	case *updateSubscriptions:
		if p := r.member(ctx, m.identity); p != nil {
			r.applySubscriptions(ctx, p, m.update)
			if ctx.Sender() != nil {
				ctx.Respond(&done{})
			}
		}
	case *sendServerData:
		r.sendServerData(ctx, m.req)
		ctx.Respond(&done{})
	case *updateRoomMetadata:
		r.info.Metadata = m.metadata
		r.sendRoomUpdate(r.roomInfo())
		r.publishSummary(ctx)
		ctx.Respond(r.roomInfo())
	}
}

// sendServerData relays a Room API SendData to the participants it names.
func (r *roomActor) sendServerData(ctx actor.Context, req *livekit.SendDataRequest) {
	msg, err := encodeData(&livekit.DataPacket{
		Kind:                  req.GetKind(),
		DestinationIdentities: req.GetDestinationIdentities(),
		Value: &livekit.DataPacket_User{User: &livekit.UserPacket{
			Payload:               req.GetData(),
			Topic:                 req.Topic,
			DestinationIdentities: req.GetDestinationIdentities(),
			DestinationSids:       req.GetDestinationSids(),
			Nonce:                 req.GetNonce(),
		}},
	})
	if err != nil {
		r.log.Warn("cannot encode data packet", "err", err)
		return
	}
	r.relayData(ctx, msg)
}

// member finds a participant or answers the request with ErrParticipantNotFound.
func (r *roomActor) member(ctx actor.Context, identity string) *memberEntry {
	p := r.participants[identity]
	if p == nil && ctx.Sender() != nil {
		ctx.Respond(&replyError{fmt.Errorf("%q in room %q: %w", identity, r.info.Name, ErrParticipantNotFound)})
	}
	return p
}

func (r *roomActor) sortedMembers() []*memberEntry {
	list := make([]*memberEntry, 0, len(r.participants))
	for _, p := range r.participants {
		list = append(list, p)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].info.JoinedAtMs < list[j].info.JoinedAtMs })
	return list
}

// join admits one participant: JoinResponse first, then its actor, then everyone else learns of it.
func (r *roomActor) join(ctx actor.Context, req *JoinRequest) {
	if !r.admit(ctx, req) {
		return
	}
	info := newParticipantInfo(req)
	subscriberPrimary := req.Permission.GetCanSubscribe() && !req.SinglePC
	r.hadJoin = true
	if !dependentKind(info.GetKind()) {
		r.timerGen++ // someone is here: no timer may close the room now (agents do not count)
	}
	r.info.NumParticipants = uint32(len(r.participants) + 1)
	join := r.joinResponse(info, subscriberPrimary)
	if err := req.Sink.Send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Join{Join: join}}); err != nil {
		ctx.Respond(&replyError{fmt.Errorf("sending join response: %w", err)})
		return
	}
	sink := newSessionSink(req.Sink)
	pid, err := r.spawnParticipant(ctx, info, req, sink, subscriberPrimary)
	if err != nil {
		sink.sendLeave(livekit.DisconnectReason_JOIN_FAILURE)
		req.Sink.Close()
		ctx.Respond(&replyError{fmt.Errorf("spawning participant %q: %w", req.Identity, err)})
		return
	}
	entry := &memberEntry{pid: pid, sink: sink, info: info, autoSubscribe: req.AutoSubscribe, protocol: req.Client.GetProtocol()}
	r.participants[req.Identity] = entry
	r.numParticipants.Store(int64(len(r.participants)))
	ctx.Respond(&joined{pid: pid, sid: info.Sid, gen: sink.generation()})
	r.log.Info("participant joined", "participant", req.Identity, "pID", info.Sid, "sdk", req.Client.GetSdk().String(), "protocol", req.Client.GetProtocol())

	r.broadcastParticipant(info, req.Identity)
	if entry.autoSubscribe && req.Permission.GetCanSubscribe() {
		for _, t := range r.sortedTracks() {
			if t.hidden() {
				continue
			}
			r.offerTrack(ctx, t, entry)
		}
	}
	r.publishSummary(ctx)
}

// admit checks that the room takes one more participant, and replaces an older session of the
// same identity. It answers the request itself when it refuses.
func (r *roomActor) admit(ctx actor.Context, req *JoinRequest) bool {
	if r.closing {
		ctx.Respond(&replyError{fmt.Errorf("room %q: %w", r.info.Name, ErrRoomClosing)})
		return false
	}
	old := r.participants[req.Identity]
	count := len(r.participants)
	if old != nil {
		count--
	}
	if r.info.MaxParticipants > 0 && count >= int(r.info.MaxParticipants) {
		ctx.Respond(&replyError{fmt.Errorf("room %q has %d participants: %w", r.info.Name, count, ErrRoomFull)})
		return false
	}
	if old != nil {
		r.log.Info("duplicate identity: replacing the older session", "participant", req.Identity, "pID", old.info.Sid)
		old.sink.sendLeave(livekit.DisconnectReason_DUPLICATE_IDENTITY)
		ctx.Stop(old.pid)
		r.forgetMember(ctx, old)
	}
	return true
}

// newParticipantInfo describes a participant that has just joined.
func newParticipantInfo(req *JoinRequest) *livekit.ParticipantInfo {
	now := time.Now()
	return &livekit.ParticipantInfo{
		Sid:            newID("PA_"),
		Identity:       req.Identity,
		Name:           req.Name,
		Metadata:       req.Metadata,
		Attributes:     req.Attributes,
		State:          livekit.ParticipantInfo_JOINED,
		JoinedAt:       now.Unix(),
		JoinedAtMs:     now.UnixMilli(),
		Version:        1,
		Permission:     req.Permission,
		Kind:           req.Kind,
		IsPublisher:    false,
		ClientProtocol: req.Client.GetClientProtocol(),
	}
}

// joinResponse is what a joining participant learns first: the room, itself, the others it may
// see, and the server's settings.
func (r *roomActor) joinResponse(info *livekit.ParticipantInfo, subscriberPrimary bool) *livekit.JoinResponse {
	others := make([]*livekit.ParticipantInfo, 0, len(r.participants))
	for _, p := range r.sortedMembers() {
		if !p.info.GetPermission().GetHidden() {
			others = append(others, proto.Clone(p.info).(*livekit.ParticipantInfo))
		}
	}
	room := r.roomInfo()
	countJoiner(room, info)
	return &livekit.JoinResponse{
		Room:              room,
		Participant:       proto.Clone(info).(*livekit.ParticipantInfo),
		OtherParticipants: others,
		ServerVersion:     r.node.cfg.Version,
		IceServers:        r.node.iceServers(info.GetSid()),
		SubscriberPrimary: subscriberPrimary,
		ClientConfiguration: &livekit.ClientConfiguration{
			ResumeConnection: livekit.ClientConfigSetting_ENABLED,
		},
		PingTimeout:  int32(r.node.cfg.PingTimeout / time.Second),
		PingInterval: int32(r.node.cfg.PingInterval / time.Second),
		ServerInfo:   r.serverInfo(),
	}
}

// serverInfo describes this node to clients (JoinResponse, ReconnectResponse).
func (r *roomActor) serverInfo() *livekit.ServerInfo {
	return &livekit.ServerInfo{
		Edition:  livekit.ServerInfo_Standard,
		Version:  r.node.cfg.Version,
		Protocol: ProtocolVersion,
		Region:   r.node.cfg.Region,
		NodeId:   r.node.cfg.NodeID,
	}
}

// spawnParticipant starts the participant's actor under its identity, or, while the previous
// session of that identity is still stopping, under identity~PA_sid.
func (r *roomActor) spawnParticipant(ctx actor.Context, info *livekit.ParticipantInfo, req *JoinRequest, sink *sessionSink, subscriberPrimary bool) (*actor.PID, error) {
	produce := func(st *actorStats) actor.Actor {
		return newParticipantActor(r.node, r.log, info, req, sink, subscriberPrimary, st)
	}
	pid, err := r.node.spawn(ctx, pathSegment(req.Identity), "participant", produce, actor.WithSupervisor(stopOnPanic()))
	if err != nil {
		pid, err = r.node.spawn(ctx, pathSegment(req.Identity)+"~"+info.Sid, "participant", produce, actor.WithSupervisor(stopOnPanic()))
	}
	return pid, err
}

// participantChanged stores a participant's new info and tells everyone who may see it.
func (r *roomActor) participantChanged(ctx actor.Context, info *livekit.ParticipantInfo) {
	p := r.participants[info.GetIdentity()]
	if p == nil || p.info.GetSid() != info.GetSid() {
		return // a late message from a replaced session
	}
	counted := countedAs(p.info)
	p.info = info
	if !p.becameActive && info.GetState() == livekit.ParticipantInfo_ACTIVE {
		p.becameActive = true
		r.node.emit(EventParticipantJoined, r.roomInfo(), info, nil) // LiveKit's moment: media connected
	}
	for _, t := range info.GetTracks() {
		if e := r.tracks[t.GetSid()]; e != nil {
			e.pub.info = t // mute state, for speaker detection and late subscribers
		}
	}
	r.queueUpdate(ctx, p)
	if counted != countedAs(info) {
		r.publishSummary(ctx)
	}
}

// trackPublished records a track with media and subscribes everyone who auto-subscribes.
func (r *roomActor) trackPublished(ctx actor.Context, m *trackPublished) {
	owner := r.memberBySID(m.publisherSID)
	if owner == nil {
		return
	}
	entry := &trackEntry{
		owner:       owner,
		pub:         subscribeTrack{publisherSID: m.publisherSID, info: m.info, pid: m.pid, receiver: m.receiver, codec: m.codec},
		subscribers: m.subscribers,
	}
	r.tracks[m.info.GetSid()] = entry
	r.numTracks.Store(int64(len(r.tracks)))
	r.flushUpdate(owner) // subscribers learn of the track before its offer reaches them
	r.node.emit(EventTrackPublished, r.roomInfo(), owner.info, m.info)
	for _, p := range r.participants {
		if p == owner || !p.autoSubscribe || !p.info.GetPermission().GetCanSubscribe() || entry.hidden() {
			continue
		}
		r.offerTrack(ctx, entry, p)
	}
	if m.info.GetType() == livekit.TrackType_AUDIO && r.speakerTimer == nil {
		r.scheduleSpeakerTick(ctx)
	}
}

// hidden reports whether the track's publisher is hidden: nobody else may see or receive it.
func (t *trackEntry) hidden() bool { return t.owner.info.GetPermission().GetHidden() }

func (r *roomActor) sortedTracks() []*trackEntry {
	list := make([]*trackEntry, 0, len(r.tracks))
	for _, t := range r.tracks {
		list = append(list, t)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].pub.info.GetSid() < list[j].pub.info.GetSid() })
	return list
}

// dropTrack forgets a track and unsubscribes everyone from it.
func (r *roomActor) dropTrack(ctx actor.Context, sid string) {
	t, found := r.tracks[sid]
	if !found {
		return
	}
	var owner *livekit.ParticipantInfo
	if p := r.memberBySID(t.pub.publisherSID); p != nil {
		owner = p.info
	} else if t.owner != nil {
		owner = t.owner.info // the publisher already left: its last info still names it
	}
	r.node.emit(EventTrackUnpublished, r.roomInfo(), owner, t.pub.info)
	delete(r.tracks, sid)
	r.numTracks.Store(int64(len(r.tracks)))
	for _, p := range r.participants {
		ctx.Send(p.pid, &unsubscribeTrack{trackSID: sid})
	}
}

func (r *roomActor) memberBySID(sid string) *memberEntry {
	for _, p := range r.participants {
		if p.info.GetSid() == sid {
			return p
		}
	}
	return nil
}

// participantGone handles the end of a participant actor, however it ended.
func (r *roomActor) participantGone(ctx actor.Context, who *actor.PID) {
	for _, p := range r.participants {
		if p.pid.Equal(who) {
			r.forgetMember(ctx, p)
			r.publishSummary(ctx)
			return
		}
	}
}

// forgetMember removes a participant's tracks and tells the others it left.
func (r *roomActor) forgetMember(ctx actor.Context, p *memberEntry) {
	delete(r.participants, p.info.GetIdentity())
	r.numParticipants.Store(int64(len(r.participants)))
	r.info.NumParticipants = uint32(len(r.participants))
	delete(r.speaking, p.info.GetSid())
	delete(r.lastQuality, p.info.GetSid())
	r.failRPCs(ctx, p.info.GetIdentity(), rpcErrRecipientDisconnected)
	for _, t := range r.tracks {
		delete(t.wanted, p.info.GetIdentity())
	}
	for sid, t := range r.tracks {
		if t.pub.publisherSID == p.info.GetSid() {
			r.dropTrack(ctx, sid)
		}
	}
	gone := proto.Clone(p.info).(*livekit.ParticipantInfo)
	gone.State = livekit.ParticipantInfo_DISCONNECTED
	gone.DisconnectReason = p.leaveReason
	gone.Tracks = nil
	gone.Version++
	r.broadcastParticipant(gone, p.info.GetIdentity())
	r.recordDeparture(gone)
	if p.becameActive {
		r.node.emit(EventParticipantLeft, r.roomInfo(), gone, nil)
	} else {
		r.node.emit(EventParticipantConnectionAborted, r.roomInfo(), gone, nil)
	}
	r.log.Info("participant left", "participant", p.info.GetIdentity(), "pID", p.info.GetSid())
	if !r.hasIndependentMember() && !r.closing {
		r.armTimer(ctx, time.Duration(r.info.DepartureTimeout)*time.Second)
	}
}

// dependentKind reports whether a participant of this kind only serves the others (an agent, a
// recorder): like LiveKit, such participants do not keep an otherwise empty room open.
func dependentKind(k livekit.ParticipantInfo_Kind) bool {
	return k == livekit.ParticipantInfo_AGENT || k == livekit.ParticipantInfo_EGRESS
}

// hasIndependentMember reports whether anyone other than agents and recorders is in the room.
func (r *roomActor) hasIndependentMember() bool {
	for _, p := range r.participants {
		if !dependentKind(p.info.GetKind()) {
			return true
		}
	}
	return false
}

// applySubscriptions turns an UpdateSubscription into subscribe/unsubscribe messages for p.
func (r *roomActor) applySubscriptions(ctx actor.Context, p *memberEntry, u *livekit.UpdateSubscription) {
	sids := append([]string(nil), u.GetTrackSids()...)
	for _, pt := range u.GetParticipantTracks() {
		sids = append(sids, pt.GetTrackSids()...)
	}
	notFound := 0
	for _, sid := range sids {
		t, found := r.tracks[sid]
		if !u.GetSubscribe() {
			if found {
				delete(t.wanted, p.info.GetIdentity())
			}
			ctx.Send(p.pid, &unsubscribeTrack{trackSID: sid})
			continue
		}
		if !found || t.hidden() {
			// A hidden participant's tracks are as good as absent for the others. A request full
			// of unknown SIDs gets a few answers, not one per SID: they share the signal queue.
			if notFound < maxNotFoundResponses && r.unknownTrack(p, sid) {
				notFound++
			}
			continue
		}
		if t.pub.publisherSID == p.info.GetSid() {
			continue
		}
		r.offerTrack(ctx, t, p)
	}
}

// relayData hands an encoded data packet to every participant it is meant for.
func (r *roomActor) relayData(ctx actor.Context, m *dataFrom) {
	deliver := &deliverData{sender: m.senderIdentity, kind: m.kind, data: m.data}
	for identity, p := range r.participants {
		if identity == m.senderIdentity {
			continue
		}
		if m.to != nil && !m.to[identity] && !m.to[p.info.GetSid()] {
			continue
		}
		ctx.Send(p.pid, deliver)
	}
}

// dataChannelKind maps a DataPacket kind to the channel that carries it: lossy stays lossy,
// anything else goes reliable.
func dataChannelKind(k livekit.DataPacket_Kind) livekit.DataPacket_Kind {
	if k == livekit.DataPacket_LOSSY {
		return livekit.DataPacket_LOSSY
	}
	return livekit.DataPacket_RELIABLE
}

// broadcastParticipant sends a ParticipantUpdate about info to everyone: to itself always, to the
// others unless it is hidden. skip names a participant that must not get it (one that is leaving
// or that just got the same facts in its JoinResponse).
func (r *roomActor) broadcastParticipant(info *livekit.ParticipantInfo, skip string) {
	update := &livekit.SignalResponse{Message: &livekit.SignalResponse_Update{Update: &livekit.ParticipantUpdate{
		Participants: []*livekit.ParticipantInfo{info},
	}}}
	hidden := info.GetPermission().GetHidden()
	for identity, p := range r.participants {
		if identity == skip || (hidden && identity != info.GetIdentity()) {
			continue
		}
		if err := p.sink.Send(update); err != nil {
			r.log.Debug("participant update not delivered", "participant", identity, "pID", p.info.GetSid(), "err", err)
		}
	}
}

// broadcast sends one response to every participant.
func (r *roomActor) broadcast(resp *livekit.SignalResponse) {
	for identity, p := range r.participants {
		if err := p.sink.Send(resp); err != nil {
			r.log.Debug("room message not delivered", "participant", identity, "pID", p.info.GetSid(), "err", err)
		}
	}
}

func (r *roomActor) roomInfo() *livekit.Room {
	info := proto.Clone(r.info).(*livekit.Room)
	r.countRoom(info)
	return info
}

// publishSummary keeps the node's copy of this room's info current, for ListRooms, and the
// participants' through room_update (batched, room_update.go).
func (r *roomActor) publishSummary(ctx actor.Context) {
	ctx.Send(ctx.Parent(), &roomSummary{room: r.roomInfo()})
	r.roomChanged(ctx)
}

// close tells everyone why they are being disconnected, then stops the room and its participants.
func (r *roomActor) close(ctx actor.Context, reason livekit.DisconnectReason) {
	if r.closing {
		return
	}
	r.closing = true
	for _, p := range r.participants {
		p.sink.sendLeave(reason)
	}
	ctx.Stop(ctx.Self())
}

// armTimer closes the room after d unless someone joins first.
func (r *roomActor) armTimer(ctx actor.Context, d time.Duration) {
	r.timerGen++
	if r.timer != nil {
		r.timer.Stop()
	}
	if d <= 0 {
		return
	}
	r.timer = sendAfter(ctx, d, &roomTimeout{gen: r.timerGen})
}

func (r *roomActor) scheduleSpeakerTick(ctx actor.Context) {
	r.speakerTimer = sendAfter(ctx, speakerInterval, &speakerTick{})
}

func (r *roomActor) stopTimers() {
	if r.timer != nil {
		r.timer.Stop()
	}
	if r.speakerTimer != nil {
		r.speakerTimer.Stop()
	}
	if r.qualityTimer != nil {
		r.qualityTimer.Stop()
	}
	if r.updateTimer != nil {
		r.updateTimer.Stop()
	}
	r.stopRoomUpdates()
}

// updateSpeakers reads every audio track's level (atomics, no messages) and sends speakers_changed
// with the participants whose speaking state or level changed noticeably.
func (r *roomActor) updateSpeakers(ctx actor.Context) {
	levels := map[string]float32{}
	audio := 0
	for _, t := range r.tracks {
		if t.pub.info.GetType() != livekit.TrackType_AUDIO || t.pub.receiver == nil {
			continue
		}
		audio++
		if t.pub.info.GetMuted() || t.hidden() {
			continue
		}
		if level, active := t.pub.receiver.AudioLevel(); active && level > levels[t.pub.publisherSID] {
			levels[t.pub.publisherSID] = level
		}
	}
	var changed []*livekit.SpeakerInfo
	for sid, level := range levels {
		if prev, was := r.speaking[sid]; !was || math.Abs(float64(prev-level)) > 0.1 {
			changed = append(changed, &livekit.SpeakerInfo{Sid: sid, Level: level, Active: true})
			r.speaking[sid] = level
		}
	}
	for sid := range r.speaking {
		if _, still := levels[sid]; !still {
			changed = append(changed, &livekit.SpeakerInfo{Sid: sid, Level: 0, Active: false})
			delete(r.speaking, sid)
		}
	}
	if len(changed) > 0 {
		sort.Slice(changed, func(i, j int) bool { return changed[i].Level > changed[j].Level })
		r.broadcast(&livekit.SignalResponse{Message: &livekit.SignalResponse_SpeakersChanged{SpeakersChanged: &livekit.SpeakersChanged{Speakers: changed}}})
	}
	if audio > 0 {
		r.scheduleSpeakerTick(ctx)
	} else {
		r.speakerTimer = nil
	}
}
