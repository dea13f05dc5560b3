package lkclient

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pion/webrtc/v3"

	livekit "github.com/actor-sfu/livekit-server/proto/livekit"
)

// PublishTrack publishes a track the way server-sdk-go does: add_track{cid},
// wait for track_published with the same cid (Options.PublishTimeout,
// default 10 s), add a sendonly transceiver (simulcast: one TrackLocal per
// rid q/h/f on one transceiver), negotiate the publisher PC (offer, answer)
// and wait until it is connected. A non-OK request_response for the cid
// returns *RequestError.
func (c *Client) PublishTrack(ctx context.Context, opts TrackOptions) (*LocalTrack, error) {
	kind, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	codec, err := codecCapability(opts.Codec)
	if err != nil {
		return nil, err
	}
	if opts.Simulcast && kind != webrtc.RTPCodecTypeVideo {
		return nil, errors.New("simulcast needs a video codec")
	}
	info, err := c.requestPublication(ctx, opts.addTrackRequest(kind))
	if err != nil {
		return nil, err
	}
	lt := &LocalTrack{
		opts: opts, cid: opts.CID, kind: kind, codec: codec, info: info,
		samples: map[string]sampleWriter{}, rtps: map[string]rtpWriter{},
		keyframeCh: make(chan struct{}, 1),
	}
	lt.muted.Store(opts.Muted)
	if err := c.addLocalTrack(lt); err != nil {
		return nil, err
	}
	if err := c.negotiatePublisher(ctx, false); err != nil {
		return nil, fmt.Errorf("publish %s: %w", opts.CID, err)
	}
	if err := c.WaitFor(ctx, c.pub.connected); err != nil {
		return nil, fmt.Errorf("publish %s: publisher pc not connected: %w", opts.CID, err)
	}
	return lt, nil
}

// requestPublication sends add_track and waits for track_published.
func (c *Client) requestPublication(ctx context.Context, req *livekit.AddTrackRequest) (*livekit.TrackInfo, error) {
	ch := make(chan publishResult, 1)
	c.mu.Lock()
	c.pendingPublish[req.GetCid()] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pendingPublish, req.GetCid())
		c.mu.Unlock()
	}()
	if err := c.SendRequest(&livekit.SignalRequest{Message: &livekit.SignalRequest_AddTrack{AddTrack: req}}); err != nil {
		return nil, fmt.Errorf("send add_track: %w", err)
	}
	timer := time.NewTimer(c.opts.PublishTimeout)
	defer timer.Stop()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, r.err
		}
		return r.track, nil
	case <-timer.C:
		return nil, fmt.Errorf("cid %s: %w", req.GetCid(), ErrPublishTimeout)
	case <-ctx.Done():
		return nil, fmt.Errorf("wait track_published: %w", ctx.Err())
	case <-c.done:
		return nil, ErrClosed
	}
}

// addLocalTrack creates the pion tracks and transceiver and starts RTCP readers.
func (c *Client) addLocalTrack(lt *LocalTrack) error {
	rids := []string{""}
	if lt.opts.Simulcast {
		rids = rids[:0]
		for _, l := range simulcastLayers {
			rids = append(rids, l.rid)
		}
	}
	lt.rids = rids
	streamID := c.SID()
	var tracks []webrtc.TrackLocal
	var layers []*simulcastTrack
	for _, rid := range rids {
		switch {
		case rid != "":
			tr, err := newSimulcastTrack(lt.codec, lt.cid, streamID, rid)
			if err != nil {
				return err
			}
			layers = append(layers, tr)
			tracks = append(tracks, tr)
			if lt.opts.RawRTP {
				lt.rtps[rid] = tr
			} else {
				lt.samples[rid] = tr
			}
		case lt.opts.RawRTP:
			tr, err := webrtc.NewTrackLocalStaticRTP(lt.codec, lt.cid, streamID)
			if err != nil {
				return fmt.Errorf("new rtp track: %w", err)
			}
			lt.rtps[rid] = tr
			tracks = append(tracks, tr)
		default:
			tr, err := webrtc.NewTrackLocalStaticSample(lt.codec, lt.cid, streamID)
			if err != nil {
				return fmt.Errorf("new sample track: %w", err)
			}
			lt.samples[rid] = tr
			tracks = append(tracks, tr)
		}
	}
	tr, err := c.pub.pc.AddTransceiverFromTrack(tracks[0], webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return fmt.Errorf("add transceiver: %w", err)
	}
	for _, t := range tracks[1:] {
		if err := tr.Sender().AddEncoding(t); err != nil {
			return fmt.Errorf("add simulcast encoding: %w", err)
		}
	}
	if err := tr.SetCodecPreferences([]webrtc.RTPCodecParameters{{RTPCodecCapability: lt.codec}}); err != nil {
		return fmt.Errorf("codec preferences: %w", err)
	}
	lt.sender = tr.Sender()
	for _, l := range layers {
		l.mid = tr.Mid
	}
	c.mu.Lock()
	c.localTracks[lt.cid] = lt
	c.mu.Unlock()
	for _, rid := range rids {
		c.rtcpReaders.Add(1)
		if !c.goSafe(func() { defer c.rtcpReaders.Done(); lt.readRTCP(rid) }) {
			c.rtcpReaders.Done()
		}
	}
	return nil
}

// negotiatePublisher runs one offer/answer on the publisher PC. With
// onlyIfNeeded it does nothing when the PC was negotiated before.
func (c *Client) negotiatePublisher(ctx context.Context, onlyIfNeeded bool) error {
	return c.negotiatePublisherWith(ctx, onlyIfNeeded, nil)
}

// negotiatePublisherWith is negotiatePublisher with offer options (an ICE restart on resume).
func (c *Client) negotiatePublisherWith(ctx context.Context, onlyIfNeeded bool, offerOpts *webrtc.OfferOptions) error {
	c.pubNegMu.Lock()
	defer c.pubNegMu.Unlock()
	if onlyIfNeeded && c.pubNegotiated {
		return nil
	}
	for drained := false; !drained; { // forget answers nobody waited for
		select {
		case <-c.pubAnswers:
		default:
			drained = true
		}
	}
	offer, err := c.pub.pc.CreateOffer(offerOpts)
	if err != nil {
		return fmt.Errorf("create offer: %w", err)
	}
	if err := c.pub.pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("set local offer: %w", err)
	}
	id := c.offerID.Add(1)
	err = c.SendRequest(&livekit.SignalRequest{Message: &livekit.SignalRequest_Offer{Offer: &livekit.SessionDescription{
		Type: "offer", Sdp: offer.SDP, Id: id,
	}}})
	if err != nil {
		return fmt.Errorf("send offer: %w", err)
	}
	c.pub.localDescriptionSent()
	for {
		select {
		case ans := <-c.pubAnswers:
			if ans.GetId() != 0 && ans.GetId() != id {
				c.log.Debug("stale publisher answer", "id", ans.GetId(), "want", id)
				continue
			}
			if err := c.pub.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans.GetSdp()}); err != nil {
				return err
			}
			c.pubNegotiated = true
			return nil
		case <-ctx.Done():
			return fmt.Errorf("wait publisher answer: %w", ctx.Err())
		case <-c.done:
			return ErrClosed
		}
	}
}

// Negotiate runs an offer/answer on the publisher PC now (e.g. to bring up
// the upstream data channels before any publish).
func (c *Client) Negotiate(ctx context.Context) error {
	if err := c.negotiatePublisher(ctx, false); err != nil {
		return err
	}
	return c.WaitFor(ctx, c.pub.connected)
}

// UnpublishTrack removes the track's sender and renegotiates; like the
// SDKs it sends no signal message (the server sees the m-section go inactive).
func (c *Client) UnpublishTrack(t *LocalTrack) error {
	c.mu.Lock()
	_, ok := c.localTracks[t.cid]
	delete(c.localTracks, t.cid)
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("unpublish %s: %w", t.cid, ErrNotFound)
	}
	if err := c.pub.pc.RemoveTrack(t.sender); err != nil {
		return fmt.Errorf("remove track: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.ConnectTimeout)
	defer cancel()
	return c.negotiatePublisher(ctx, false)
}

// SetTrackMuted sends mute{sid, muted} for one of our tracks and records the
// state locally (PublishFrames pauses while muted).
func (c *Client) SetTrackMuted(sid string, muted bool) error {
	if lt := c.localTrackBySID(sid); lt != nil {
		lt.muted.Store(muted)
	}
	return c.SendRequest(&livekit.SignalRequest{Message: &livekit.SignalRequest_Mute{Mute: &livekit.MuteTrackRequest{
		Sid: sid, Muted: muted,
	}}})
}

// LocalTracks returns the tracks we publish.
func (c *Client) LocalTracks() []*LocalTrack {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*LocalTrack, 0, len(c.localTracks))
	for _, t := range c.localTracks {
		out = append(out, t)
	}
	return out
}

func (c *Client) localTrackBySID(sid string) *LocalTrack {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.localTracks {
		if t.SID() == sid {
			return t
		}
	}
	return nil
}
