package actors

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/actors/media"
	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// Data channel labels LiveKit clients recognise.
const (
	reliableLabel = "_reliable"
	lossyLabel    = "_lossy"
	// maxQueuedData bounds reliable data waiting for a subscriber channel to open.
	maxQueuedData = 256
)

// participantHandle is what a room keeps of a participant besides its info: where to send
// messages and signalling, and whether the client was already told to leave.
type participantHandle struct {
	pid  *actor.PID
	sink SignalSink
	left atomic.Bool
}

// sendLeave tells the client to disconnect, at most once per session, whoever asks first.
func (h *participantHandle) sendLeave(reason livekit.DisconnectReason) {
	if !h.left.CompareAndSwap(false, true) {
		return
	}
	_ = h.sink.Send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Leave{Leave: &livekit.LeaveRequest{
		Reason: reason,
		Action: livekit.LeaveRequest_DISCONNECT,
	}}})
}

// publication is one track this participant publishes.
type publication struct {
	info *livekit.TrackInfo
	cid  string
	pid  *actor.PID
}

// subscription is one track this participant receives.
type subscription struct {
	downTrack *media.DownTrack
	sender    *webrtc.RTPSender
	trackPID  *actor.PID
	info      *livekit.TrackInfo
}

// participantActor is /node/rooms/<room>/<identity>. It owns the participant's two
// PeerConnections (publisher: the client offers; subscriber: the node offers), its negotiation
// state, its published tracks (as child track actors) and its subscriptions.
type participantActor struct {
	node              *Node
	log               *slog.Logger
	info              *livekit.ParticipantInfo
	handle            *participantHandle
	autoSubscribe     bool
	subscriberPrimary bool

	self *actor.PID
	root *actor.RootContext
	// stopped is set when the actor starts stopping; pion callbacks check it before posting.
	stopped atomic.Bool

	pub, sub                     *webrtc.PeerConnection
	pubCandidates, subCandidates []webrtc.ICECandidateInit
	subNegotiating, subPending   bool
	offerID                      uint32

	pending       map[string]*livekit.TrackInfo // add_track requests without media yet, by cid
	published     map[string]*publication       // by track SID
	subscriptions map[string]*subscription      // by track SID

	channels    map[string]*webrtc.DataChannel // open channels that carry data to the client, by label
	queuedData  [][]byte
	dataRefused bool // the client was told it may not publish data

	pubState, subState atomic.Value // webrtc.PeerConnectionState, for inspection
	numPublished       atomic.Int64
	numSubscribed      atomic.Int64
}

func newParticipantActor(n *Node, roomLog *slog.Logger, info *livekit.ParticipantInfo, req *JoinRequest, h *participantHandle, subscriberPrimary bool, st *actorStats) *participantActor {
	p := &participantActor{
		node:              n,
		log:               roomLog.With("participant", info.Identity, "pID", info.Sid),
		info:              proto.Clone(info).(*livekit.ParticipantInfo),
		handle:            h,
		autoSubscribe:     req.AutoSubscribe,
		subscriberPrimary: subscriberPrimary,
		pending:           map[string]*livekit.TrackInfo{},
		published:         map[string]*publication{},
		subscriptions:     map[string]*subscription{},
		channels:          map[string]*webrtc.DataChannel{},
	}
	p.pubState.Store(webrtc.PeerConnectionStateNew)
	p.subState.Store(webrtc.PeerConnectionStateNew)
	sid := info.Sid
	st.describe = func() map[string]any {
		return map[string]any{
			"sid":           sid,
			"publisherPC":   p.pubState.Load().(webrtc.PeerConnectionState).String(),
			"subscriberPC":  p.subState.Load().(webrtc.PeerConnectionState).String(),
			"published":     p.numPublished.Load(),
			"subscriptions": p.numSubscribed.Load(),
		}
	}
	return p
}

// post delivers a pion callback to the mailbox, unless the actor is already stopping.
func (p *participantActor) post(msg any) {
	if !p.stopped.Load() {
		p.root.Send(p.self, msg)
	}
}

func (p *participantActor) send(resp *livekit.SignalResponse) {
	if err := p.handle.sink.Send(resp); err != nil {
		p.log.Debug("signal response not delivered", "err", err)
	}
}

// Receive handles the participant's messages.
func (p *participantActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		p.self, p.root = ctx.Self(), ctx.ActorSystem().Root
		if p.subscriberPrimary {
			p.startSubscriber(ctx)
		}
	case *signalIn:
		p.handleSignal(ctx, m.req)
	case *connectionClosed:
		if m.abrupt {
			p.log.Info("signal connection closed without leave")
		}
		p.handle.left.Store(true) // nobody is listening any more
		ctx.Stop(ctx.Self())
	case *kick:
		p.log.Info("disconnecting participant", "reason", m.reason.String())
		p.handle.sendLeave(m.reason)
		ctx.Stop(ctx.Self())
	case *localCandidate:
		p.sendCandidate(m.target, m.candidate)
	case *pcStateChanged:
		p.pcStateChanged(ctx, m.target, m.state)
	case *remoteTrackArrived:
		p.remoteTrack(ctx, m.remote, m.receiver)
	case *dataChannelOpened:
		p.channelOpened(m.target, m.channel)
	case *dataReceived:
		p.dataReceived(ctx, m.label, m.data)
	case *deliverData:
		p.deliverData(m.kind, m.data)
	case *subscribeTrack:
		p.subscribe(ctx, m)
	case *unsubscribeTrack:
		p.unsubscribe(ctx, m.trackSID)
	case *muteTrack:
		p.serverMute(ctx, m)
	case *updateParticipant:
		p.update(ctx, m.req)
	case *actor.Terminated:
		p.trackEnded(ctx, m.Who)
	case *injectPanic:
		panic("injected panic in participant actor")
	case *actor.Stopping:
		p.shutdown()
	case *actor.Stopped:
		p.node.inspector.remove(ctx.Self().Id)
	}
}

// handleSignal dispatches one client request.
func (p *participantActor) handleSignal(ctx actor.Context, req *livekit.SignalRequest) {
	switch m := req.GetMessage().(type) {
	case *livekit.SignalRequest_Offer:
		p.publisherOffer(ctx, m.Offer)
	case *livekit.SignalRequest_Answer:
		p.subscriberAnswer(ctx, m.Answer)
	case *livekit.SignalRequest_Trickle:
		p.remoteCandidate(m.Trickle)
	case *livekit.SignalRequest_AddTrack:
		p.addTrack(m.AddTrack)
	case *livekit.SignalRequest_Mute:
		p.clientMute(ctx, m.Mute.GetSid(), m.Mute.GetMuted())
	case *livekit.SignalRequest_Subscription:
		if !p.info.GetPermission().GetCanSubscribe() {
			p.refuse("not allowed to subscribe", livekit.RequestResponse_NOT_ALLOWED)
			return
		}
		ctx.Send(ctx.Parent(), &updateSubscriptions{identity: p.info.Identity, update: m.Subscription})
	case *livekit.SignalRequest_TrackSetting:
		p.trackSettings(m.TrackSetting)
	case *livekit.SignalRequest_Leave:
		p.log.Info("participant leaving", "reason", m.Leave.GetReason().String())
		p.handle.left.Store(true)
		ctx.Stop(ctx.Self())
	case *livekit.SignalRequest_Ping:
		p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Pong{Pong: time.Now().UnixMilli()}})
	case *livekit.SignalRequest_PingReq:
		p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_PongResp{PongResp: &livekit.Pong{
			LastPingTimestamp: m.PingReq.GetTimestamp(),
			Timestamp:         time.Now().UnixMilli(),
		}}})
	case *livekit.SignalRequest_UpdateMetadata:
		p.updateOwnMetadata(ctx, m.UpdateMetadata)
	case nil:
		p.log.Debug("empty signal request ignored")
	default:
		p.log.Debug("signal request not handled", "type", fmt.Sprintf("%T", m))
	}
}

// --- PeerConnections and negotiation ---

// startSubscriber creates the subscriber PC with the node's data channels and sends the first
// offer at once: LiveKit clients wait for this PC (subscriber_primary) before they report
// "connected".
func (p *participantActor) startSubscriber(ctx actor.Context) {
	pc, err := p.node.engine.NewSubscriberPC()
	if err != nil {
		p.log.Error("cannot create subscriber PeerConnection", "err", err)
		p.handle.sendLeave(livekit.DisconnectReason_JOIN_FAILURE)
		ctx.Stop(ctx.Self())
		return
	}
	p.sub = pc
	p.watchPC(pc, livekit.SignalTarget_SUBSCRIBER)
	ordered := false
	var noRetransmits uint16
	for label, init := range map[string]*webrtc.DataChannelInit{
		reliableLabel: nil,
		lossyLabel:    {Ordered: &ordered, MaxRetransmits: &noRetransmits},
	} {
		dc, err := pc.CreateDataChannel(label, init)
		if err != nil {
			p.log.Error("cannot create data channel", "label", label, "err", err)
			continue
		}
		dc.OnOpen(func() { p.post(&dataChannelOpened{target: livekit.SignalTarget_SUBSCRIBER, channel: dc}) })
	}
	p.negotiateSubscriber()
}

// watchPC routes a PeerConnection's callbacks into the mailbox.
func (p *participantActor) watchPC(pc *webrtc.PeerConnection, target livekit.SignalTarget) {
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			p.post(&localCandidate{target: target, candidate: c})
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if target == livekit.SignalTarget_PUBLISHER {
			p.pubState.Store(s)
		} else {
			p.subState.Store(s)
		}
		p.post(&pcStateChanged{target: target, state: s})
	})
}

func (p *participantActor) startPublisher(ctx actor.Context) error {
	pc, err := p.node.engine.NewPublisherPC()
	if err != nil {
		return fmt.Errorf("creating publisher PeerConnection: %w", err)
	}
	p.pub = pc
	p.watchPC(pc, livekit.SignalTarget_PUBLISHER)
	pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		p.post(&remoteTrackArrived{remote: t, receiver: r})
	})
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		label := dc.Label()
		dc.OnMessage(func(msg webrtc.DataChannelMessage) {
			p.post(&dataReceived{label: label, data: msg.Data})
		})
		dc.OnOpen(func() { p.post(&dataChannelOpened{target: livekit.SignalTarget_PUBLISHER, channel: dc}) })
	})
	return nil
}

// publisherOffer answers the client's offer on the publisher PC.
func (p *participantActor) publisherOffer(ctx actor.Context, sd *livekit.SessionDescription) {
	if sd.GetType() != "" && sd.GetType() != "offer" {
		p.refuse(fmt.Sprintf("offer has type %q", sd.GetType()), livekit.RequestResponse_INVALID_REQUEST)
		return
	}
	if err := checkSDP(sd.GetSdp(), 2*p.node.cfg.Limits.MaxTracksPerParticipant+2); err != nil {
		p.refuse(fmt.Sprintf("offer %d rejected: %v", sd.GetId(), err), livekit.RequestResponse_INVALID_REQUEST)
		return
	}
	if p.pub == nil {
		if err := p.startPublisher(ctx); err != nil {
			p.log.Error("cannot answer publisher offer", "err", err)
			p.refuse("cannot create publisher connection", livekit.RequestResponse_UNCLASSIFIED_ERROR)
			return
		}
	}
	answer, err := answerOffer(p.pub, sd.GetSdp())
	if err != nil {
		p.log.Warn("publisher offer rejected", "err", err)
		p.refuse(fmt.Sprintf("offer %d rejected: %v", sd.GetId(), err), livekit.RequestResponse_INVALID_REQUEST)
		return
	}
	p.pubCandidates = addCandidates(p.pub, p.pubCandidates, p.log)
	p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Answer{Answer: &livekit.SessionDescription{
		Type: "answer", Sdp: answer.SDP, Id: sd.GetId(),
	}}})
	p.unpublishStopped(ctx, sd.GetSdp())
}

// checkSDP refuses session descriptions pion should never see: unparsable ones, ones without any
// media section (nothing to negotiate; a LiveKit client always has at least its data channel
// m-line) and ones with more media sections than maxSections (each becomes a transceiver).
func checkSDP(raw string, maxSections int) error {
	var parsed sdp.SessionDescription
	if err := parsed.UnmarshalString(raw); err != nil {
		return fmt.Errorf("invalid SDP: %w", err)
	}
	switch n := len(parsed.MediaDescriptions); {
	case n == 0:
		return errors.New("SDP has no media sections")
	case n > maxSections:
		return fmt.Errorf("SDP has %d media sections, limit %d", n, maxSections)
	}
	return nil
}

// answerOffer applies a remote offer to pc and sets and returns the local answer. It never
// panics on bad input; every failure comes back as an error and leaves pc usable for a later,
// valid offer whenever pion allows it.
func answerOffer(pc *webrtc.PeerConnection, offer string) (answer webrtc.SessionDescription, err error) {
	defer recoverAsError(&err)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return answer, fmt.Errorf("applying offer: %w", err)
	}
	answer, err = pc.CreateAnswer(nil)
	if err == nil {
		err = pc.SetLocalDescription(answer)
	}
	if err != nil {
		return answer, fmt.Errorf("answering offer: %w", err)
	}
	return answer, nil
}

// applyAnswer applies a remote answer to the offer pc has made.
func applyAnswer(pc *webrtc.PeerConnection, answer string) (err error) {
	defer recoverAsError(&err)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return fmt.Errorf("applying answer: %w", err)
	}
	return nil
}

// recoverAsError turns a panic inside pion's SDP handling into an error: hostile SDP must cost
// the sender its request, not the participant its actor.
func recoverAsError(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("SDP handling panicked: %v", r)
	}
}

// negotiateSubscriber sends a new subscriber offer, or remembers to once the current one is
// answered: offers on one PC are strictly one at a time, and changes made meanwhile coalesce.
func (p *participantActor) negotiateSubscriber() {
	if p.sub == nil || p.stopped.Load() {
		return
	}
	if p.subNegotiating {
		p.subPending = true
		return
	}
	offer, err := p.sub.CreateOffer(nil)
	if err == nil {
		err = p.sub.SetLocalDescription(offer)
	}
	if err != nil {
		p.log.Warn("cannot create subscriber offer", "err", err)
		return
	}
	p.offerID++
	p.subNegotiating = true
	p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Offer{Offer: &livekit.SessionDescription{
		Type: "offer", Sdp: offer.SDP, Id: p.offerID,
	}}})
}

// subscriberAnswer completes one subscriber negotiation and starts the next if changes piled up.
func (p *participantActor) subscriberAnswer(ctx actor.Context, sd *livekit.SessionDescription) {
	if p.sub == nil || !p.subNegotiating {
		p.log.Warn("subscriber answer without an offer")
		p.refuse("answer without a pending subscriber offer", livekit.RequestResponse_INVALID_REQUEST)
		return
	}
	if sd.GetId() != 0 && sd.GetId() != p.offerID {
		p.log.Debug("stale subscriber answer ignored", "id", sd.GetId(), "want", p.offerID)
		return
	}
	if err := applyAnswer(p.sub, sd.GetSdp()); err != nil {
		// The offer stays pending: the client may still answer it properly.
		p.log.Warn("subscriber answer rejected", "err", err)
		p.refuse(fmt.Sprintf("answer %d rejected: %v", sd.GetId(), err), livekit.RequestResponse_INVALID_REQUEST)
		return
	}
	p.subCandidates = addCandidates(p.sub, p.subCandidates, p.log)
	p.subNegotiating = false
	if p.subPending {
		p.subPending = false
		p.negotiateSubscriber()
	}
}

// remoteCandidate applies a trickled candidate, or queues it until its PC has a remote
// description (pion refuses candidates before that).
func (p *participantActor) remoteCandidate(t *livekit.TrickleRequest) {
	if t.GetTarget() != livekit.SignalTarget_PUBLISHER && t.GetTarget() != livekit.SignalTarget_SUBSCRIBER {
		p.refuse(fmt.Sprintf("trickle for unknown target %d", t.GetTarget()), livekit.RequestResponse_INVALID_REQUEST, echoTrickle(t))
		return
	}
	var init webrtc.ICECandidateInit
	if err := json.Unmarshal([]byte(t.GetCandidateInit()), &init); err != nil {
		p.refuse("malformed trickle candidate", livekit.RequestResponse_INVALID_REQUEST, echoTrickle(t))
		return
	}
	if init.Candidate == "" {
		return // end of candidates
	}
	pc, queue := p.pub, &p.pubCandidates
	if t.GetTarget() == livekit.SignalTarget_SUBSCRIBER {
		pc, queue = p.sub, &p.subCandidates
	}
	if pc == nil || pc.RemoteDescription() == nil {
		if len(*queue) < 64 {
			*queue = append(*queue, init)
		}
		return
	}
	if err := pc.AddICECandidate(init); err != nil {
		p.log.Debug("remote candidate rejected", "err", err)
	}
}

func addCandidates(pc *webrtc.PeerConnection, queue []webrtc.ICECandidateInit, log *slog.Logger) []webrtc.ICECandidateInit {
	for _, c := range queue {
		if err := pc.AddICECandidate(c); err != nil {
			log.Debug("queued remote candidate rejected", "err", err)
		}
	}
	return queue[:0]
}

func (p *participantActor) sendCandidate(target livekit.SignalTarget, c *webrtc.ICECandidate) {
	init, err := json.Marshal(c.ToJSON())
	if err != nil {
		return
	}
	p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Trickle{Trickle: &livekit.TrickleRequest{
		CandidateInit: string(init), Target: target,
	}}})
}

func (p *participantActor) pcStateChanged(ctx actor.Context, target livekit.SignalTarget, s webrtc.PeerConnectionState) {
	p.log.Debug("peer connection state", "pc", target.String(), "state", s.String())
	primary := (target == livekit.SignalTarget_SUBSCRIBER) == p.subscriberPrimary
	switch {
	case s == webrtc.PeerConnectionStateConnected && primary && p.info.State != livekit.ParticipantInfo_ACTIVE:
		p.info.State = livekit.ParticipantInfo_ACTIVE
		p.changed(ctx)
	case s == webrtc.PeerConnectionStateFailed:
		p.log.Warn("peer connection failed; disconnecting", "pc", target.String())
		p.handle.sendLeave(livekit.DisconnectReason_STATE_MISMATCH)
		ctx.Stop(ctx.Self())
	}
}

// changed bumps the info version (clients drop updates whose version goes backwards) and hands
// a copy to the room, which tells everyone.
func (p *participantActor) changed(ctx actor.Context) {
	p.info.Version++
	ctx.Send(ctx.Parent(), &participantChanged{info: proto.Clone(p.info).(*livekit.ParticipantInfo)})
}

// --- publishing ---

// addTrack reserves a TrackInfo for a track the client is about to send and answers with its SID.
func (p *participantActor) addTrack(req *livekit.AddTrackRequest) {
	if !p.mayPublish(req.GetSource()) {
		p.refuse(fmt.Sprintf("not allowed to publish %s", req.GetSource().String()), livekit.RequestResponse_NOT_ALLOWED, echoAddTrack(req))
		return
	}
	if req.GetCid() == "" {
		p.refuse("add_track without a cid", livekit.RequestResponse_INVALID_REQUEST, echoAddTrack(req))
		return
	}
	if p.trackByCID(req.GetCid()) != nil {
		// A cid names one client track; a second request for it would make two publications
		// race for the same media. The first publication stands.
		p.refuse(fmt.Sprintf("track cid %q is already in use", req.GetCid()), livekit.RequestResponse_DUPLICATE_NAME, echoAddTrack(req))
		return
	}
	if len(p.pending)+len(p.published) >= p.node.cfg.Limits.MaxTracksPerParticipant {
		p.refuse(fmt.Sprintf("too many tracks: limit %d per participant", p.node.cfg.Limits.MaxTracksPerParticipant), livekit.RequestResponse_LIMIT_EXCEEDED, echoAddTrack(req))
		return
	}
	prefix := "TR_A"
	if req.GetType() == livekit.TrackType_VIDEO {
		prefix = "TR_V"
	}
	info := &livekit.TrackInfo{
		Sid:        newID(prefix),
		Type:       req.GetType(),
		Name:       req.GetName(),
		Muted:      req.GetMuted(),
		Width:      req.GetWidth(),
		Height:     req.GetHeight(),
		Simulcast:  len(req.GetLayers()) > 1,
		DisableDtx: req.GetDisableDtx(),
		Source:     req.GetSource(),
		Layers:     req.GetLayers(),
		Stereo:     req.GetStereo(),
		DisableRed: req.GetDisableRed(),
		Encryption: req.GetEncryption(),
		Stream:     req.GetStream(),
	}
	if info.Stream == "" {
		info.Stream = "camera"
		if info.Source == livekit.TrackSource_SCREEN_SHARE || info.Source == livekit.TrackSource_SCREEN_SHARE_AUDIO {
			info.Stream = "screen"
		}
	}
	for _, c := range req.GetSimulcastCodecs() {
		info.Codecs = append(info.Codecs, &livekit.SimulcastCodecInfo{
			MimeType: mimeOf(c.GetCodec(), req.GetType()), Cid: c.GetCid(), Layers: c.GetLayers(),
		})
	}
	p.pending[req.GetCid()] = info
	p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_TrackPublished{TrackPublished: &livekit.TrackPublishedResponse{
		Cid: req.GetCid(), Track: proto.Clone(info).(*livekit.TrackInfo),
	}}})
}

// mimeOf turns the short codec names JS sends ("vp8") into mime types ("video/VP8").
func mimeOf(codec string, kind livekit.TrackType) string {
	if codec == "" || strings.Contains(codec, "/") {
		return codec
	}
	prefix := "audio/"
	if kind == livekit.TrackType_VIDEO {
		prefix = "video/"
	}
	switch strings.ToLower(codec) {
	case "opus":
		return prefix + "opus"
	case "vp8", "vp9", "av1", "h264", "h265":
		return prefix + strings.ToUpper(codec)
	}
	return prefix + codec
}

func (p *participantActor) mayPublish(source livekit.TrackSource) bool {
	perm := p.info.GetPermission()
	if !perm.GetCanPublish() {
		return false
	}
	if len(perm.GetCanPublishSources()) == 0 {
		return true
	}
	for _, s := range perm.GetCanPublishSources() {
		if s == source {
			return true
		}
	}
	return false
}

// refuse tells the client a request failed and why, with a request_response. echo, when set, is
// the RequestResponse.request variant naming the request (clients match add_track refusals to
// their pending publication by it).
func (p *participantActor) refuse(msg string, reason livekit.RequestResponse_Reason, echo ...func(*livekit.RequestResponse)) {
	p.log.Info("request refused", "reason", reason.String(), "msg", msg)
	rr := &livekit.RequestResponse{Reason: reason, Message: msg}
	for _, e := range echo {
		e(rr)
	}
	p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_RequestResponse{RequestResponse: rr}})
}

// echoAddTrack names an add_track request in a refusal.
func echoAddTrack(req *livekit.AddTrackRequest) func(*livekit.RequestResponse) {
	return func(rr *livekit.RequestResponse) { rr.Request = &livekit.RequestResponse_AddTrack{AddTrack: req} }
}

// echoTrickle names a trickle request in a refusal.
func echoTrickle(req *livekit.TrickleRequest) func(*livekit.RequestResponse) {
	return func(rr *livekit.RequestResponse) { rr.Request = &livekit.RequestResponse_Trickle{Trickle: req} }
}

func (p *participantActor) trackByCID(cid string) *livekit.TrackInfo {
	if info := p.pending[cid]; info != nil {
		return info
	}
	for _, pub := range p.published {
		if pub.cid == cid {
			return pub.info
		}
	}
	return nil
}

// matchPending finds the add_track request a remote track answers: by msid track id (the cid),
// then by a simulcast codec's cid, then the oldest request of the same kind.
func (p *participantActor) matchPending(remote *webrtc.TrackRemote) (string, *livekit.TrackInfo) {
	if info := p.pending[remote.ID()]; info != nil {
		return remote.ID(), info
	}
	for cid, info := range p.pending {
		for _, c := range info.Codecs {
			if c.GetCid() == remote.ID() {
				return cid, info
			}
		}
	}
	want := livekit.TrackType_AUDIO
	if remote.Kind() == webrtc.RTPCodecTypeVideo {
		want = livekit.TrackType_VIDEO
	}
	for cid, info := range p.pending {
		if info.Type == want {
			return cid, info
		}
	}
	return "", nil
}

// remoteTrack handles media arriving on the publisher PC: a new publication, or one more
// simulcast layer of an existing one.
func (p *participantActor) remoteTrack(ctx actor.Context, remote *webrtc.TrackRemote, rr *webrtc.RTPReceiver) {
	if !p.info.GetPermission().GetCanPublish() {
		_ = rr.Stop()
		return
	}
	for _, pub := range p.published {
		if pub.cid == remote.ID() {
			ctx.Send(pub.pid, &addLayer{remote: remote, receiver: rr})
			return
		}
	}
	cid, info := p.matchPending(remote)
	if info == nil {
		p.log.Warn("media without add_track ignored", "trackID", remote.ID(), "kind", remote.Kind().String())
		_ = rr.Stop()
		return
	}
	delete(p.pending, cid)
	info.MimeType = remote.Codec().MimeType
	for _, tr := range p.pub.GetTransceivers() {
		if tr.Receiver() == rr {
			info.Mid = tr.Mid()
		}
	}
	if len(info.Codecs) == 0 {
		info.Codecs = []*livekit.SimulcastCodecInfo{{MimeType: info.MimeType, Cid: cid, Mid: info.Mid, Layers: info.Layers}}
	} else {
		info.Codecs[0].Mid = info.Mid
	}
	var trackPID atomic.Pointer[actor.PID]
	root := p.root
	receiver := p.node.engine.NewReceiver(media.ReceiverOptions{
		TrackID:     info.Sid,
		Kind:        remote.Kind(),
		Codec:       remote.Codec(),
		PublisherPC: p.pub,
		OnClosed: func() {
			if pid := trackPID.Load(); pid != nil {
				root.Send(pid, &upstreamEnded{})
			}
		},
		Log: p.log, // the receiver adds the track field itself
	})
	trackInfo := proto.Clone(info).(*livekit.TrackInfo)
	pid, _, err := p.node.spawn(ctx, info.Sid, "track", func(st *actorStats) actor.Actor {
		return newTrackActor(p.node, p.log, trackInfo, receiver, st)
	}, actor.WithSupervisor(stopOnPanic()))
	if err != nil {
		p.log.Error("cannot start track actor", "track", info.Sid, "err", err)
		receiver.Close()
		return
	}
	trackPID.Store(pid)
	ctx.Send(pid, &addLayer{remote: remote, receiver: rr})
	p.published[info.Sid] = &publication{info: info, cid: cid, pid: pid}
	p.numPublished.Store(int64(len(p.published)))
	p.info.Tracks = append(p.info.Tracks, info)
	p.info.IsPublisher = true
	p.log.Info("track published", "track", info.Sid, "mime", info.MimeType, "source", info.Source.String(), "rid", remote.RID())
	// The update describing the track must reach subscribers before the offer that carries it.
	p.changed(ctx)
	ctx.Send(ctx.Parent(), &trackPublished{
		publisherSID: p.info.Sid, info: proto.Clone(info).(*livekit.TrackInfo), pid: pid,
		receiver: receiver, codec: remote.Codec().RTPCodecCapability,
	})
}

// unpublishStopped stops the track actors of tracks the client's latest offer no longer sends.
// Unpublishing has no signal message: the client removes its sender and re-offers, and the
// track's m-section turns recvonly or inactive (or is rejected with port 0).
func (p *participantActor) unpublishStopped(ctx actor.Context, offer string) {
	if len(p.published) == 0 {
		return
	}
	sending := sendingMids(offer)
	for sid, pub := range p.published {
		if pub.info.Mid != "" && !sending[pub.info.Mid] {
			p.log.Info("track no longer sent by the client", "track", sid)
			ctx.Stop(pub.pid)
		}
	}
}

// sendingMids lists the mids of an offer's m-sections in which the offerer sends media.
func sendingMids(offer string) map[string]bool {
	var parsed sdp.SessionDescription
	if err := parsed.Unmarshal([]byte(offer)); err != nil {
		return nil
	}
	out := map[string]bool{}
	for _, md := range parsed.MediaDescriptions {
		mid, _ := md.Attribute("mid")
		if mid == "" {
			continue
		}
		_, recvonly := md.Attribute("recvonly")
		_, inactive := md.Attribute("inactive")
		out[mid] = md.MediaName.Port.Value != 0 && !recvonly && !inactive
	}
	return out
}

// trackEnded forgets a publication whose track actor stopped (unpublished, upstream ended, or
// failed) and tells the room.
func (p *participantActor) trackEnded(ctx actor.Context, who *actor.PID) {
	for sid, pub := range p.published {
		if !pub.pid.Equal(who) {
			continue
		}
		delete(p.published, sid)
		p.numPublished.Store(int64(len(p.published)))
		tracks := p.info.Tracks[:0]
		for _, t := range p.info.Tracks {
			if t.Sid != sid {
				tracks = append(tracks, t)
			}
		}
		p.info.Tracks = tracks
		p.info.IsPublisher = len(p.published) > 0
		if p.stopped.Load() {
			return
		}
		p.log.Info("track unpublished", "track", sid)
		p.changed(ctx)
		ctx.Send(ctx.Parent(), &trackUnpublished{publisherSID: p.info.Sid, trackSID: sid})
		return
	}
}

func (p *participantActor) findTrack(sid string) *livekit.TrackInfo {
	if pub := p.published[sid]; pub != nil {
		return pub.info
	}
	for _, info := range p.pending {
		if info.Sid == sid {
			return info
		}
	}
	return nil
}

// clientMute records a mute the client made itself.
func (p *participantActor) clientMute(ctx actor.Context, sid string, muted bool) {
	info := p.findTrack(sid)
	if info == nil || info.Muted == muted {
		return
	}
	info.Muted = muted
	if pub := p.published[sid]; pub != nil {
		p.changed(ctx)
	}
}

// serverMute mutes a track on behalf of the Room API: the client is told, so it stops sending.
func (p *participantActor) serverMute(ctx actor.Context, m *muteTrack) {
	info := p.findTrack(m.trackSID)
	if info == nil {
		ctx.Respond(&replyError{fmt.Errorf("track %q of %q: %w", m.trackSID, p.info.Identity, ErrTrackNotFound)})
		return
	}
	p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Mute{Mute: &livekit.MuteTrackRequest{Sid: m.trackSID, Muted: m.muted}}})
	if info.Muted != m.muted {
		info.Muted = m.muted
		p.changed(ctx)
	}
	ctx.Respond(proto.Clone(info))
}

// --- participant info ---

// update applies a Room API UpdateParticipant.
func (p *participantActor) update(ctx actor.Context, req *livekit.UpdateParticipantRequest) {
	if req.GetMetadata() != "" {
		p.info.Metadata = req.GetMetadata()
	}
	if req.GetName() != "" {
		p.info.Name = req.GetName()
	}
	p.mergeAttributes(req.GetAttributes())
	if perm := req.GetPermission(); perm != nil {
		p.setPermission(ctx, perm)
	}
	p.changed(ctx)
	ctx.Respond(proto.Clone(p.info))
}

func (p *participantActor) mergeAttributes(attrs map[string]string) {
	if len(attrs) == 0 {
		return
	}
	if p.info.Attributes == nil {
		p.info.Attributes = map[string]string{}
	}
	for k, v := range attrs {
		if v == "" {
			delete(p.info.Attributes, k)
		} else {
			p.info.Attributes[k] = v
		}
	}
}

// setPermission applies new permissions at once: no publishing means the tracks go, no
// subscribing means the subscriptions go.
func (p *participantActor) setPermission(ctx actor.Context, perm *livekit.ParticipantPermission) {
	p.info.Permission = proto.Clone(perm).(*livekit.ParticipantPermission)
	if !perm.GetCanPublish() {
		for _, pub := range p.published {
			ctx.Stop(pub.pid)
		}
		clear(p.pending)
	}
	if !perm.GetCanSubscribe() {
		for sid := range p.subscriptions {
			p.unsubscribe(ctx, sid)
		}
	}
}

// updateOwnMetadata applies the client's own metadata change when its token allows it.
func (p *participantActor) updateOwnMetadata(ctx actor.Context, req *livekit.UpdateParticipantMetadata) {
	if !p.info.GetPermission().GetCanUpdateMetadata() {
		p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_RequestResponse{RequestResponse: &livekit.RequestResponse{
			RequestId: req.GetRequestId(), Reason: livekit.RequestResponse_NOT_ALLOWED, Message: "does not have permission to update own metadata",
		}}})
		return
	}
	if len(req.GetMetadata()) > p.node.cfg.Limits.MaxMetadataSize || p.node.checkAttributes(req.GetAttributes()) != nil {
		p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_RequestResponse{RequestResponse: &livekit.RequestResponse{
			RequestId: req.GetRequestId(), Reason: livekit.RequestResponse_LIMIT_EXCEEDED, Message: "metadata or attributes too large",
		}}})
		return
	}
	if req.GetMetadata() != "" {
		p.info.Metadata = req.GetMetadata()
	}
	if req.GetName() != "" {
		p.info.Name = req.GetName()
	}
	p.mergeAttributes(req.GetAttributes())
	p.changed(ctx)
}

// --- subscribing ---

// subscribe adds a DownTrack for a published track to the subscriber PC and renegotiates.
func (p *participantActor) subscribe(ctx actor.Context, m *subscribeTrack) {
	sid := m.info.GetSid()
	if p.sub == nil || p.subscriptions[sid] != nil || !p.info.GetPermission().GetCanSubscribe() {
		return
	}
	dt := media.NewDownTrack(m.receiver, m.codec, sid, m.publisherSID+"|"+sid)
	sender, err := p.sub.AddTrack(dt)
	if err != nil {
		p.log.Warn("cannot add subscribed track", "track", sid, "err", err)
		dt.Close()
		return
	}
	dt.StartRTCP(sender)
	ctx.Send(m.pid, &addDownTrack{subscriber: ctx.Self(), downTrack: dt})
	p.subscriptions[sid] = &subscription{downTrack: dt, sender: sender, trackPID: m.pid, info: m.info}
	p.numSubscribed.Store(int64(len(p.subscriptions)))
	p.negotiateSubscriber()
}

// unsubscribe removes a subscription and renegotiates.
func (p *participantActor) unsubscribe(ctx actor.Context, sid string) {
	s := p.subscriptions[sid]
	if s == nil {
		return
	}
	delete(p.subscriptions, sid)
	p.numSubscribed.Store(int64(len(p.subscriptions)))
	ctx.Send(s.trackPID, &removeDownTrack{subscriber: ctx.Self()})
	s.downTrack.Close()
	if p.sub != nil {
		if err := p.sub.RemoveTrack(s.sender); err != nil {
			p.log.Debug("removing subscribed track", "track", sid, "err", err)
		}
	}
	p.negotiateSubscriber()
}

// trackSettings applies the client's per-subscription preferences: pause and layer.
func (p *participantActor) trackSettings(u *livekit.UpdateTrackSettings) {
	for _, sid := range u.GetTrackSids() {
		s := p.subscriptions[sid]
		if s == nil {
			continue
		}
		s.downTrack.SetPaused(u.GetDisabled())
		if s.info.GetType() == livekit.TrackType_VIDEO {
			s.downTrack.SetTargetLayer(pickLayer(s.info, u))
		}
	}
}

// pickLayer maps a requested size or quality to a simulcast layer index (0 = q, 1 = h, 2 = f).
func pickLayer(info *livekit.TrackInfo, u *livekit.UpdateTrackSettings) int {
	layers := info.GetLayers()
	if u.GetWidth() > 0 && len(layers) > 0 {
		best := len(layers) - 1
		for i, l := range layers {
			if l.GetWidth() >= u.GetWidth() || l.GetHeight() >= u.GetHeight() {
				best = i
				break
			}
		}
		return int(layers[best].GetQuality())
	}
	switch u.GetQuality() {
	case livekit.VideoQuality_LOW:
		return 0
	case livekit.VideoQuality_MEDIUM:
		return 1
	}
	return 2
}

// --- data ---

func (p *participantActor) channelOpened(target livekit.SignalTarget, dc *webrtc.DataChannel) {
	label := dc.Label()
	if label != reliableLabel && label != lossyLabel {
		return
	}
	// Data to the client goes on the subscriber PC's channels; a participant without one (it may
	// not subscribe) gets it on the channels its client opened on the publisher PC.
	if target == livekit.SignalTarget_SUBSCRIBER || p.sub == nil {
		p.channels[label] = dc
	}
	if label == reliableLabel && p.channels[reliableLabel] == dc {
		for _, data := range p.queuedData {
			_ = dc.Send(data)
		}
		p.queuedData = nil
	}
}

// dataReceived validates a client's data packet, stamps its sender and hands it to the room.
func (p *participantActor) dataReceived(ctx actor.Context, label string, data []byte) {
	if !p.info.GetPermission().GetCanPublishData() {
		// Data has no request id to answer; tell the client once, then drop quietly.
		if !p.dataRefused {
			p.dataRefused = true
			p.refuse("not allowed to publish data", livekit.RequestResponse_NOT_ALLOWED)
		}
		return
	}
	if len(data) > p.node.cfg.Limits.MaxDataPacketSize {
		p.log.Debug("data dropped: too large", "bytes", len(data))
		return
	}
	pkt := &livekit.DataPacket{}
	if err := proto.Unmarshal(data, pkt); err != nil {
		p.log.Debug("data dropped: not a DataPacket", "err", err)
		return
	}
	if _, isTranscription := pkt.GetValue().(*livekit.DataPacket_Transcription); isTranscription && p.info.Kind != livekit.ParticipantInfo_AGENT {
		return
	}
	kind := livekit.DataPacket_RELIABLE
	if label == lossyLabel {
		kind = livekit.DataPacket_LOSSY
	}
	pkt.Kind = kind
	identity, sid := p.info.Identity, p.info.Sid
	if p.info.GetPermission().GetHidden() {
		identity, sid = "", ""
	}
	pkt.ParticipantIdentity, pkt.ParticipantSid = identity, sid
	if u := pkt.GetUser(); u != nil {
		u.ParticipantIdentity, u.ParticipantSid = identity, sid
	}
	ctx.Send(ctx.Parent(), &dataFrom{senderIdentity: p.info.Identity, kind: kind, packet: pkt})
}

// deliverData sends an encoded DataPacket to the client on the channel of its kind.
func (p *participantActor) deliverData(kind livekit.DataPacket_Kind, data []byte) {
	label := reliableLabel
	if kind == livekit.DataPacket_LOSSY {
		label = lossyLabel
	}
	dc := p.channels[label]
	if dc == nil {
		if kind == livekit.DataPacket_RELIABLE && len(p.queuedData) < maxQueuedData {
			p.queuedData = append(p.queuedData, data)
		}
		return
	}
	if err := dc.Send(data); err != nil {
		p.log.Debug("data not delivered", "label", label, "err", err)
	}
}

// --- shutdown ---

// shutdown releases everything the participant owns. Its track actors are children and stop
// before it; the track actors it subscribed to watch it and drop its DownTracks.
func (p *participantActor) shutdown() {
	p.stopped.Store(true)
	p.handle.sendLeave(livekit.DisconnectReason_STATE_MISMATCH) // only reaches the client if nobody said why before
	p.handle.sink.Close()
	for _, s := range p.subscriptions {
		s.downTrack.Close()
	}
	closed := 0
	for _, pc := range []*webrtc.PeerConnection{p.pub, p.sub} {
		if pc != nil {
			if err := pc.Close(); err != nil {
				p.log.Debug("closing peer connection", "err", err)
			}
			closed++
		}
	}
	p.log.Debug("participant stopped; peer connections closed", "closed", closed)
}
