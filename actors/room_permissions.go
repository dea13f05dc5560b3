package actors

// Subscription permissions: which subscribers a publisher lets receive its tracks
// (SignalRequest subscription_permission), checked whenever the room hands a track to a
// subscriber and again whenever the publisher changes them, and the events that go with
// subscribing: subscription_permission_update, subscription_response and track_subscribed.

import (
	"errors"
	"fmt"
	"slices"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// errPermissionEntry rejects a subscription_permission entry that names no subscriber.
var errPermissionEntry = errors.New("track permission names neither a participant identity nor a sid")

// setSubscriptionPermission is a publisher's subscription_permission request (participant → room).
type setSubscriptionPermission struct {
	identity string
	perm     *livekit.SubscriptionPermission
}

// subscriptionBound says a subscriber's DownTrack is bound on a connected subscriber PC, so the
// track's media flows to it (participant → room).
type subscriptionBound struct {
	identity string
	trackSID string
}

// allows reports whether the publisher's subscription permission lets subscriber receive the
// track. Before any subscription_permission everyone may; recorders always may.
func (m *memberEntry) allows(subscriber *livekit.ParticipantInfo, trackSID string) bool {
	perm := m.subPerm
	if perm == nil || perm.GetAllParticipants() || subscriber.GetPermission().GetRecorder() {
		return true
	}
	for _, tp := range perm.GetTrackPermissions() {
		if tp.GetParticipantIdentity() == subscriber.GetIdentity() {
			return tp.GetAllTracks() || slices.Contains(tp.GetTrackSids(), trackSID)
		}
	}
	return false
}

// offerTrack hands a published track to a subscriber that wants it, if the publisher allows it.
// The room remembers the want either way, so that a later permission change can subscribe or
// unsubscribe it; the subscriber hears the decision when the publisher has set permissions.
func (r *roomActor) offerTrack(ctx actor.Context, t *trackEntry, p *memberEntry) {
	identity := p.info.GetIdentity()
	allowed := t.owner.allows(p.info, t.pub.info.GetSid())
	prev, seen := t.wanted[identity]
	if t.wanted == nil {
		t.wanted = map[string]bool{}
	}
	t.wanted[identity] = allowed
	if t.owner.subPerm != nil && (!seen || prev != allowed) {
		r.sendPermissionUpdate(t, p, allowed)
	}
	if allowed {
		msg := t.pub
		ctx.Send(p.pid, &msg)
	}
}

// sendPermissionUpdate tells a subscriber whether it may receive a track.
func (r *roomActor) sendPermissionUpdate(t *trackEntry, p *memberEntry, allowed bool) {
	err := p.sink.Send(&livekit.SignalResponse{Message: &livekit.SignalResponse_SubscriptionPermissionUpdate{
		SubscriptionPermissionUpdate: &livekit.SubscriptionPermissionUpdate{
			ParticipantSid: t.pub.publisherSID, TrackSid: t.pub.info.GetSid(), Allowed: allowed,
		},
	}})
	if err != nil {
		r.log.Debug("subscription permission update not delivered", "participant", p.info.GetIdentity(), "err", err)
	}
}

// subscriptionPermission replaces a publisher's subscription permission and applies it at once:
// subscriptions that lost permission are removed, wanted ones that gained it are made.
func (r *roomActor) subscriptionPermission(ctx actor.Context, m *setSubscriptionPermission) {
	owner := r.participants[m.identity]
	if owner == nil {
		return
	}
	perm, err := r.resolvePermission(m.perm)
	if err != nil {
		r.log.Info("subscription permission rejected", "participant", m.identity, "err", err)
		return
	}
	owner.subPerm = perm
	for _, t := range r.sortedTracks() {
		if t.owner != owner {
			continue
		}
		for identity, was := range t.wanted {
			p := r.participants[identity]
			if p == nil {
				delete(t.wanted, identity)
				continue
			}
			allowed := owner.allows(p.info, t.pub.info.GetSid())
			if allowed == was {
				continue
			}
			t.wanted[identity] = allowed
			r.sendPermissionUpdate(t, p, allowed)
			if allowed {
				msg := t.pub
				ctx.Send(p.pid, &msg)
			} else {
				r.log.Info("subscription revoked by the publisher", "track", t.pub.info.GetSid(), "participant", identity)
				ctx.Send(p.pid, &unsubscribeTrack{trackSID: t.pub.info.GetSid()})
			}
		}
	}
}

// resolvePermission copies a subscription permission with every entry named by identity, as
// LiveKit does: a sid is resolved to the identity it belongs to now (an unknown one is skipped),
// and an entry with neither rejects the whole message.
func (r *roomActor) resolvePermission(in *livekit.SubscriptionPermission) (*livekit.SubscriptionPermission, error) {
	out := &livekit.SubscriptionPermission{AllParticipants: in.GetAllParticipants()}
	for _, tp := range in.GetTrackPermissions() {
		tp = proto.Clone(tp).(*livekit.TrackPermission)
		if tp.GetParticipantIdentity() == "" {
			if tp.GetParticipantSid() == "" {
				return nil, errPermissionEntry
			}
			p := r.memberBySID(tp.GetParticipantSid())
			if p == nil {
				continue
			}
			tp.ParticipantIdentity = p.info.GetIdentity()
		}
		out.TrackPermissions = append(out.TrackPermissions, tp)
	}
	return out, nil
}

// maxNotFoundResponses caps the subscription_responses one subscription request gets.
const maxNotFoundResponses = 16

// unknownTrack tells a subscriber that a track it asked for does not exist
// (subscription_response TRACK_NOTFOUND), unless a participant lists it and its media is yet to
// arrive. It reports whether it answered.
func (r *roomActor) unknownTrack(p *memberEntry, sid string) bool {
	for _, m := range r.participants {
		for _, ti := range m.info.GetTracks() {
			if ti.GetSid() == sid {
				return false
			}
		}
	}
	err := p.sink.Send(&livekit.SignalResponse{Message: &livekit.SignalResponse_SubscriptionResponse{
		SubscriptionResponse: &livekit.SubscriptionResponse{TrackSid: sid, Err: livekit.SubscriptionError_SE_TRACK_NOTFOUND},
	}})
	if err != nil {
		r.log.Debug("subscription response not delivered", "participant", p.info.GetIdentity(), "err", err)
	}
	return true
}

// trackSubscribed tells a publisher, once per track, that its first subscriber receives it
// (track_subscribed). Hidden subscribers do not count.
func (r *roomActor) trackSubscribed(m *subscriptionBound) {
	t := r.tracks[m.trackSID]
	p := r.participants[m.identity]
	if t == nil || p == nil || t.subscribedSent || p.info.GetPermission().GetHidden() || !t.wanted[m.identity] {
		return
	}
	t.subscribedSent = true
	err := t.owner.sink.Send(&livekit.SignalResponse{Message: &livekit.SignalResponse_TrackSubscribed{
		TrackSubscribed: &livekit.TrackSubscribed{TrackSid: m.trackSID},
	}})
	if err != nil {
		r.log.Debug("track subscribed not delivered", "participant", t.owner.info.GetIdentity(), "err", fmt.Errorf("track %s: %w", m.trackSID, err))
	}
}
