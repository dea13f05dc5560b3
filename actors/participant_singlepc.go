package actors

// Single-PeerConnection mode (/rtc/v1): one PC, on which the client always offers, carries the
// participant's published tracks and its subscriptions; the publisher and subscriber roles are
// per transceiver. The node never offers here: when it needs the PC renegotiated (a subscription
// came or went) it sends media_sections_requirement with how many more receive sections it needs
// (0/0 meaning "offer again"), and each answer maps the sections that carry subscriptions to
// their track SIDs (mid_to_track_id).

import (
	"github.com/asynkron/protoactor-go/actor"
	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// startSinglePC creates the participant's one PC at once, so that subscriptions handed over
// before the client's first offer already have transceivers: pion attaches them to the offer's
// recvonly sections of the same kind.
func (p *participantActor) startSinglePC(ctx actor.Context) {
	if err := p.startPublisher(ctx); err != nil {
		p.log.Error("cannot create the single PeerConnection", "err", err)
		p.sink.sendLeave(livekit.DisconnectReason_JOIN_FAILURE)
		ctx.Stop(ctx.Self())
	}
}

// downPC is the PC that carries the participant's subscriptions.
func (p *participantActor) downPC() *webrtc.PeerConnection {
	if p.singlePC {
		return p.pub
	}
	return p.sub
}

// renegotiateDown makes a subscription change reach the client: a subscriber offer in two-PC
// mode, a request for an offer in single-PC mode.
func (p *participantActor) renegotiateDown() {
	if p.singlePC {
		p.requestOffer()
		return
	}
	p.negotiateSubscriber()
}

// requestOffer asks the client for an offer, or remembers to once the one asked for has been
// answered. Before the first offer there is nothing to ask: its answer covers every change.
func (p *participantActor) requestOffer() {
	if p.pub == nil || p.pub.RemoteDescription() == nil || p.stopped.Load() {
		return
	}
	if p.sectionsAsked {
		p.sectionsPending = true
		return
	}
	p.sendSectionsRequirement()
}

// sendSectionsRequirement sends media_sections_requirement with the subscriptions that still
// have no section of their own, per kind.
func (p *participantActor) sendSectionsRequirement() {
	audios, videos := p.missingSections()
	p.sectionsAsked, p.sectionsPending = true, false
	p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_MediaSectionsRequirement{
		MediaSectionsRequirement: &livekit.MediaSectionsRequirement{NumAudios: audios, NumVideos: videos},
	}})
}

// missingSections counts the transceivers carrying a subscription that no offer has given a
// section (no mid yet), per kind.
func (p *participantActor) missingSections() (audios, videos uint32) {
	for _, t := range p.pub.GetTransceivers() {
		if t.Mid() != "" || t.Sender() == nil || t.Sender().Track() == nil {
			continue
		}
		if t.Kind() == webrtc.RTPCodecTypeAudio {
			audios++
		} else {
			videos++
		}
	}
	return audios, videos
}

// offerAnswered follows each answer in single-PC mode: the client has offered, so whatever was
// asked is covered, except subscriptions still without a section and changes made since the
// request, for which it asks again.
func (p *participantActor) offerAnswered() {
	p.sectionsAsked = false
	audios, videos := p.missingSections()
	if audios > 0 || videos > 0 || p.sectionsPending {
		p.sendSectionsRequirement()
	}
}

// midToTrackID maps the negotiated sections that carry subscriptions to their track SIDs: the
// client created those receivers, so their track ids are its own.
func (p *participantActor) midToTrackID() map[string]string {
	if !p.singlePC || len(p.subscriptions) == 0 {
		return nil
	}
	bySender := make(map[*webrtc.RTPSender]string, len(p.subscriptions))
	for sid, s := range p.subscriptions {
		bySender[s.sender] = sid
	}
	out := map[string]string{}
	for _, t := range p.pub.GetTransceivers() {
		if sid, ok := bySender[t.Sender()]; ok && t.Mid() != "" {
			out[t.Mid()] = sid
		}
	}
	return out
}

// maxOfferSections bounds the media sections a client's offer may have: its own tracks and data,
// plus, in single-PC mode, the receive sections it pre-creates and those the node asked for.
func (p *participantActor) maxOfferSections() int {
	n := 2*p.node.cfg.Limits.MaxTracksPerParticipant + 2
	if p.singlePC && p.pub != nil {
		n += len(p.pub.GetTransceivers()) + 8
	}
	return n
}
