package actors

// The participant's two PeerConnections and their negotiation: the subscriber PC the node offers
// on, the publisher PC the client offers on, trickled ICE candidates both ways, and the
// connection states that make a participant active, ask its client to resume, or end it.

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/actors/media"
	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// startSubscriber creates the subscriber PC with the node's data channels and sends the first
// offer at once: LiveKit clients wait for this PC (subscriber_primary) before they report
// "connected".
func (p *participantActor) startSubscriber(ctx actor.Context) {
	pc, err := p.node.engine.NewSubscriberPC()
	if err != nil {
		p.log.Error("cannot create subscriber PeerConnection", "err", err)
		p.sink.sendLeave(livekit.DisconnectReason_JOIN_FAILURE)
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
	media.WatchPath(pc, func(path media.ICEPath) {
		if target == livekit.SignalTarget_PUBLISHER {
			p.pubPath.Store(&path)
		} else {
			p.subPath.Store(&path)
		}
		p.log.Info("ICE path selected", "pc", target.String(), "path", path.Transport, "local", path.Local,
			"remote", path.Remote, "local_addr", path.LocalAddr, "remote_addr", path.RemoteAddr)
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if target == livekit.SignalTarget_PUBLISHER {
			p.pubState.Store(s)
		} else {
			p.subState.Store(s)
		}
		p.post(&pcStateChanged{target: target, state: s})
	})
	// The association ends when the client closes its PeerConnection (DTLS close_notify), never
	// in a mere network outage: a session without signal whose client did that has no one to
	// resume it.
	pc.SCTP().OnClose(func(error) { p.post(&transportClosed{target: target}) })
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
	pc.OnDataChannel(p.watchDataChannel)
	return nil
}

// publisherOffer answers the client's offer on the publisher PC (in single-PC mode, the one PC).
func (p *participantActor) publisherOffer(ctx actor.Context, sd *livekit.SessionDescription) {
	if sd.GetType() != "" && sd.GetType() != "offer" {
		p.refuse(fmt.Sprintf("offer has type %q", sd.GetType()), livekit.RequestResponse_INVALID_REQUEST)
		return
	}
	if err := checkSDP(sd.GetSdp(), p.maxOfferSections()); err != nil {
		p.refuse(fmt.Sprintf("offer %d rejected: %v", sd.GetId(), err), livekit.RequestResponse_INVALID_REQUEST)
		return
	}
	offer := p.filterCandidates(livekit.SignalTarget_PUBLISHER, sd.GetSdp())
	if p.pub == nil {
		if err := p.startPublisher(ctx); err != nil {
			p.log.Error("cannot answer publisher offer", "err", err)
			p.refuse("cannot create publisher connection", livekit.RequestResponse_UNCLASSIFIED_ERROR)
			return
		}
	}
	answer, err := answerOffer(p.pub, offer)
	if err != nil {
		p.log.Warn("publisher offer rejected", "err", err)
		p.refuse(fmt.Sprintf("offer %d rejected: %v", sd.GetId(), err), livekit.RequestResponse_INVALID_REQUEST)
		return
	}
	p.pubCandidates = addCandidates(p.pub, p.pubCandidates, p.log)
	p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Answer{Answer: &livekit.SessionDescription{
		Type: "answer", Sdp: answer.SDP, Id: sd.GetId(), MidToTrackId: p.midToTrackID(),
	}}})
	p.unpublishStopped(ctx, sd.GetSdp())
	if p.singlePC {
		p.offerAnswered()
	}
}

// negotiateSubscriber sends a new subscriber offer, or remembers to once the current one is
// answered: offers on one PC are strictly one at a time, and changes made meanwhile coalesce.
func (p *participantActor) negotiateSubscriber() { p.negotiateSubscriberWith(nil) }

// negotiateSubscriberWith is negotiateSubscriber with offer options (an ICE restart on resume).
func (p *participantActor) negotiateSubscriberWith(opts *webrtc.OfferOptions) {
	if p.sub == nil || p.stopped.Load() {
		return
	}
	if p.subNegotiating {
		p.subPending = true
		return
	}
	offer, err := p.sub.CreateOffer(opts)
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
	if err := applyAnswer(p.sub, p.filterCandidates(livekit.SignalTarget_SUBSCRIBER, sd.GetSdp())); err != nil {
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
	if !p.acceptCandidate(t.GetTarget(), init.Candidate) {
		return
	}
	pc, queue := p.pub, &p.pubCandidates
	if t.GetTarget() == livekit.SignalTarget_SUBSCRIBER && !p.singlePC { // one PC: every target is it
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

// acceptCandidate counts a trickled candidate against its PC's budget and checks it against the
// node's candidate policy; an ignored one is counted and logged (at most every few seconds).
func (p *participantActor) acceptCandidate(target livekit.SignalTarget, candidate string) bool {
	count := &p.pubTrickled
	if target == livekit.SignalTarget_SUBSCRIBER {
		count = &p.subTrickled
	}
	var err error
	if limit := p.node.cfg.Limits.MaxICECandidatesPerPC; *count >= limit {
		err = fmt.Errorf("%d candidates taken already, limit %d", *count, limit)
	} else {
		err = p.node.ice.check(candidate)
	}
	if err != nil {
		p.node.drops.iceCandidates.Add(1)
		p.iceLog.note(p.log, "remote ICE candidate ignored", "pc", target.String(), "err", err)
		return false
	}
	*count++
	return true
}

// filterCandidates removes the a=candidate lines the node will not contact from a client's
// session description. A description lists the client's candidates anew each time, so each one
// gets the whole budget.
func (p *participantActor) filterCandidates(target livekit.SignalTarget, raw string) string {
	out, _, removed, err := filterSDPCandidates(raw, p.node.ice, p.node.cfg.Limits.MaxICECandidatesPerPC)
	if err != nil {
		return raw // not SDP: pion refuses it with a clearer error
	}
	if removed > 0 {
		p.node.drops.iceCandidates.Add(int64(removed))
		p.iceLog.note(p.log, "remote ICE candidates in a session description ignored", "pc", target.String(), "removed", removed)
	}
	return out
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
	everConnected := &p.subEverConnected
	if target == livekit.SignalTarget_PUBLISHER {
		everConnected = &p.pubEverConnected
	}
	if s == webrtc.PeerConnectionStateConnected {
		*everConnected = true
	}
	switch {
	case s == webrtc.PeerConnectionStateConnected && primary && p.info.State != livekit.ParticipantInfo_ACTIVE:
		p.info.State = livekit.ParticipantInfo_ACTIVE
		p.changed(ctx)
	case s == webrtc.PeerConnectionStateFailed:
		p.transportFailed(ctx, target, *everConnected)
		return
	}
	if !p.signalUp {
		p.watchSession(ctx) // media up or down changes how long a session without signal lasts
	}
}
