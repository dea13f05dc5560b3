package actors

// Data: the reliable and lossy data channels, packets from the client to the room and from the
// room to the client, and the limits on both directions: a sender's rate (checked on pion's
// goroutine, before anything is queued) and a receiver's unsent backlog (checked before each send).

import (
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/pion/webrtc/v3"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// Data channel labels LiveKit clients recognise.
const (
	reliableLabel = "_reliable"
	lossyLabel    = "_lossy"
	// maxQueuedData bounds the reliable packets waiting for a subscriber channel to open; their
	// bytes are bounded by DataChannelMaxBufferedAmount as well.
	maxQueuedData = 256
)

// errTranscriptionRefused is the reason a non-agent's transcription packet is dropped.
var errTranscriptionRefused = errors.New("transcription from a participant that is not an agent")

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
		p.queuedData, p.queuedBytes = nil, 0
	}
}

// watchDataChannel routes a client-opened channel's messages into the mailbox, dropping those
// beyond the size limit or the sender's rate before they cost a mailbox slot. It runs on pion's
// goroutines, so it touches only the limiter, the node's counters and fields fixed at spawn.
func (p *participantActor) watchDataChannel(dc *webrtc.DataChannel) {
	label := dc.Label()
	maxSize := p.node.cfg.Limits.MaxDataPacketSize
	dc.OnMessage(func(msg webrtc.DataChannelMessage) {
		switch {
		case len(msg.Data) > maxSize:
			p.log.Debug("data dropped: too large", "bytes", len(msg.Data))
		case !p.dataLimit.allow(len(msg.Data)):
			p.node.drops.rateLimited.Add(1)
			p.rateLog.note(p.log, "data dropped: sender over its data rate limit", "label", label,
				"messagesPerSecond", p.node.cfg.Limits.DataMessagesPerSecond, "bytesPerSecond", p.node.cfg.Limits.DataBytesPerSecond)
		default:
			p.post(&dataReceived{label: label, data: msg.Data})
		}
	})
	dc.OnOpen(func() { p.post(&dataChannelOpened{target: livekit.SignalTarget_PUBLISHER, channel: dc}) })
}

// dataReceived validates a client's data packet, stamps its sender and hands it, encoded, to the
// room.
func (p *participantActor) dataReceived(ctx actor.Context, label string, data []byte) {
	if !p.info.GetPermission().GetCanPublishData() {
		// Data has no request id to answer; tell the client once, then drop quietly.
		if !p.dataRefused {
			p.dataRefused = true
			p.refuse("not allowed to publish data", livekit.RequestResponse_NOT_ALLOWED)
		}
		return
	}
	sender := dataSender{
		identity: p.info.Identity, sid: p.info.Sid,
		agent: p.info.Kind == livekit.ParticipantInfo_AGENT, hidden: p.info.GetPermission().GetHidden(),
	}
	msg, err := decodeClientData(label, data, sender)
	if err != nil {
		p.log.Debug("data dropped", "err", err)
		return
	}
	// A reliable packet the client re-sends after a resume is delivered once.
	if msg.kind == livekit.DataPacket_RELIABLE && !p.acceptSequence(msg.sequence) {
		return
	}
	ctx.Send(ctx.Parent(), msg)
}

// dataSender is who sent a data packet, as the node stamps it.
type dataSender struct {
	identity, sid string
	agent         bool // agents may send transcriptions
	hidden        bool // hidden senders are stamped with blanks
}

// decodeClientData turns one data channel message from a client into the room's dataFrom: the
// DataPacket decoded, its kind set from the channel it came on, its sender stamped (LiveKit
// stamps both the packet and its user packet) and its destinations synced, then encoded once for
// every recipient. It is a pure function, so that it can be fuzzed.
func decodeClientData(label string, data []byte, from dataSender) (*dataFrom, error) {
	pkt := &livekit.DataPacket{}
	if err := proto.Unmarshal(data, pkt); err != nil {
		return nil, fmt.Errorf("not a DataPacket: %w", err)
	}
	if _, isTranscription := pkt.GetValue().(*livekit.DataPacket_Transcription); isTranscription && !from.agent {
		return nil, errTranscriptionRefused
	}
	kind := livekit.DataPacket_RELIABLE
	if label == lossyLabel {
		kind = livekit.DataPacket_LOSSY
	}
	pkt.Kind = kind
	identity, sid := from.identity, from.sid
	if from.hidden {
		identity, sid = "", ""
	}
	pkt.ParticipantIdentity, pkt.ParticipantSid = identity, sid
	if u := pkt.GetUser(); u != nil {
		u.ParticipantIdentity, u.ParticipantSid = identity, sid
	}
	msg, err := encodeData(pkt)
	if err != nil {
		return nil, err
	}
	msg.senderIdentity = from.identity
	msg.sequence = pkt.GetSequence()
	msg.rpcAck = pkt.GetRpcAck().GetRequestId()
	msg.rpcResponse = pkt.GetRpcResponse()
	return msg, nil
}

// encodeData syncs a packet's destination identities between the DataPacket and its user packet
// (clients read either) and encodes it, for the room to deliver as it is.
func encodeData(pkt *livekit.DataPacket) (*dataFrom, error) {
	dest := pkt.GetDestinationIdentities()
	if len(dest) == 0 {
		dest = pkt.GetUser().GetDestinationIdentities()
	}
	if len(dest) > 0 {
		pkt.DestinationIdentities = dest
		if u := pkt.GetUser(); u != nil {
			u.DestinationIdentities = dest
		}
	}
	data, err := proto.Marshal(pkt)
	if err != nil {
		return nil, fmt.Errorf("encoding data packet: %w", err)
	}
	msg := &dataFrom{kind: dataChannelKind(pkt.GetKind()), data: data, dest: dest}
	if sids := pkt.GetUser().GetDestinationSids(); len(dest) > 0 || len(sids) > 0 {
		msg.to = make(map[string]bool, len(dest)+len(sids))
		for _, id := range dest {
			msg.to[id] = true
		}
		for _, sid := range sids {
			msg.to[sid] = true
		}
	}
	return msg, nil
}

// deliverData sends an encoded DataPacket to the client on the channel of its kind. pion queues
// without bound, so the channel's unsent bytes decide: at DataChannelMaxBufferedAmount nothing
// more goes in (a client that stops reading costs that much and no more), and from half of it on
// only senders that have not filled the channel lately get through, so that one participant
// flooding a slow reader cannot crowd out everyone else's messages to it.
func (p *participantActor) deliverData(m *deliverData) {
	label := reliableLabel
	if m.kind == livekit.DataPacket_LOSSY {
		label = lossyLabel
	}
	dc := p.channels[label]
	if dc == nil {
		if m.kind != livekit.DataPacket_RELIABLE {
			return
		}
		limit := p.node.cfg.Limits.DataChannelMaxBufferedAmount
		if len(p.queuedData) < maxQueuedData && (limit <= 0 || p.queuedBytes+len(m.data) <= limit) {
			p.queuedData = append(p.queuedData, m.data)
			p.queuedBytes += len(m.data)
			return
		}
		p.node.drops.queueFull.Add(1)
		p.queueLog.note(p.log, "reliable data dropped: the data channel is not open and its queue is full",
			"queued", len(p.queuedData), "bytes", p.queuedBytes)
		return
	}
	if limit := p.node.cfg.Limits.DataChannelMaxBufferedAmount; limit > 0 {
		buffered := dc.BufferedAmount()
		heavy := p.dataShare.bytes(m.sender, time.Now()) >= limit/4
		if buffered >= uint64(limit) || (buffered >= uint64(limit/2) && heavy) {
			p.node.drops.bufferFull.Add(1)
			p.bufferLog.note(p.log, "data dropped: the client does not read its data channel fast enough",
				"label", label, "buffered", buffered, "from", m.sender)
			return
		}
	}
	if err := dc.Send(m.data); err != nil {
		p.log.Debug("data not delivered", "label", label, "err", err)
		return
	}
	p.dataShare.add(m.sender, len(m.data))
}

// shareWindow is how long senderShare remembers who sent how much.
const shareWindow = time.Second

// senderShare counts the bytes each sender had delivered to one client in the current window
// (about a second): the data channel's backlog is shared, and the senders that filled it are the
// first to be refused. The participant actor owns it.
type senderShare struct {
	start time.Time
	sent  map[string]int
}

// bytes returns what sender had delivered in the current window, starting a new window when the
// last one is over.
func (s *senderShare) bytes(sender string, now time.Time) int {
	if now.Sub(s.start) >= shareWindow {
		s.start = now
		clear(s.sent)
	}
	return s.sent[sender]
}

func (s *senderShare) add(sender string, n int) {
	if s.sent == nil {
		s.sent = map[string]int{}
	}
	s.sent[sender] += n
}
