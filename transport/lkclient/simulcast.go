package lkclient

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"
	"github.com/pion/webrtc/v3/pkg/media"
)

// simulcastTrack is one simulcast layer. pion v3 does not put the mid and
// rid header extensions on outgoing packets, and without them the receiving
// side cannot map rid-only streams ("failed Simulcast probing"), so this
// wrapper stamps both on every packet, as server-sdk-go does. It embeds
// TrackLocalStaticRTP for the binding mechanics and adds its own
// packetizer for WriteSample.
type simulcastTrack struct {
	*webrtc.TrackLocalStaticRTP
	mid            func() string
	midExt, ridExt atomic.Uint32

	mu         sync.Mutex
	packetizer rtp.Packetizer
	clockRate  float64
}

func newSimulcastTrack(c webrtc.RTPCodecCapability, id, streamID, rid string) (*simulcastTrack, error) {
	inner, err := webrtc.NewTrackLocalStaticRTP(c, id, streamID, webrtc.WithRTPStreamID(rid))
	if err != nil {
		return nil, fmt.Errorf("new simulcast layer %s: %w", rid, err)
	}
	return &simulcastTrack{TrackLocalStaticRTP: inner, mid: func() string { return "" }}, nil
}

// Bind records the negotiated extension ids, then binds the inner track.
func (s *simulcastTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, e := range ctx.HeaderExtensions() {
		switch e.URI {
		case sdp.SDESMidURI:
			s.midExt.Store(uint32(e.ID))
		case sdp.SDESRTPStreamIDURI:
			s.ridExt.Store(uint32(e.ID))
		}
	}
	return s.TrackLocalStaticRTP.Bind(ctx)
}

// WriteRTP stamps mid and rid, then writes.
func (s *simulcastTrack) WriteRTP(p *rtp.Packet) error {
	out := *p
	out.Header = p.Header.Clone()
	if id := s.midExt.Load(); id != 0 {
		if mid := s.mid(); mid != "" {
			if err := out.Header.SetExtension(uint8(id), []byte(mid)); err != nil {
				return fmt.Errorf("mid extension: %w", err)
			}
		}
	}
	if id := s.ridExt.Load(); id != 0 {
		if err := out.Header.SetExtension(uint8(id), []byte(s.RID())); err != nil {
			return fmt.Errorf("rid extension: %w", err)
		}
	}
	return s.TrackLocalStaticRTP.WriteRTP(&out)
}

// WriteSample packetizes one frame and writes its packets.
func (s *simulcastTrack) WriteSample(sample media.Sample) error {
	s.mu.Lock()
	if s.packetizer == nil {
		c := s.Codec()
		var pay rtp.Payloader
		switch strings.ToLower(c.MimeType) {
		case strings.ToLower(webrtc.MimeTypeVP8):
			pay = &codecs.VP8Payloader{EnablePictureID: true}
		case strings.ToLower(webrtc.MimeTypeH264):
			pay = &codecs.H264Payloader{}
		default:
			s.mu.Unlock()
			return fmt.Errorf("simulcast %s: %w", c.MimeType, ErrUnsupportedCodec)
		}
		// SSRC and payload type are rewritten per binding by the inner track.
		s.packetizer = rtp.NewPacketizer(1200, 0, 0, pay, rtp.NewRandomSequencer(), c.ClockRate)
		s.clockRate = float64(c.ClockRate)
	}
	pkts := s.packetizer.Packetize(sample.Data, uint32(sample.Duration.Seconds()*s.clockRate))
	s.mu.Unlock()
	for _, p := range pkts {
		if err := s.WriteRTP(p); err != nil {
			return err
		}
	}
	return nil
}
