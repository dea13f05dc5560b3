package lkclient

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"
	"github.com/pion/webrtc/v3/pkg/media"

	livekit "github.com/actor-sfu/livekit-server/proto/livekit"
)

// Simulcast rids, lowest first, and the quality each maps to.
var simulcastLayers = []struct {
	rid     string
	quality livekit.VideoQuality
	divisor uint32
}{
	{"q", livekit.VideoQuality_LOW, 4},
	{"h", livekit.VideoQuality_MEDIUM, 2},
	{"f", livekit.VideoQuality_HIGH, 1},
}

// sampleWriter is TrackLocalStaticSample or a simulcastTrack.
type sampleWriter interface {
	WriteSample(media.Sample) error
}

// rtpWriter is TrackLocalStaticRTP or a simulcastTrack.
type rtpWriter interface {
	WriteRTP(*rtp.Packet) error
}

// LocalTrack is a track we publish.
type LocalTrack struct {
	opts  TrackOptions
	cid   string
	kind  webrtc.RTPCodecType
	codec webrtc.RTPCodecCapability

	mu   sync.Mutex
	info *livekit.TrackInfo

	rids    []string                // "" for a single-layer track
	samples map[string]sampleWriter // by rid (sample mode)
	rtps    map[string]rtpWriter    // by rid (RawRTP mode)
	sender  *webrtc.RTPSender

	muted      atomic.Bool
	keyframeCh chan struct{}
	plis, firs atomic.Uint64
	nacks      atomic.Uint64
	written    atomic.Uint64
}

// LocalTrackStats counts what happened on a LocalTrack.
type LocalTrackStats struct {
	PLIs, FIRs uint64 // keyframe requests received
	NACKs      uint64 // lost packets reported by NACKs
	Written    uint64 // samples or RTP packets written
}

// SID is the server's track SID (TR_…).
func (t *LocalTrack) SID() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.info.GetSid()
}

// CID is the client track id sent in add_track (also the msid track id).
func (t *LocalTrack) CID() string { return t.cid }

// Info returns the TrackInfo from track_published (read-only).
func (t *LocalTrack) Info() *livekit.TrackInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.info
}

// Kind is audio or video.
func (t *LocalTrack) Kind() webrtc.RTPCodecType { return t.kind }

// Codec is the codec capability published.
func (t *LocalTrack) Codec() webrtc.RTPCodecCapability { return t.codec }

// Options are the options the track was published with (defaults filled in).
func (t *LocalTrack) Options() TrackOptions { return t.opts }

// RIDs lists the simulcast layers ("q", "h", "f"), or [""] for a single layer.
func (t *LocalTrack) RIDs() []string { return append([]string(nil), t.rids...) }

// LayerScale is how many times smaller than the top layer each dimension of
// simulcast layer rid is: 4 for "q", 2 for "h", 1 for "f" and for a single layer.
func (t *LocalTrack) LayerScale(rid string) uint32 {
	for _, l := range simulcastLayers {
		if l.rid == rid {
			return l.divisor
		}
	}
	return 1
}

// Sender is the pion RTPSender carrying the track.
func (t *LocalTrack) Sender() *webrtc.RTPSender { return t.sender }

// AudioLevelExtensionID is the negotiated RTP header extension id of ssrc-audio-level (RFC 6464)
// on this track's sender, or 0 when it was not negotiated. RawRTP audio tracks set it on packets
// with Header.SetExtension(id, []byte{level}) where level is -dBov (0 loudest, 127 silence).
func (t *LocalTrack) AudioLevelExtensionID() uint8 {
	if t.sender == nil {
		return 0
	}
	for _, e := range t.sender.GetParameters().HeaderExtensions {
		if e.URI == sdp.AudioLevelURI {
			return uint8(e.ID)
		}
	}
	return 0
}

// Muted reports the local mute state (SetTrackMuted or a server mute).
func (t *LocalTrack) Muted() bool { return t.muted.Load() }

// KeyframeRequests receives a value (coalesced) whenever a PLI or FIR arrives.
func (t *LocalTrack) KeyframeRequests() <-chan struct{} { return t.keyframeCh }

// Stats returns the track's counters.
func (t *LocalTrack) Stats() LocalTrackStats {
	return LocalTrackStats{PLIs: t.plis.Load(), FIRs: t.firs.Load(), NACKs: t.nacks.Load(), Written: t.written.Load()}
}

// WriteSample packetizes and sends one frame on a single-layer track (on the
// top layer "f" of a simulcast track). Writes before the publisher PC is
// connected are dropped silently by pion; after UnpublishTrack they fail
// with an error wrapping io.ErrClosedPipe.
func (t *LocalTrack) WriteSample(s media.Sample) error {
	return t.WriteLayerSample(t.rids[len(t.rids)-1], s)
}

// WriteLayerSample sends one frame on the simulcast layer rid.
func (t *LocalTrack) WriteLayerSample(rid string, s media.Sample) error {
	tr := t.samples[rid]
	if tr == nil {
		if t.rtps[rid] != nil {
			return ErrWrongTrackMode
		}
		return fmt.Errorf("layer %q: %w", rid, ErrNotFound)
	}
	if err := tr.WriteSample(s); err != nil {
		return fmt.Errorf("write sample: %w", err)
	}
	t.written.Add(1)
	return nil
}

// WriteRTP sends one RTP packet on a RawRTP track (top layer). pion
// rewrites SSRC and payload type to the negotiated values.
func (t *LocalTrack) WriteRTP(p *rtp.Packet) error {
	return t.WriteLayerRTP(t.rids[len(t.rids)-1], p)
}

// WriteLayerRTP sends one RTP packet on the RawRTP simulcast layer rid.
func (t *LocalTrack) WriteLayerRTP(rid string, p *rtp.Packet) error {
	tr := t.rtps[rid]
	if tr == nil {
		if t.samples[rid] != nil {
			return ErrWrongTrackMode
		}
		return fmt.Errorf("layer %q: %w", rid, ErrNotFound)
	}
	if err := tr.WriteRTP(p); err != nil {
		return fmt.Errorf("write rtp: %w", err)
	}
	t.written.Add(1)
	return nil
}

// readRTCP counts keyframe requests and NACKs for one layer until the sender stops.
func (t *LocalTrack) readRTCP(rid string) {
	for {
		var pkts []rtcp.Packet
		var err error
		if rid == "" {
			pkts, _, err = t.sender.ReadRTCP()
		} else {
			pkts, _, err = t.sender.ReadSimulcastRTCP(rid)
		}
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.PictureLossIndication:
				t.plis.Add(1)
				t.requestKeyframe()
			case *rtcp.FullIntraRequest:
				t.firs.Add(1)
				t.requestKeyframe()
			case *rtcp.TransportLayerNack:
				for _, pair := range p.Nacks {
					t.nacks.Add(uint64(len(pair.PacketList())))
				}
			}
		}
	}
}

// stopRTCP makes the RTCP readers' blocked reads return with a deadline error.
func (t *LocalTrack) stopRTCP(deadline time.Time) {
	if t.sender == nil {
		return
	}
	for _, rid := range t.rids {
		if rid == "" {
			_ = t.sender.SetReadDeadline(deadline)
		} else {
			_ = t.sender.SetReadDeadlineSimulcast(deadline, rid)
		}
	}
}

func (t *LocalTrack) requestKeyframe() {
	select {
	case t.keyframeCh <- struct{}{}:
	default:
	}
}

func (t *LocalTrack) setInfo(info *livekit.TrackInfo) {
	t.mu.Lock()
	t.info = info
	t.mu.Unlock()
}

// normalize fills TrackOptions defaults and returns the kind.
func (o *TrackOptions) normalize() (webrtc.RTPCodecType, error) {
	if o.Codec == "" {
		switch o.Kind {
		case webrtc.RTPCodecTypeAudio:
			o.Codec = webrtc.MimeTypeOpus
		case webrtc.RTPCodecTypeVideo:
			o.Codec = webrtc.MimeTypeVP8
		default:
			return 0, errors.New("track options: Codec or Kind required")
		}
	}
	kind := webrtc.RTPCodecTypeVideo
	if strings.HasPrefix(strings.ToLower(o.Codec), "audio/") {
		kind = webrtc.RTPCodecTypeAudio
	}
	o.Kind = kind
	if o.Source == livekit.TrackSource_UNKNOWN {
		o.Source = livekit.TrackSource_CAMERA
		if kind == webrtc.RTPCodecTypeAudio {
			o.Source = livekit.TrackSource_MICROPHONE
		}
	}
	if kind == webrtc.RTPCodecTypeVideo && (o.Width == 0 || o.Height == 0) {
		o.Width, o.Height = 640, 360
	}
	if kind == webrtc.RTPCodecTypeAudio {
		o.Simulcast = false
		o.Width, o.Height = 0, 0
	}
	if o.CID == "" {
		o.CID = randomID("cid_")
	}
	return kind, nil
}

// addTrackRequest builds the add_track for these options.
func (o *TrackOptions) addTrackRequest(kind webrtc.RTPCodecType) *livekit.AddTrackRequest {
	req := &livekit.AddTrackRequest{
		Cid: o.CID, Name: o.Name, Muted: o.Muted, Source: o.Source,
		Width: o.Width, Height: o.Height, Stereo: o.Stereo, DisableDtx: o.DisableDTX,
		Type: livekit.TrackType_AUDIO,
	}
	if kind == webrtc.RTPCodecTypeVideo {
		req.Type = livekit.TrackType_VIDEO
		if o.Simulcast {
			for _, l := range simulcastLayers {
				req.Layers = append(req.Layers, &livekit.VideoLayer{
					Quality: l.quality, Width: o.Width / l.divisor, Height: o.Height / l.divisor,
				})
			}
		} else {
			req.Layers = []*livekit.VideoLayer{{Quality: livekit.VideoQuality_HIGH, Width: o.Width, Height: o.Height}}
		}
		req.SimulcastCodecs = []*livekit.SimulcastCodec{{Codec: o.Codec, Cid: o.CID, Layers: req.Layers}}
	}
	return req
}
