package actors

// The room's half of a resume: it checks that the session is live, puts the new signalling
// connection in place of the old one and sends the client a fresh view of the room. Nobody else
// hears of it: a resume is not a leave and a join.

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// resume attaches req.Sink to the live session of req.Identity, if its sid is req.SID. Within
// this one Receive, so that no broadcast of the room can come first or slip in between, the new
// connection gets ReconnectResponse, then the recent departures (DISCONNECTED), then a
// ParticipantUpdate with every participant it may see (itself included), then room_update. The participant actor then restarts ICE and answers the
// edge (resumeSession).
func (r *roomActor) resume(ctx actor.Context, req *ResumeRequest) {
	p := r.participants[req.Identity]
	if p == nil || p.info.GetSid() != req.SID {
		r.log.Info("resume refused: no such session", "participant", req.Identity, "pID", req.SID)
		ctx.Respond(&replyError{fmt.Errorf("session %s of %q: %w", req.SID, req.Identity, ErrParticipantNotFound)})
		return
	}
	reconnect := &livekit.ReconnectResponse{
		IceServers:          r.node.iceServers(p.info.GetSid()), // fresh TURN credentials at every resume
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

// maxDepartures bounds the departures a room remembers for resumed clients.
const maxDepartures = 64

// departure is a participant that left, as the others were told (state DISCONNECTED).
type departure struct {
	info *livekit.ParticipantInfo
	at   time.Time
}

// recordDeparture remembers a departure for as long as a session may wait for its resume, so
// that a client resuming later learns of it.
func (r *roomActor) recordDeparture(gone *livekit.ParticipantInfo) {
	keep := r.node.cfg.Session.MaxSignalLoss + r.node.cfg.Session.DisconnectGrace
	now := time.Now()
	drop := 0
	for drop < len(r.departed) && (now.Sub(r.departed[drop].at) > keep || len(r.departed)-drop >= maxDepartures) {
		drop++
	}
	r.departed = append(r.departed[drop:], departure{info: gone, at: now})
}

// sendSnapshot sends p the recent departures it may have missed (state DISCONNECTED), then every
// participant it may see, itself included, then the room.
func (r *roomActor) sendSnapshot(p *memberEntry) {
	var gone []*livekit.ParticipantInfo
	for _, d := range r.departed {
		if d.info.GetIdentity() != p.info.GetIdentity() && !d.info.GetPermission().GetHidden() {
			gone = append(gone, d.info)
		}
	}
	if len(gone) > 0 {
		_ = p.sink.Send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Update{Update: &livekit.ParticipantUpdate{Participants: gone}}})
	}
	infos := make([]*livekit.ParticipantInfo, 0, len(r.participants))
	for _, m := range r.sortedMembers() {
		if m == p || !m.info.GetPermission().GetHidden() {
			infos = append(infos, proto.Clone(m.info).(*livekit.ParticipantInfo))
		}
	}
	_ = p.sink.Send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Update{Update: &livekit.ParticipantUpdate{Participants: infos}}})
	_ = p.sink.Send(&livekit.SignalResponse{Message: &livekit.SignalResponse_RoomUpdate{RoomUpdate: &livekit.RoomUpdate{Room: r.roomInfo()}}})
}
