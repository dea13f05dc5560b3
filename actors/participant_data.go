package actors

// Data: the reliable and lossy data channels, packets from the client to the room and from the
// room to the client.

import (
	"github.com/asynkron/protoactor-go/actor"
	"github.com/pion/webrtc/v3"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// Data channel labels LiveKit clients recognise.
const (
	reliableLabel = "_reliable"
	lossyLabel    = "_lossy"
	// maxQueuedData bounds reliable data waiting for a subscriber channel to open.
	maxQueuedData = 256
)

func (p *participantActor) channelOpened(target livekit.SignalTarget, dc *webrtc.DataChannel) {
	label := dc.Label()
	if label != reliableLabel && label != lossyLabel {
		return
	}
	// Data to the client goes on the subscriber PC's channels; a participant without one (it may
	// not subscribe) gets it on the channels its client opened on the publisher PC.
	if target == livekit.SignalTarget_SUBSCRIBER || p.sub == nil {
		p.channels[label] = dc
	}
	if label == reliableLabel && p.channels[reliableLabel] == dc {
		for _, data := range p.queuedData {
			_ = dc.Send(data)
		}
		p.queuedData = nil
	}
}

// dataReceived validates a client's data packet, stamps its sender and hands it to the room.
func (p *participantActor) dataReceived(ctx actor.Context, label string, data []byte) {
	if !p.info.GetPermission().GetCanPublishData() {
		// Data has no request id to answer; tell the client once, then drop quietly.
		if !p.dataRefused {
			p.dataRefused = true
			p.refuse("not allowed to publish data", livekit.RequestResponse_NOT_ALLOWED)
		}
		return
	}
	if len(data) > p.node.cfg.Limits.MaxDataPacketSize {
		p.log.Debug("data dropped: too large", "bytes", len(data))
		return
	}
	pkt := &livekit.DataPacket{}
	if err := proto.Unmarshal(data, pkt); err != nil {
		p.log.Debug("data dropped: not a DataPacket", "err", err)
		return
	}
	if _, isTranscription := pkt.GetValue().(*livekit.DataPacket_Transcription); isTranscription && p.info.Kind != livekit.ParticipantInfo_AGENT {
		return
	}
	kind := livekit.DataPacket_RELIABLE
	if label == lossyLabel {
		kind = livekit.DataPacket_LOSSY
	}
	if kind == livekit.DataPacket_RELIABLE && !p.acceptSequence(pkt.GetSequence()) {
		return
	}
	pkt.Kind = kind
	identity, sid := p.info.Identity, p.info.Sid
	if p.info.GetPermission().GetHidden() {
		identity, sid = "", ""
	}
	pkt.ParticipantIdentity, pkt.ParticipantSid = identity, sid
	if u := pkt.GetUser(); u != nil {
		u.ParticipantIdentity, u.ParticipantSid = identity, sid
	}
	ctx.Send(ctx.Parent(), &dataFrom{senderIdentity: p.info.Identity, kind: kind, packet: pkt})
}

// deliverData sends an encoded DataPacket to the client on the channel of its kind.
func (p *participantActor) deliverData(kind livekit.DataPacket_Kind, data []byte) {
	label := reliableLabel
	if kind == livekit.DataPacket_LOSSY {
		label = lossyLabel
	}
	dc := p.channels[label]
	if dc == nil {
		if kind == livekit.DataPacket_RELIABLE && len(p.queuedData) < maxQueuedData {
			p.queuedData = append(p.queuedData, data)
		}
		return
	}
	if err := dc.Send(data); err != nil {
		p.log.Debug("data not delivered", "label", label, "err", err)
	}
}
