package actors

// Participant info changes: Room API UpdateParticipant, the client's own metadata update, and
// permission changes that take effect at once.

import (
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/proto/livekit"
)

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
	p.sendRefreshToken() // so a reconnect keeps what changed
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
	p.sendRefreshToken()
}
