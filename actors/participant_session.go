package actors

// The participant as the session: it outlives its signalling connection. When the socket goes
// the participant keeps its PeerConnections, subscriptions and published tracks and waits for a
// resume, bounded (SessionConfig); it sends nothing meanwhile and queues nothing, because a
// resume re-sends the state (snapshot, ICE restart) instead. Also here: refresh tokens and
// SyncState.

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// minTokenValidity is the least a refreshed token is valid for (LiveKit's).
const minTokenValidity = 10 * time.Minute

// attached records that the edge holds connection gen (its join or resume reply arrived, or the
// client spoke on it).
func (p *participantActor) attached(ctx actor.Context, gen uint64) {
	if p.signalUp || gen != p.sink.generation() {
		return
	}
	p.signalUp = true
	p.signalLostAt, p.mediaDownAt = time.Time{}, time.Time{}
	p.watchSession(ctx)
}

// signalClosed handles the end of a signalling connection. A leave has already stopped the
// actor; an old connection's end is ignored; otherwise the socket dropped and the session waits.
func (p *participantActor) signalClosed(ctx actor.Context, m *connectionClosed) {
	if m.gen != p.sink.generation() {
		return
	}
	p.log.Info("signal connection lost; keeping the session for a resume", "abrupt", m.abrupt)
	p.sink.markLeft() // nobody is listening on it any more
	if old := p.sink.detach(m.gen); old != nil {
		old.Close()
	}
	p.lostSignal(ctx)
}

// lostSignal starts the wait for a resume.
func (p *participantActor) lostSignal(ctx actor.Context) {
	p.signalUp = false
	p.signalLostAt = time.Now()
	p.watchSession(ctx)
}

// mediaUp reports whether the participant's media transport is up: some PeerConnection is
// connected and none has failed, disconnected or closed.
func (p *participantActor) mediaUp() bool {
	up := false
	for _, st := range []struct {
		pc    *webrtc.PeerConnection
		state webrtc.PeerConnectionState
	}{
		{p.pub, p.pubState.Load().(webrtc.PeerConnectionState)},
		{p.sub, p.subState.Load().(webrtc.PeerConnectionState)},
	} {
		if st.pc == nil {
			continue
		}
		switch st.state {
		case webrtc.PeerConnectionStateConnected:
			up = true
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateDisconnected, webrtc.PeerConnectionStateClosed:
			return false
		}
	}
	return up
}

// watchSession ends a participant without signal once its bound has passed: MaxSignalLoss after
// the connection went, or DisconnectGrace after its media went down too, whichever comes first,
// or at once when the client closed a PeerConnection. Otherwise it arms a check for that moment.
// With signal it only cancels the check.
func (p *participantActor) watchSession(ctx actor.Context) {
	if p.lossTimer != nil {
		p.lossTimer.Stop()
		p.lossTimer = nil
	}
	if p.signalUp || p.stopped.Load() {
		return
	}
	now := time.Now()
	cfg := p.node.cfg.Session
	deadline, reason := p.signalLostAt.Add(cfg.MaxSignalLoss), livekit.DisconnectReason_SIGNAL_CLOSE
	switch {
	case p.peerClosed:
		deadline = now // the client closed its PeerConnection too: it is not coming back
	case p.mediaUp():
		p.mediaDownAt = time.Time{}
	default:
		if p.mediaDownAt.IsZero() {
			p.mediaDownAt = now
		}
		if d := p.mediaDownAt.Add(cfg.DisconnectGrace); d.Before(deadline) {
			deadline, reason = d, livekit.DisconnectReason_CONNECTION_TIMEOUT
		}
	}
	if now.Before(deadline) {
		p.lossTimer = sendAfter(ctx, deadline.Sub(now), &sessionCheck{})
		return
	}
	p.log.Info("session not resumed in time; participant leaves", "reason", reason.String(),
		"withoutSignal", now.Sub(p.signalLostAt).Round(time.Millisecond).String())
	p.end(ctx, reason)
}

// end stops the participant for reason, which the room reports in its departure.
func (p *participantActor) end(ctx actor.Context, reason livekit.DisconnectReason) {
	ctx.Send(ctx.Parent(), &participantEnding{sid: p.info.Sid, reason: reason})
	p.sink.sendLeave(reason)
	ctx.Stop(ctx.Self())
}

// transportFailed handles a failed PeerConnection. While the signal is up the client is asked to
// resume (leave with action RESUME, then the socket closes) and the grace period starts; a PC
// that never connected cannot be resumed, so the client is asked for a full reconnect.
func (p *participantActor) transportFailed(ctx actor.Context, target livekit.SignalTarget, everConnected bool) {
	if !everConnected {
		p.log.Warn("peer connection failed before it connected; asking for a full reconnect", "pc", target.String())
		ctx.Send(ctx.Parent(), &participantEnding{sid: p.info.Sid, reason: livekit.DisconnectReason_CONNECTION_TIMEOUT})
		p.sink.sendLeaveAction(livekit.DisconnectReason_CONNECTION_TIMEOUT, livekit.LeaveRequest_RECONNECT)
		ctx.Stop(ctx.Self())
		return
	}
	if !p.signalUp {
		p.watchSession(ctx)
		return
	}
	p.log.Warn("peer connection failed; asking the client to resume", "pc", target.String())
	p.sink.sendLeaveAction(livekit.DisconnectReason_CONNECTION_TIMEOUT, livekit.LeaveRequest_RESUME)
	if old := p.sink.detach(p.sink.generation()); old != nil {
		old.Close() // flushes the leave, then closes
	}
	p.lostSignal(ctx)
}

// resumed completes a resume the room has attached: ICE restarts on the subscriber PC (the
// client restarts the publisher PC with its own offer), a fresh token follows, and the edge gets
// its handle on the new connection.
func (p *participantActor) resumed(ctx actor.Context, m *resumeSession) {
	if m.mintToken != nil {
		p.mintToken, p.tokenExpiry = m.mintToken, m.tokenExpiry
	}
	if p.signalUp {
		// The old connection had not been noticed gone. The new one counts once the edge
		// confirms it holds it (signalAttached); until then the session is bounded as usual.
		p.signalUp = false
		p.signalLostAt = time.Now()
	}
	var without time.Duration
	if !p.signalLostAt.IsZero() {
		without = time.Since(p.signalLostAt).Round(time.Millisecond)
	}
	p.log.Info("session resumed", "generation", m.gen, "withoutSignal", without.String())
	p.watchSession(ctx)
	p.restartSubscriberICE()
	p.sendRefreshToken()
	ctx.Respond(&joined{pid: ctx.Self(), sid: p.info.Sid, gen: m.gen})
}

// restartSubscriberICE sends a subscriber offer with new ICE credentials. An offer still
// unanswered on the old connection is superseded by it.
func (p *participantActor) restartSubscriberICE() {
	if p.sub == nil {
		return
	}
	p.subNegotiating, p.subPending = false, false
	p.negotiateSubscriberWith(&webrtc.OfferOptions{ICERestart: true})
}

// sendRefreshToken sends the client a token for its current identity, name, metadata,
// attributes and permission, valid for at least minTokenValidity and at least as long as the one
// it joined or resumed with.
func (p *participantActor) sendRefreshToken() {
	if p.mintToken == nil {
		return
	}
	validFor := max(minTokenValidity, time.Until(p.tokenExpiry))
	tok, err := p.mintToken(TokenClaims{
		Room: p.room, Identity: p.info.Identity, Name: p.info.Name, Metadata: p.info.Metadata,
		Attributes: p.info.Attributes, Kind: p.info.Kind, Permission: p.info.Permission,
	}, validFor)
	if err != nil {
		p.log.Warn("cannot mint refresh token", "err", err)
		return
	}
	p.tokenExpiry = time.Now().Add(validFor)
	p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_RefreshToken{RefreshToken: tok}})
}

// scheduleRefresh arms the next periodic refresh token.
func (p *participantActor) scheduleRefresh(ctx actor.Context) {
	if p.mintToken == nil || p.stopped.Load() {
		return
	}
	p.refreshTimer = sendAfter(ctx, p.node.cfg.Session.TokenRefreshInterval, &refreshTick{})
}

// syncState reconciles the client's view after a resume: its subscriptions and disabled tracks
// are applied again, and every track it says it publishes must be published or pending here;
// otherwise the state cannot be kept and the client is asked for a full reconnect.
func (p *participantActor) syncState(ctx actor.Context, s *livekit.SyncState) {
	for _, t := range s.GetPublishTracks() {
		if sid := t.GetTrack().GetSid(); !p.hasTrack(sid) {
			p.log.Warn("sync state names a track this session does not have; asking for a full reconnect", "track", sid)
			ctx.Send(ctx.Parent(), &participantEnding{sid: p.info.Sid, reason: livekit.DisconnectReason_STATE_MISMATCH})
			p.sink.sendLeaveAction(livekit.DisconnectReason_STATE_MISMATCH, livekit.LeaveRequest_RECONNECT)
			ctx.Stop(ctx.Self())
			return
		}
	}
	if u := s.GetSubscription(); u != nil && (len(u.GetTrackSids()) > 0 || len(u.GetParticipantTracks()) > 0) {
		if p.info.GetPermission().GetCanSubscribe() {
			ctx.Send(ctx.Parent(), &updateSubscriptions{identity: p.info.Identity, update: u})
		}
	}
	if disabled := s.GetTrackSidsDisabled(); len(disabled) > 0 {
		p.trackSettings(&livekit.UpdateTrackSettings{TrackSids: disabled, Disabled: true})
	}
}

// hasTrack reports whether sid is published, or reserved by a pending add_track.
func (p *participantActor) hasTrack(sid string) bool {
	if _, ok := p.published[sid]; ok {
		return true
	}
	for _, ti := range p.pending {
		if ti.GetSid() == sid {
			return true
		}
	}
	return false
}

// acceptSequence drops a reliable packet the client has sent before: after a resume it re-sends
// what it buffered with sequence numbers above ReconnectResponse.last_message_seq, and anything at
// or below the last one accepted is a duplicate. Sequence 0 means the client does not number its
// packets.
func (p *participantActor) acceptSequence(seq uint32) bool {
	if seq == 0 {
		return true
	}
	if seq <= p.sink.lastDataSeq.Load() {
		p.log.Debug("reliable data dropped: already received", "sequence", seq)
		return false
	}
	p.sink.lastDataSeq.Store(seq)
	return true
}
