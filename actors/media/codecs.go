package media

import (
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"
)

// Extra MIME types that pion has no constant for.
const (
	mimeTypeRED = "audio/red"
	mimeTypeRTX = "video/rtx"
)

// videoFeedback is what every video codec advertises. nack and nack pli make
// subscribers ask us for retransmissions and keyframes, ccm fir is the older
// keyframe request some clients still send, goog-remb and transport-cc let
// browsers run their congestion controllers against us.
var videoFeedback = []webrtc.RTCPFeedback{
	{Type: webrtc.TypeRTCPFBGoogREMB},
	{Type: webrtc.TypeRTCPFBCCM, Parameter: "fir"},
	{Type: webrtc.TypeRTCPFBNACK},
	{Type: webrtc.TypeRTCPFBNACK, Parameter: "pli"},
	{Type: webrtc.TypeRTCPFBTransportCC},
}

// audioFeedback: only transport-cc; audio is never NACKed or PLIed.
var audioFeedback = []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}}

type codecEntry struct {
	kind   webrtc.RTPCodecType
	params webrtc.RTPCodecParameters
}

// codecTable lists what we negotiate, in preference order within a kind. The
// payload types follow what LiveKit clients are used to seeing so that SDP
// diffs against a LiveKit server stay small; the order puts the codecs every
// browser can decode first.
func codecTable() []codecEntry {
	audio := func(pt webrtc.PayloadType, mime string, rate uint32, ch uint16, fmtp string, fb []webrtc.RTCPFeedback) codecEntry {
		return codecEntry{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: rate, Channels: ch, SDPFmtpLine: fmtp, RTCPFeedback: fb},
			PayloadType:        pt,
		}}
	}
	video := func(pt webrtc.PayloadType, mime, fmtp string) codecEntry {
		return codecEntry{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000, SDPFmtpLine: fmtp, RTCPFeedback: videoFeedback},
			PayloadType:        pt,
		}}
	}
	rtx := func(pt, apt webrtc.PayloadType) codecEntry {
		return codecEntry{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mimeTypeRTX, ClockRate: 90000, SDPFmtpLine: fmt.Sprintf("apt=%d", apt)},
			PayloadType:        pt,
		}}
	}
	return []codecEntry{
		audio(111, webrtc.MimeTypeOpus, 48000, 2, "minptime=10;useinbandfec=1", audioFeedback),
		audio(63, mimeTypeRED, 48000, 2, "111/111", nil),
		audio(0, webrtc.MimeTypePCMU, 8000, 1, "", nil),
		audio(8, webrtc.MimeTypePCMA, 8000, 1, "", nil),

		video(96, webrtc.MimeTypeVP8, ""), rtx(97, 96),
		video(98, webrtc.MimeTypeVP9, "profile-id=0"), rtx(99, 98),
		video(125, webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"), rtx(107, 125),
		video(108, webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f"), rtx(109, 108),
		video(102, webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"), rtx(103, 102),
		video(127, webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f"), rtx(121, 127),
		video(35, webrtc.MimeTypeAV1, ""), rtx(36, 35),
	}
}

// CodecCapability returns the capability we register for mime (matched
// case-insensitively), e.g. to build a DownTrack for a published track. For
// H264 it is the constrained-baseline, packetization-mode=1 variant, the one
// every browser sends. RTX is not a media codec and is never returned.
func CodecCapability(mime string) (webrtc.RTPCodecCapability, bool) {
	for _, c := range codecTable() {
		if strings.EqualFold(c.params.MimeType, mime) && !strings.EqualFold(mime, mimeTypeRTX) {
			return c.params.RTPCodecCapability, true
		}
	}
	return webrtc.RTPCodecCapability{}, false
}

// role says which side of the media flow a PeerConnection is on; the two
// sides need different header extensions.
type role int

const (
	rolePublisher role = iota
	roleSubscriber
)

// newMediaEngine registers the codec table and the header extensions for one
// side. The publisher side must know mid/rid/repaired-rid, or pion cannot
// demultiplex simulcast layers and OnTrack never fires for them. The
// subscriber side offers transport-cc only with twcc, when the bandwidth
// estimator stamps it and reads the feedback (bwe.go).
func newMediaEngine(r role, twcc bool) (*webrtc.MediaEngine, error) {
	me := &webrtc.MediaEngine{}
	for _, c := range codecTable() {
		if err := me.RegisterCodec(c.params, c.kind); err != nil {
			return nil, fmt.Errorf("register codec %s/%d: %w", c.params.MimeType, c.params.PayloadType, err)
		}
	}
	type ext struct {
		uri  string
		kind webrtc.RTPCodecType
	}
	exts := []ext{
		{sdp.SDESMidURI, webrtc.RTPCodecTypeAudio},
		{sdp.AudioLevelURI, webrtc.RTPCodecTypeAudio},
		{sdp.SDESMidURI, webrtc.RTPCodecTypeVideo},
		{sdp.ABSSendTimeURI, webrtc.RTPCodecTypeVideo},
	}
	if r == rolePublisher || twcc {
		exts = append(exts,
			ext{sdp.TransportCCURI, webrtc.RTPCodecTypeVideo},
			ext{sdp.TransportCCURI, webrtc.RTPCodecTypeAudio},
		)
	}
	for _, e := range exts {
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: e.uri}, e.kind); err != nil {
			return nil, fmt.Errorf("register header extension %s: %w", e.uri, err)
		}
	}
	if r == rolePublisher {
		if err := webrtc.ConfigureSimulcastExtensionHeaders(me); err != nil {
			return nil, fmt.Errorf("register simulcast extensions: %w", err)
		}
	}
	return me, nil
}

// codecKind is the per-packet classification the forwarder needs; resolving
// the MIME string once avoids string compares on the hot path.
type codecKind uint8

const (
	codecOther codecKind = iota
	codecOpus
	codecVP8
	codecVP9
	codecH264
	codecAV1
)

// codecKindOf names the codec of a MIME type, for keyframe detection.
func codecKindOf(mime string) codecKind {
	switch strings.ToLower(mime) {
	case "audio/opus":
		return codecOpus
	case "video/vp8":
		return codecVP8
	case "video/vp9":
		return codecVP9
	case "video/h264":
		return codecH264
	case "video/av1":
		return codecAV1
	}
	return codecOther
}

// codecTypeOf returns audio or video from the MIME prefix.
func codecTypeOf(mime string) webrtc.RTPCodecType {
	if strings.HasPrefix(strings.ToLower(mime), "audio/") {
		return webrtc.RTPCodecTypeAudio
	}
	return webrtc.RTPCodecTypeVideo
}
