package actors

// Subscribing: DownTracks on the subscriber PC (in single-PC mode, on the one PC) for the tracks the room hands this participant,
// and the client's per-subscription settings (pause, simulcast layer).

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/actors/media"
	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// subscription is one track this participant receives.
type subscription struct {
	downTrack *media.DownTrack
	sender    *webrtc.RTPSender
	trackPID  *actor.PID
	info      *livekit.TrackInfo
	bound     bool // the room was told its media flows (subscriptionBound)
}

// subscribe adds a DownTrack for a published track to the subscriber PC and renegotiates.
func (p *participantActor) subscribe(ctx actor.Context, m *subscribeTrack) {
	sid := m.info.GetSid()
	pc := p.downPC()
	if pc == nil || p.subscriptions[sid] != nil || !p.info.GetPermission().GetCanSubscribe() {
		return
	}
	dt := media.NewDownTrack(m.receiver, m.codec, sid, m.publisherSID+"|"+sid)
	sender, err := pc.AddTrack(dt)
	if err != nil {
		p.log.Warn("cannot add subscribed track", "track", sid, "err", err)
		dt.Close()
		return
	}
	dt.StartRTCP(sender)
	ctx.Send(m.pid, &addDownTrack{subscriber: ctx.Self(), downTrack: dt})
	p.subscriptions[sid] = &subscription{downTrack: dt, sender: sender, trackPID: m.pid, info: m.info}
	p.numSubscribed.Store(int64(len(p.subscriptions)))
	p.renegotiateDown()
}

// capSubscription bounds the work one subscription request makes for the room: it keeps the first
// MaxSubscriptionTracks SIDs and refuses the rest with LIMIT_EXCEEDED.
func (p *participantActor) capSubscription(u *livekit.UpdateSubscription) *livekit.UpdateSubscription {
	limit := p.node.cfg.Limits.MaxSubscriptionTracks
	count := len(u.GetTrackSids())
	for _, pt := range u.GetParticipantTracks() {
		count += len(pt.GetTrackSids())
	}
	if count <= limit {
		return u
	}
	sids := make([]string, 0, limit)
	sids = append(sids, u.GetTrackSids()[:min(limit, len(u.GetTrackSids()))]...)
	for _, pt := range u.GetParticipantTracks() {
		sids = append(sids, pt.GetTrackSids()[:min(limit-len(sids), len(pt.GetTrackSids()))]...)
	}
	p.refuse(fmt.Sprintf("subscription names %d tracks, limit %d: the first %d were applied, the rest ignored", count, limit, limit), livekit.RequestResponse_LIMIT_EXCEEDED)
	return &livekit.UpdateSubscription{TrackSids: sids, Subscribe: u.GetSubscribe()}
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
	if pc := p.downPC(); pc != nil {
		if err := pc.RemoveTrack(s.sender); err != nil {
			p.log.Debug("removing subscribed track", "track", sid, "err", err)
		}
	}
	p.renegotiateDown()
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

// boundCheck asks the participant to look again for DownTracks pion has bound (participant).
// tries counts down the checks left.
type boundCheck struct{ tries int }

// boundCheckInterval and boundCheckTries bound how long reportBound keeps looking after an
// answer: pion binds a DownTrack on its own goroutine some time after the answer is applied.
const (
	boundCheckInterval = 100 * time.Millisecond
	boundCheckTries    = 50
)

// reportBound tells the room about each subscription whose DownTrack pion has bound on a
// connected subscriber PC, once, so that the publisher can hear of its first subscriber
// (track_subscribed). While some are not bound yet it looks again shortly, tries more times.
func (p *participantActor) reportBound(ctx actor.Context, tries int) {
	if p.sub == nil {
		return
	}
	waiting := false
	connected := p.sub.ConnectionState() == webrtc.PeerConnectionStateConnected
	for sid, s := range p.subscriptions {
		switch {
		case s.bound:
		case connected && s.downTrack.SSRC() != 0:
			s.bound = true
			ctx.Send(ctx.Parent(), &subscriptionBound{identity: p.info.GetIdentity(), trackSID: sid})
		default:
			waiting = true
		}
	}
	if waiting && tries > 0 {
		sendAfter(ctx, boundCheckInterval, &boundCheck{tries: tries - 1})
	}
}
