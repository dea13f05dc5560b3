package lkclient

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"

	livekit "github.com/actor-sfu/livekit-server/proto/livekit"
)

// RemoteTrack is a track received on the subscriber PC.
type RemoteTrack struct {
	// ParticipantSID and TrackSID come from the msid stream id "PA_x|TR_y"
	// (TrackSID falls back to the msid track id when the right part is not a TR… SID).
	ParticipantSID, TrackSID string
	// PublisherIdentity is the publisher's identity if it was known when the track arrived.
	PublisherIdentity string
	// StreamID and TrackID are the raw msid values.
	StreamID, TrackID string
	// RID is the rid of the stream, if any (a SFU normally sends none).
	RID   string
	Kind  webrtc.RTPCodecType
	Codec webrtc.RTPCodecParameters
	SSRC  uint32

	// Track and Receiver are pion's objects (read only through Packets or OnRTP).
	Track    *webrtc.TrackRemote
	Receiver *webrtc.RTPReceiver

	client  *Client
	packets chan *rtp.Packet
	done    chan struct{}

	npackets, nbytes, dropped atomic.Uint64
	lastSeq                   atomic.Uint32
	firstAt, lastAt           atomic.Int64 // unix nanos
}

// RemoteTrackStats counts what a RemoteTrack received.
type RemoteTrackStats struct {
	Packets uint64    // RTP packets read
	Bytes   uint64    // payload bytes
	Dropped uint64    // packets not delivered because Packets() was full
	LastSeq uint16    // sequence number of the latest packet
	First   time.Time // arrival of the first packet
	Last    time.Time // arrival of the latest packet
}

// ParseStreamID splits a LiveKit msid stream id "PA_x|TR_y" into the
// participant SID and the track SID; when the right part is not a TR… SID
// (or there is no "|"), the track SID is the msid track id.
func ParseStreamID(streamID, trackID string) (participantSID, trackSID string) {
	participantSID, right, found := strings.Cut(streamID, "|")
	if found && strings.HasPrefix(right, "TR") {
		return participantSID, right
	}
	return participantSID, trackID
}

// Packets delivers received RTP packets in arrival order; it is closed when
// the track ends. It is nil when Options.PacketBuffer is negative.
func (t *RemoteTrack) Packets() <-chan *rtp.Packet { return t.packets }

// Done is closed when the track's stream ends (unsubscribed, unpublished, or client closed).
func (t *RemoteTrack) Done() <-chan struct{} { return t.done }

// Publisher returns the publisher's current ParticipantInfo, or nil.
func (t *RemoteTrack) Publisher() *livekit.ParticipantInfo {
	return t.client.ParticipantBySID(t.ParticipantSID)
}

// Stats returns the track's counters.
func (t *RemoteTrack) Stats() RemoteTrackStats {
	s := RemoteTrackStats{
		Packets: t.npackets.Load(), Bytes: t.nbytes.Load(), Dropped: t.dropped.Load(),
		LastSeq: uint16(t.lastSeq.Load()),
	}
	if ns := t.firstAt.Load(); ns != 0 {
		s.First = time.Unix(0, ns)
	}
	if ns := t.lastAt.Load(); ns != 0 {
		s.Last = time.Unix(0, ns)
	}
	return s
}

// WaitPackets waits until at least n packets have been read in total.
func (t *RemoteTrack) WaitPackets(ctx context.Context, n uint64) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for t.npackets.Load() < n {
		select {
		case <-ctx.Done():
			return fmt.Errorf("track %s: %d of %d packets: %w", t.TrackSID, t.npackets.Load(), n, ctx.Err())
		case <-t.done:
			if t.npackets.Load() >= n {
				return nil
			}
			return fmt.Errorf("track %s ended after %d of %d packets", t.TrackSID, t.npackets.Load(), n)
		case <-tick.C:
		}
	}
	return nil
}

// RequestKeyframe sends a PLI for this track to the server.
func (t *RemoteTrack) RequestKeyframe() error {
	return t.client.sub.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: t.SSRC}})
}

// onRemoteTrack registers a new remote track and starts its readers.
func (c *Client) onRemoteTrack(track *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	psid, tsid := ParseStreamID(track.StreamID(), track.ID())
	rt := &RemoteTrack{
		ParticipantSID: psid, TrackSID: tsid, StreamID: track.StreamID(), TrackID: track.ID(),
		RID: track.RID(), Kind: track.Kind(), Codec: track.Codec(), SSRC: uint32(track.SSRC()),
		Track: track, Receiver: recv, client: c, done: make(chan struct{}),
	}
	if c.opts.PacketBuffer > 0 {
		rt.packets = make(chan *rtp.Packet, c.opts.PacketBuffer)
	}
	c.mu.Lock()
	if p := c.participants.sid(psid); p != nil {
		rt.PublisherIdentity = p.GetIdentity()
	}
	c.remoteTracks[tsid] = rt
	c.mu.Unlock()
	c.log.Debug("track subscribed", "track", tsid, "publisher", psid, "codec", rt.Codec.MimeType)
	c.emit(func(h *Handlers) {
		if h.OnTrackSubscribed != nil {
			h.OnTrackSubscribed(rt)
		}
	})
	c.notify()
	if !c.goSafe(func() { c.readRemote(rt) }) {
		close(rt.done)
		if rt.packets != nil {
			close(rt.packets)
		}
		return
	}
	c.goSafe(func() { // drain RTCP so interceptors see sender reports
		for {
			if _, _, err := recv.ReadRTCP(); err != nil {
				return
			}
		}
	})
}

// readRemote reads RTP until the stream ends.
func (c *Client) readRemote(rt *RemoteTrack) {
	defer func() {
		if rt.packets != nil {
			close(rt.packets)
		}
		close(rt.done)
		c.mu.Lock()
		if c.remoteTracks[rt.TrackSID] == rt {
			delete(c.remoteTracks, rt.TrackSID)
		}
		c.mu.Unlock()
		c.emit(func(h *Handlers) {
			if h.OnTrackUnsubscribed != nil {
				h.OnTrackUnsubscribed(rt)
			}
		})
		c.notify()
	}()
	onRTP := c.opts.Handlers.OnRTP
	for {
		pkt, _, err := rt.Track.ReadRTP()
		if err != nil {
			return
		}
		now := time.Now().UnixNano()
		if rt.npackets.Add(1) == 1 {
			rt.firstAt.Store(now)
		}
		rt.lastAt.Store(now)
		rt.nbytes.Add(uint64(len(pkt.Payload)))
		rt.lastSeq.Store(uint32(pkt.SequenceNumber))
		if onRTP != nil {
			onRTP(rt, pkt)
		}
		if rt.packets != nil {
			select {
			case rt.packets <- pkt:
			default:
				rt.dropped.Add(1)
			}
		}
	}
}

// RemoteTracks returns the tracks currently received, by track SID.
func (c *Client) RemoteTracks() map[string]*RemoteTrack {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]*RemoteTrack, len(c.remoteTracks))
	for k, v := range c.remoteTracks {
		out[k] = v
	}
	return out
}

// RemoteTrack returns the received track with that SID, or nil.
func (c *Client) RemoteTrack(trackSID string) *RemoteTrack {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remoteTracks[trackSID]
}

// StreamState returns the last stream_state_update state for a track SID
// (ACTIVE when none was received).
func (c *Client) StreamState(trackSID string) livekit.StreamState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.streamStates[trackSID]
}

// ActiveSpeakers returns the speakers currently active, by participant SID.
func (c *Client) ActiveSpeakers() map[string]*livekit.SpeakerInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]*livekit.SpeakerInfo, len(c.speakers))
	for k, v := range c.speakers {
		out[k] = v
	}
	return out
}

// UpdateSubscription sends subscription{track_sids, participant_tracks, subscribe}.
// Either list may be empty (the Go SDK fills only participant_tracks; JS both).
func (c *Client) UpdateSubscription(trackSIDs []string, participantTracks []*livekit.ParticipantTracks, subscribe bool) error {
	return c.SendRequest(&livekit.SignalRequest{Message: &livekit.SignalRequest_Subscription{
		Subscription: &livekit.UpdateSubscription{TrackSids: trackSIDs, ParticipantTracks: participantTracks, Subscribe: subscribe},
	}})
}

// UpdateTrackSettings sends track_setting (disable, quality, dimensions, fps).
func (c *Client) UpdateTrackSettings(s *livekit.UpdateTrackSettings) error {
	return c.SendRequest(&livekit.SignalRequest{Message: &livekit.SignalRequest_TrackSetting{TrackSetting: s}})
}

// UpdateMetadata sends update_metadata (needs canUpdateOwnMetadata).
func (c *Client) UpdateMetadata(m *livekit.UpdateParticipantMetadata) error {
	return c.SendRequest(&livekit.SignalRequest{Message: &livekit.SignalRequest_UpdateMetadata{UpdateMetadata: m}})
}
