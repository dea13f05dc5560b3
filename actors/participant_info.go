package actors

// Participant info changes: Room API UpdateParticipant, the client's own metadata update, and
// permission changes that take effect at once.

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// update applies a Room API UpdateParticipant.
func (p *participantActor) update(ctx actor.Context, req *livekit.UpdateParticipantRequest) {
	if err := p.checkInfoChange(req.GetName(), req.GetAttributes()); err != nil {
		ctx.Respond(&replyError{fmt.Errorf("participant %q: %w: %w", p.info.Identity, err, ErrInvalidArgument)})
		return
	}
	p.applyInfoChange(req.GetMetadata(), req.GetName(), req.GetAttributes())
	if perm := req.GetPermission(); perm != nil {
		p.setPermission(ctx, perm)
	}
	p.changed(ctx)
	p.sendRefreshToken() // so a reconnect keeps what changed
	ctx.Respond(proto.Clone(p.info))
}

// checkInfoChange checks a new name and an attribute change against the limits: the attributes
// as they would be after the merge, not only the change, or repeated small changes would grow
// them without bound.
func (p *participantActor) checkInfoChange(name string, attrs map[string]string) error {
	l := p.node.cfg.Limits
	if len(name) > l.MaxParticipantNameSize {
		return fmt.Errorf("name is %d bytes, limit %d", len(name), l.MaxParticipantNameSize)
	}
	if size := mergedAttributesSize(p.info.GetAttributes(), attrs); size > l.MaxAttributesSize {
		return fmt.Errorf("attributes would be %d bytes, limit %d", size, l.MaxAttributesSize)
	}
	return nil
}

// mergedAttributesSize is the size of the attributes cur would have after mergeAttributes(change).
func mergedAttributesSize(cur, change map[string]string) int {
	size := attributesSize(cur)
	for k, v := range change {
		if old, found := cur[k]; found {
			size -= len(k) + len(old)
		}
		if v != "" {
			size += len(k) + len(v)
		}
	}
	return size
}

// attributesSize is the bytes of an attribute map's keys and values.
func attributesSize(attrs map[string]string) int {
	size := 0
	for k, v := range attrs {
		size += len(k) + len(v)
	}
	return size
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

// setPermission applies new permissions at once: tracks from sources no longer allowed (all of
// them without canPublish) are unpublished, and the client is told so that it stops sending; no
// subscribing means the subscriptions go.
func (p *participantActor) setPermission(ctx actor.Context, perm *livekit.ParticipantPermission) {
	p.info.Permission = proto.Clone(perm).(*livekit.ParticipantPermission)
	for sid, pub := range p.published {
		if !p.mayPublish(pub.info.GetSource()) {
			p.log.Info("track unpublished: its source is no longer allowed", "track", sid, "source", pub.info.GetSource().String())
			p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_TrackUnpublished{TrackUnpublished: &livekit.TrackUnpublishedResponse{TrackSid: sid}}})
			ctx.Stop(pub.pid)
		}
	}
	for cid, info := range p.pending {
		if !p.mayPublish(info.GetSource()) {
			delete(p.pending, cid)
		}
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
	refuse := func(msg string) {
		p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_RequestResponse{RequestResponse: &livekit.RequestResponse{
			RequestId: req.GetRequestId(), Reason: livekit.RequestResponse_LIMIT_EXCEEDED, Message: msg,
		}}})
	}
	if len(req.GetMetadata()) > p.node.cfg.Limits.MaxMetadataSize {
		refuse(fmt.Sprintf("metadata is %d bytes, limit %d", len(req.GetMetadata()), p.node.cfg.Limits.MaxMetadataSize))
		return
	}
	if err := p.checkInfoChange(req.GetName(), req.GetAttributes()); err != nil {
		refuse(err.Error())
		return
	}
	if !p.metadataLimit.take(1, time.Now()) {
		refuse(fmt.Sprintf("too many metadata updates: limit %d per second", p.node.cfg.Limits.MetadataUpdatesPerSecond))
		return
	}
	p.applyInfoChange(req.GetMetadata(), req.GetName(), req.GetAttributes())
	p.changed(ctx)
	p.sendRefreshToken()
	if p.protocol >= minProtocolRequestOK && req.GetRequestId() != 0 {
		p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_RequestResponse{RequestResponse: &livekit.RequestResponse{
			RequestId: req.GetRequestId(), Reason: livekit.RequestResponse_OK,
			Request: &livekit.RequestResponse_UpdateMetadata{UpdateMetadata: req},
		}}})
	}
}

// minProtocolRequestOK is the first client protocol that gets request_response OK for a request
// that succeeded (LiveKit: non-error responses from protocol 15).
const minProtocolRequestOK = 15

// applyInfoChange sets the participant's own metadata and name where given (empty leaves them)
// and merges its attributes, for the Room API and the client's own update alike; the caller has
// checked the change against the limits.
func (p *participantActor) applyInfoChange(metadata, name string, attrs map[string]string) {
	if metadata != "" {
		p.info.Metadata = metadata
	}
	if name != "" {
		p.info.Name = name
	}
	p.mergeAttributes(attrs)
}
