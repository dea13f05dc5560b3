package lkclient

import (
	"github.com/pion/webrtc/v3"

	livekit "github.com/actor-sfu/livekit-server/proto/livekit"
)

// handle applies one SignalResponse; it runs on the read loop.
func (c *Client) handle(res *livekit.SignalResponse) {
	c.recordSignal(res)
	c.emitSignal(res)
	switch m := res.GetMessage().(type) {
	case *livekit.SignalResponse_Offer:
		c.handleSubscriberOffer(m.Offer)
	case *livekit.SignalResponse_Answer:
		c.deliverAnswer(m.Answer)
	case *livekit.SignalResponse_Trickle:
		c.handleTrickle(m.Trickle)
	case *livekit.SignalResponse_Update:
		c.mu.Lock()
		changes := c.participants.apply(m.Update.GetParticipants())
		c.mu.Unlock()
		c.emitChanges(changes)
	case *livekit.SignalResponse_TrackPublished:
		c.deliverPublished(m.TrackPublished.GetCid(), publishResult{track: m.TrackPublished.GetTrack()})
	case *livekit.SignalResponse_RequestResponse:
		c.handleRequestResponse(m.RequestResponse)
	case *livekit.SignalResponse_Leave:
		if c.opts.AutoResume && m.Leave.GetAction() == livekit.LeaveRequest_RESUME {
			c.log.Debug("server asks to resume", "reason", m.Leave.GetReason().String())
			c.startResume()
			break
		}
		c.mu.Lock()
		c.leave = m.Leave
		c.mu.Unlock()
		c.emit(func(h *Handlers) {
			if h.OnLeave != nil {
				h.OnLeave(m.Leave)
			}
		})
		c.shutdown(&LeaveError{Leave: m.Leave}, false)
	case *livekit.SignalResponse_Mute:
		c.handleServerMute(m.Mute)
	case *livekit.SignalResponse_SpeakersChanged:
		c.mu.Lock()
		for _, s := range m.SpeakersChanged.GetSpeakers() {
			if s.GetActive() {
				c.speakers[s.GetSid()] = s
			} else {
				delete(c.speakers, s.GetSid())
			}
		}
		c.mu.Unlock()
		c.emit(func(h *Handlers) {
			if h.OnSpeakersChanged != nil {
				h.OnSpeakersChanged(m.SpeakersChanged.GetSpeakers())
			}
		})
	case *livekit.SignalResponse_RoomUpdate:
		c.mu.Lock()
		c.room = m.RoomUpdate.GetRoom()
		c.mu.Unlock()
	case *livekit.SignalResponse_StreamStateUpdate:
		c.mu.Lock()
		for _, s := range m.StreamStateUpdate.GetStreamStates() {
			c.streamStates[s.GetTrackSid()] = s.GetState()
		}
		c.mu.Unlock()
	case *livekit.SignalResponse_RefreshToken:
		c.mu.Lock()
		c.refreshToken = m.RefreshToken
		c.mu.Unlock()
	case *livekit.SignalResponse_TrackUnpublished:
		c.handleServerUnpublish(m.TrackUnpublished.GetTrackSid())
	case *livekit.SignalResponse_PongResp:
		c.mu.Lock()
		c.pongs++
		if ts := m.PongResp.GetLastPingTimestamp(); ts > 0 {
			c.lastRTT = msSince(ts)
		}
		c.mu.Unlock()
	case *livekit.SignalResponse_Join:
		c.log.Warn("second join response ignored")
	}
	c.notify()
}

func (c *Client) emitSignal(res *livekit.SignalResponse) {
	c.emit(func(h *Handlers) {
		if h.OnSignal != nil {
			h.OnSignal(res)
		}
	})
}

// recordSignal keeps the bounded history WaitSignal searches.
func (c *Client) recordSignal(res *livekit.SignalResponse) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.signals = appendBounded(c.signals, res, c.opts.History)
}

func appendBounded[T any](s []T, v T, limit int) []T {
	if len(s) >= limit {
		n := copy(s, s[len(s)-limit+1:])
		clear(s[n:])
		s = s[:n]
	}
	return append(s, v)
}

// emitChanges turns participant table changes into handler calls.
func (c *Client) emitChanges(changes []change) {
	for _, ch := range changes {
		c.emit(func(h *Handlers) {
			var pf func(*livekit.ParticipantInfo)
			var tf func(*livekit.ParticipantInfo, *livekit.TrackInfo)
			switch ch.kind {
			case participantConnected:
				pf = h.OnParticipantConnected
			case participantUpdated:
				pf = h.OnParticipantUpdated
			case participantDisconnected:
				pf = h.OnParticipantDisconnected
			case localUpdated:
				pf = h.OnLocalParticipantUpdated
			case trackPublished:
				tf = h.OnTrackPublished
			case trackUnpublished:
				tf = h.OnTrackUnpublished
			case trackMuted:
				tf = h.OnTrackMuted
			case trackUnmuted:
				tf = h.OnTrackUnmuted
			}
			if pf != nil {
				pf(ch.participant)
			}
			if tf != nil {
				tf(ch.participant, ch.track)
			}
		})
	}
}

// handleSubscriberOffer answers a server offer on the subscriber PC, echoing its id.
func (c *Client) handleSubscriberOffer(sd *livekit.SessionDescription) {
	c.mu.Lock()
	c.subOffers++
	c.mu.Unlock()
	if err := c.sub.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sd.GetSdp()}); err != nil {
		c.log.Warn("subscriber offer", "err", err)
		return
	}
	answer, err := c.sub.pc.CreateAnswer(nil)
	if err != nil {
		c.log.Warn("subscriber answer", "err", err)
		return
	}
	if err := c.sub.pc.SetLocalDescription(answer); err != nil {
		c.log.Warn("subscriber set local", "err", err)
		return
	}
	err = c.sendInternal(&livekit.SignalRequest{Message: &livekit.SignalRequest_Answer{Answer: &livekit.SessionDescription{
		Type: "answer", Sdp: answer.SDP, Id: sd.GetId(),
	}}})
	if err != nil {
		c.log.Debug("send answer", "err", err)
		return
	}
	c.sub.localDescriptionSent()
}

// deliverAnswer hands a publisher answer to the negotiation waiting for it.
func (c *Client) deliverAnswer(sd *livekit.SessionDescription) {
	for {
		select {
		case c.pubAnswers <- sd:
			return
		default:
		}
		select { // full: drop the oldest (a stale answer nobody waits for)
		case <-c.pubAnswers:
		default:
		}
	}
}

func (c *Client) handleTrickle(t *livekit.TrickleRequest) {
	tr := c.pub
	if t.GetTarget() == livekit.SignalTarget_SUBSCRIBER {
		tr = c.sub
	}
	if err := tr.addRemoteCandidate(t.GetCandidateInit()); err != nil {
		c.log.Warn("remote candidate", "target", t.GetTarget().String(), "err", err)
	}
}

func (c *Client) deliverPublished(cid string, r publishResult) {
	c.mu.Lock()
	ch := c.pendingPublish[cid]
	delete(c.pendingPublish, cid)
	c.mu.Unlock()
	if ch != nil {
		ch <- r // buffered, one result per cid
	}
}

func (c *Client) handleRequestResponse(r *livekit.RequestResponse) {
	if r.GetReason() == livekit.RequestResponse_OK {
		return
	}
	if at := r.GetAddTrack(); at != nil {
		c.deliverPublished(at.GetCid(), publishResult{err: &RequestError{Response: r}})
	}
}

// handleServerMute applies a server-initiated (un)mute of our track and confirms it.
func (c *Client) handleServerMute(m *livekit.MuteTrackRequest) {
	lt := c.localTrackBySID(m.GetSid())
	if lt == nil {
		c.log.Warn("server mute for unknown track", "sid", m.GetSid())
		return
	}
	lt.muted.Store(m.GetMuted())
	_ = c.sendInternal(&livekit.SignalRequest{Message: &livekit.SignalRequest_Mute{Mute: &livekit.MuteTrackRequest{
		Sid: m.GetSid(), Muted: m.GetMuted(),
	}}})
	c.emit(func(h *Handlers) {
		if h.OnLocalTrackMuted != nil {
			h.OnLocalTrackMuted(lt, m.GetMuted())
		}
	})
}

// handleServerUnpublish removes our track the server unpublished and renegotiates.
func (c *Client) handleServerUnpublish(sid string) {
	lt := c.localTrackBySID(sid)
	if lt == nil {
		return
	}
	c.goSafe(func() {
		if err := c.UnpublishTrack(lt); err != nil {
			c.log.Debug("server unpublish", "sid", sid, "err", err)
		}
	})
}
