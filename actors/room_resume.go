package actors

// The room's half of a resume: it checks that the session is live, puts the new signalling
// connection in place of the old one and sends the client a fresh view of the room. Nobody else
// hears of it: a resume is not a leave and a join.

import (
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// resume attaches req.Sink to the live session of req.Identity, if its sid is req.SID. Within
// this one Receive, so that no broadcast of the room can come first or slip in between, the new
// connection gets ReconnectResponse, then a ParticipantUpdate with every participant it may see
// (itself included), then room_update. The participant actor then restarts ICE and answers the
// edge (resumeSession).
func (r *roomActor) resume(ctx actor.Context, req *ResumeRequest) {
	p := r.participants[req.Identity]
	if p == nil || p.info.GetSid() != req.SID {
		r.log.Info("resume refused: no such session", "participant", req.Identity, "pID", req.SID)
		ctx.Respond(&replyError{fmt.Errorf("session %s of %q: %w", req.SID, req.Identity, ErrParticipantNotFound)})
		return
	}
	reconnect := &livekit.ReconnectResponse{
		IceServers:          r.node.cfg.ICEServers,
		ClientConfiguration: &livekit.ClientConfiguration{ResumeConnection: livekit.ClientConfigSetting_ENABLED},
		ServerInfo:          r.serverInfo(),
		LastMessageSeq:      p.sink.lastDataSeq.Load(),
	}
	if err := req.Sink.Send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Reconnect{Reconnect: reconnect}}); err != nil {
		ctx.Respond(&replyError{fmt.Errorf("sending reconnect response: %w", err)})
		return
	}
	gen, old := p.sink.attach(req.Sink)
	if old != nil {
		old.Close() // the client has moved on; its old socket's close is ignored (stale generation)
	}
	if req.Client != nil {
		p.protocol = req.Client.GetProtocol()
	}
	r.sendSnapshot(p)
	r.log.Info("participant resumed", "participant", req.Identity, "pID", req.SID, "generation", gen)
	ctx.RequestWithCustomSender(p.pid, &resumeSession{gen: gen, mintToken: req.MintToken, tokenExpiry: req.TokenExpiry}, ctx.Sender())
}

// sendSnapshot sends p every participant it may see, itself included, and the room.
func (r *roomActor) sendSnapshot(p *memberEntry) {
	infos := make([]*livekit.ParticipantInfo, 0, len(r.participants))
	for _, m := range r.sortedMembers() {
		if m == p || !m.info.GetPermission().GetHidden() {
			infos = append(infos, proto.Clone(m.info).(*livekit.ParticipantInfo))
		}
	}
	_ = p.sink.Send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Update{Update: &livekit.ParticipantUpdate{Participants: infos}}})
	_ = p.sink.Send(&livekit.SignalResponse{Message: &livekit.SignalResponse_RoomUpdate{RoomUpdate: &livekit.RoomUpdate{Room: r.roomInfo()}}})
}
