package lkclient

import (
	"fmt"
	"net"
	"strings"

	"github.com/pion/ice/v2"
	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"
)

// newAPI builds the pion API shared by a client's two PeerConnections:
// default codecs and interceptors, simulcast header extensions (mid, rid,
// repaired-rid) and the production ICE settings (see Options.ConfigureSettingEngine).
// pion copies the media engine and builds interceptors per PeerConnection, so sharing is safe.
func newAPI(opts Options) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, fmt.Errorf("register codecs: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, fmt.Errorf("register interceptors: %w", err)
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(me); err != nil {
		return nil, fmt.Errorf("simulcast extensions: %w", err)
	}
	// Browsers offer ssrc-audio-level on audio; a RawRTP audio track can then carry levels
	// (LocalTrack.AudioLevelExtensionID) for the server's speaker detection.
	if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("audio level extension: %w", err)
	}
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	if opts.ConfigureSettingEngine != nil {
		opts.ConfigureSettingEngine(&se)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// videoFeedback is what we ask for on published video: PLI/FIR for keyframes, NACK, congestion control.
var videoFeedback = []webrtc.RTCPFeedback{
	{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"},
	{Type: "transport-cc"},
}

// codecCapability maps a mime type to the capability we publish with.
func codecCapability(mime string) (webrtc.RTPCodecCapability, error) {
	switch {
	case strings.EqualFold(mime, webrtc.MimeTypeVP8):
		return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback}, nil
	case strings.EqualFold(mime, webrtc.MimeTypeH264):
		return webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: videoFeedback,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
		}, nil
	case strings.EqualFold(mime, webrtc.MimeTypeOpus):
		return webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine:  "minptime=10;useinbandfec=1",
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: "transport-cc"}},
		}, nil
	}
	return webrtc.RTPCodecCapability{}, fmt.Errorf("%q: %w", mime, ErrUnsupportedCodec)
}

// LoopbackICE restricts ICE to the loopback interface, for a server on
// 127.0.0.1: loopback host candidates only, UDP over IPv4, no mDNS. Pass it as
// Options.ConfigureSettingEngine; on any other network it finds no path.
func LoopbackICE(se *webrtc.SettingEngine) {
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(isLoopbackInterface)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
}

// isLoopbackInterface reports whether the named interface is a loopback one ("lo", "lo0").
func isLoopbackInterface(name string) bool {
	ifc, err := net.InterfaceByName(name)
	return err == nil && ifc.Flags&net.FlagLoopback != 0
}
