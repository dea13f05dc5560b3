package lkclient

import (
	"context"
	"fmt"

	"github.com/pion/webrtc/v3"
	"google.golang.org/protobuf/proto"

	livekit "github.com/actor-sfu/livekit-server/proto/livekit"
)

// ReceivedData is one data packet received on a data channel.
type ReceivedData struct {
	// Packet is the decoded DataPacket.
	Packet *livekit.DataPacket
	// Label is the channel it came on ("_reliable" or "_lossy").
	Label string
	// Subscriber is true for the subscriber PC's (server-created) channels.
	Subscriber bool
	// Identity and SID of the sender, as stamped by the server (empty for
	// server-originated data). Identity falls back to user.participant_identity.
	Identity, SID string
	// Payload and Topic of the user packet, if it is one.
	Payload []byte
	Topic   string
}

// Reliable reports whether it came on the reliable channel.
func (d *ReceivedData) Reliable() bool { return d.Label == ReliableLabel }

// NewUserPacket builds DataPacket{kind, destination_identities, user{payload,
// topic, destination_identities}} as the SDKs send it.
func NewUserPacket(payload []byte, opts DataOptions) *livekit.DataPacket {
	kind := livekit.DataPacket_LOSSY
	if opts.Reliable {
		kind = livekit.DataPacket_RELIABLE
	}
	user := &livekit.UserPacket{Payload: payload, DestinationIdentities: opts.DestinationIdentities}
	if opts.Topic != "" {
		user.Topic = proto.String(opts.Topic)
	}
	return &livekit.DataPacket{
		Kind: kind, DestinationIdentities: opts.DestinationIdentities,
		Value: &livekit.DataPacket_User{User: user},
	}
}

// DecodeDataPacket parses one data channel message into ReceivedData.
func DecodeDataPacket(b []byte) (*ReceivedData, error) {
	pkt := &livekit.DataPacket{}
	if err := proto.Unmarshal(b, pkt); err != nil {
		return nil, fmt.Errorf("decode data packet: %w", err)
	}
	d := &ReceivedData{Packet: pkt, Identity: pkt.GetParticipantIdentity(), SID: pkt.GetParticipantSid()}
	if u := pkt.GetUser(); u != nil {
		d.Payload, d.Topic = u.GetPayload(), u.GetTopic()
		if d.Identity == "" {
			d.Identity = u.GetParticipantIdentity()
		}
		if d.SID == "" {
			d.SID = u.GetParticipantSid()
		}
	}
	return d, nil
}

// PublishData sends a user packet on the publisher PC's channel of the
// chosen kind, negotiating the publisher PC first if needed and waiting for
// the channel to open.
func (c *Client) PublishData(ctx context.Context, payload []byte, opts DataOptions) error {
	return c.PublishDataPacket(ctx, NewUserPacket(payload, opts))
}

// PublishDataPacket sends any DataPacket (e.g. with a forged sender, to test
// the server's stamping) on the channel matching its kind. Reliable packets
// without a sequence get the next one (starting at 1), as JS does.
func (c *Client) PublishDataPacket(ctx context.Context, pkt *livekit.DataPacket) error {
	dc := c.pubLossy
	if pkt.GetKind() == livekit.DataPacket_RELIABLE {
		dc = c.pubReliable
		if pkt.GetSequence() == 0 {
			pkt = proto.CloneOf(pkt)
			pkt.Sequence = c.dataSeq.Add(1)
		}
	}
	b, err := proto.Marshal(pkt)
	if err != nil {
		return fmt.Errorf("encode data packet: %w", err)
	}
	return c.SendDataRaw(ctx, dc.Label(), b)
}

// SendDataRaw sends raw bytes on the publisher PC's channel with that label
// (for tests of malformed data).
func (c *Client) SendDataRaw(ctx context.Context, label string, b []byte) error {
	var dc *webrtc.DataChannel
	switch label {
	case ReliableLabel:
		dc = c.pubReliable
	case LossyLabel:
		dc = c.pubLossy
	default:
		return fmt.Errorf("channel %q: %w", label, ErrNotFound)
	}
	if err := c.negotiatePublisher(ctx, true); err != nil {
		return fmt.Errorf("publish data: %w", err)
	}
	open := func() bool { return dc.ReadyState() == webrtc.DataChannelStateOpen }
	if err := c.WaitFor(ctx, open); err != nil {
		return fmt.Errorf("publish data: channel %s not open: %w", label, err)
	}
	if err := dc.Send(b); err != nil {
		return fmt.Errorf("publish data on %s: %w", label, err)
	}
	return nil
}

// wireDataChannel records messages from a channel and wakes waiters on open.
func (c *Client) wireDataChannel(dc *webrtc.DataChannel) {
	subscriber := dc != c.pubReliable && dc != c.pubLossy
	label := dc.Label()
	dc.OnOpen(c.notify)
	dc.OnMessage(func(msg webrtc.DataChannelMessage) {
		d, err := DecodeDataPacket(msg.Data)
		if err != nil {
			c.log.Warn("bad data packet", "label", label, "err", err)
			return
		}
		d.Label, d.Subscriber = label, subscriber
		c.mu.Lock()
		c.data = appendBounded(c.data, d, c.opts.History)
		c.mu.Unlock()
		c.emit(func(h *Handlers) {
			if h.OnData != nil {
				h.OnData(d)
			}
		})
		c.notify()
	})
}

// Data returns the data packets received so far (bounded by Options.History).
func (c *Client) Data() []*ReceivedData {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*ReceivedData(nil), c.data...)
}

// DataChannel returns the data channel with that label on the subscriber PC
// (subscriber=true, server-created) or the publisher PC, or nil.
func (c *Client) DataChannel(label string, subscriber bool) *webrtc.DataChannel {
	if !subscriber {
		switch label {
		case ReliableLabel:
			return c.pubReliable
		case LossyLabel:
			return c.pubLossy
		}
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.subChannels[label]
}
