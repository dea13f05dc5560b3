package actors

// The participant actor: its state, its message loop and signal dispatch, refusals, info changes
// handed to the room, and shutdown. Negotiation, SDP helpers, publishing, subscribing, data and
// info updates live in the participant_*.go files beside it.

import (
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/pion/webrtc/v3"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/actors/media"
	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// participantActor is /node/rooms/<room>/<identity>. It owns the participant's two
// PeerConnections (publisher: the client offers; subscriber: the node offers), its negotiation
// state, its published tracks (as child track actors) and its subscriptions.
type participantActor struct {
	node              *Node
	log               *slog.Logger
	info              *livekit.ParticipantInfo
	sink              *sessionSink
	stats             *actorStats // this actor's published figures; it alone writes them
	autoSubscribe     bool
	subscriberPrimary bool
	protocol          int32 // the client's signalling protocol version

	self *actor.PID
	root *actor.RootContext
	// stopped is set when the actor starts stopping; pion callbacks check it before posting.
	stopped atomic.Bool

	pub, sub                     *webrtc.PeerConnection
	pubCandidates, subCandidates []webrtc.ICECandidateInit
	pubTrickled, subTrickled     int     // remote candidates taken by trickle, per PC
	iceLog                       dropLog // says, at most every few seconds, that candidates were ignored
	subNegotiating, subPending   bool
	offerID                      uint32
	// singlePC is the single-PeerConnection mode: pub is the only PC and also carries the
	// subscriptions; the node asks the client to offer (participant_singlepc.go).
	singlePC                       bool
	sectionsAsked, sectionsPending bool

	pending       map[string]*livekit.TrackInfo // add_track requests without media yet, by cid
	pendingOrder  []string                      // cids of add_track requests, oldest first; may name ones no longer pending
	published     map[string]*publication       // by track SID
	subscriptions map[string]*subscription      // by track SID

	channels    map[string]*webrtc.DataChannel // open channels that carry data to the client, by label
	queuedData  [][]byte
	queuedBytes int
	dataRefused bool         // the client was told it may not publish data
	dataLimit   *dataLimiter // the client's data budget, spent on pion's goroutines
	dataShare   senderShare  // who filled this client's data channels lately
	// metadataLimit is the client's budget of update_metadata requests.
	metadataLimit tokenBucket
	// rateLog, queueLog and bufferLog say, at most every few seconds, that data was dropped.
	rateLog, queueLog, bufferLog dropLog

	// The session across signalling connections (participant_session.go).
	signalUp                           bool // the edge holds the current connection (sink generation)
	pubEverConnected, subEverConnected bool
	peerClosed                         bool      // the client closed a PeerConnection (transportClosed)
	signalLostAt                       time.Time // when the last connection went away; zero while signalUp
	mediaDownAt                        time.Time // since when, without signal, no PeerConnection has been up
	lossTimer                          *time.Timer
	refreshTimer                       *time.Timer
	mintToken                          TokenMinter
	tokenExpiry                        time.Time
	room                               string

	pubState, subState atomic.Value                  // webrtc.PeerConnectionState, for inspection
	pubPath, subPath   atomic.Pointer[media.ICEPath] // selected candidate pairs, for inspection
	numPublished       atomic.Int64
	numSubscribed      atomic.Int64
	state              atomic.Int32  // livekit.ParticipantInfo_State, for inspection
	score              atomic.Uint32 // math.Float32bits of the latest connection score, for inspection
}

func newParticipantActor(n *Node, roomLog *slog.Logger, info *livekit.ParticipantInfo, req *JoinRequest, sink *sessionSink, subscriberPrimary bool, st *actorStats) *participantActor {
	p := &participantActor{
		node:              n,
		log:               roomLog.With("participant", info.Identity, "pID", info.Sid),
		info:              proto.Clone(info).(*livekit.ParticipantInfo),
		sink:              sink,
		stats:             st,
		autoSubscribe:     req.AutoSubscribe,
		protocol:          req.Client.GetProtocol(),
		subscriberPrimary: subscriberPrimary,
		singlePC:          req.SinglePC,
		pending:           map[string]*livekit.TrackInfo{},
		published:         map[string]*publication{},
		subscriptions:     map[string]*subscription{},
		channels:          map[string]*webrtc.DataChannel{},
		dataLimit:         newDataLimiter(n.cfg.Limits),
		metadataLimit:     newTokenBucket(float64(n.cfg.Limits.MetadataUpdatesPerSecond), 2*float64(n.cfg.Limits.MetadataUpdatesPerSecond)),
		mintToken:         req.MintToken,
		tokenExpiry:       req.TokenExpiry,
		room:              req.Room,
		signalLostAt:      time.Now(), // until the edge confirms it holds the connection
	}
	p.pubState.Store(webrtc.PeerConnectionStateNew)
	p.subState.Store(webrtc.PeerConnectionStateNew)
	p.state.Store(int32(info.State))
	sid, identity := info.Sid, info.Identity
	st.describe = func() map[string]any {
		out := map[string]any{
			"sid":           sid,
			"identity":      identity,
			"state":         livekit.ParticipantInfo_State(p.state.Load()).String(),
			"publisherPC":   p.pubState.Load().(webrtc.PeerConnectionState).String(),
			"subscriberPC":  p.subState.Load().(webrtc.PeerConnectionState).String(),
			"published":     p.numPublished.Load(),
			"subscriptions": p.numSubscribed.Load(),
		}
		if path := p.pubPath.Load(); path != nil {
			out["publisherPath"] = path.String()
		}
		if path := p.subPath.Load(); path != nil {
			out["subscriberPath"] = path.String()
		}
		if q := st.quality.Load(); q > 0 {
			out["quality"] = livekit.ConnectionQuality(q - 1).String()
			out["score"] = math.Float32frombits(p.score.Load())
		}
		return out
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
	if err := p.sink.Send(resp); err != nil {
		p.log.Debug("signal response not delivered", "err", err)
	}
}

// Receive handles the participant's messages.
func (p *participantActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		p.self, p.root = ctx.Self(), ctx.ActorSystem().Root
		p.watchSession(ctx) // bounded until the edge confirms the join
		p.sendRefreshToken()
		p.scheduleRefresh(ctx)
		switch {
		case p.singlePC:
			p.startSinglePC(ctx)
		case p.subscriberPrimary:
			p.startSubscriber(ctx)
		}
	case *signalIn:
		if m.gen != p.sink.generation() {
			return // from a connection the session has moved on from
		}
		p.attached(ctx, m.gen)
		p.handleSignal(ctx, m.req)
	case *connectionClosed:
		p.signalClosed(ctx, m)
	case *signalAttached:
		p.attached(ctx, m.gen)
	case *resumeSession:
		p.resumed(ctx, m)
	case *sessionCheck:
		p.watchSession(ctx)
	case *transportClosed:
		p.log.Debug("peer closed its connection", "pc", m.target.String())
		p.peerClosed = true
		p.watchSession(ctx)
	case *refreshTick:
		if p.signalUp {
			p.sendRefreshToken()
		}
		p.scheduleRefresh(ctx)
	case *kick:
		p.log.Info("disconnecting participant", "reason", m.reason.String())
		p.sink.sendLeave(m.reason)
		ctx.Stop(ctx.Self())
	case *localCandidate:
		p.sendCandidate(m.target, m.candidate)
	case *pcStateChanged:
		p.pcStateChanged(ctx, m.target, m.state)
		p.reportBound(ctx, 0)
	case *boundCheck:
		p.reportBound(ctx, m.tries)
	case *remoteTrackArrived:
		p.remoteTrack(ctx, m.remote, m.receiver)
	case *dataChannelOpened:
		p.channelOpened(m.target, m.channel)
	case *dataReceived:
		p.dataReceived(ctx, m.label, m.data)
	case *deliverData:
		p.deliverData(m)
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
	case *connectionRated:
		p.score.Store(math.Float32bits(m.score))
		p.stats.quality.Store(int32(m.quality) + 1)
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
		p.reportBound(ctx, boundCheckTries)
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
		ctx.Send(ctx.Parent(), &updateSubscriptions{identity: p.info.Identity, update: p.capSubscription(m.Subscription)})
	case *livekit.SignalRequest_SubscriptionPermission:
		ctx.Send(ctx.Parent(), &setSubscriptionPermission{identity: p.info.Identity, perm: m.SubscriptionPermission})
	case *livekit.SignalRequest_TrackSetting:
		p.trackSettings(m.TrackSetting)
	case *livekit.SignalRequest_Leave:
		p.log.Info("participant leaving", "reason", m.Leave.GetReason().String())
		p.sink.markLeft()
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
	case *livekit.SignalRequest_SyncState:
		p.syncState(ctx, m.SyncState)
	case nil:
		p.log.Debug("empty signal request ignored")
	default:
		p.log.Debug("signal request not handled", "type", fmt.Sprintf("%T", m))
	}
}

// changed bumps the info version (clients drop updates whose version goes backwards) and hands
// a copy to the room, which tells everyone.
func (p *participantActor) changed(ctx actor.Context) {
	p.info.Version++
	p.state.Store(int32(p.info.State))
	ctx.Send(ctx.Parent(), &participantChanged{info: proto.Clone(p.info).(*livekit.ParticipantInfo)})
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

// shutdown releases everything the participant owns. Its track actors are children and stop
// before it; the track actors it subscribed to watch it and drop its DownTracks.
func (p *participantActor) shutdown() {
	p.stopped.Store(true)
	for _, t := range []*time.Timer{p.lossTimer, p.refreshTimer} {
		if t != nil {
			t.Stop()
		}
	}
	p.sink.sendLeave(livekit.DisconnectReason_STATE_MISMATCH) // only reaches the client if nobody said why before
	p.sink.Close()
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
