package lkclient

import (
	"log/slog"
	"net/url"
	"time"

	"github.com/pion/webrtc/v3"

	livekit "github.com/actor-sfu/livekit-server/proto/livekit"
)

// SDK identity sent in the /rtc query, like server-sdk-go.
const (
	// DefaultSDKVersion is the "version" query value (the Go SDK release we imitate).
	DefaultSDKVersion = "2.19.0"
	// ProtocolVersion is the "protocol" query value.
	ProtocolVersion = 17
)

// Default timeouts.
const (
	DefaultConnectTimeout = 15 * time.Second
	DefaultPublishTimeout = 10 * time.Second
	DefaultPacketBuffer   = 1024
	DefaultHistory        = 4096
)

// Options configure Join. The zero value is usable: auto-subscribe on,
// binary protobuf frames, token in the query, ICE on every interface.
type Options struct {
	// NoAutoSubscribe sends auto_subscribe=0 (the default is 1, as in the SDKs).
	NoAutoSubscribe bool
	// JSON sends protojson text frames instead of binary protobuf (the
	// server then answers in JSON too).
	JSON bool
	// BearerHeader sends the token as "Authorization: Bearer" (as
	// server-sdk-go does) instead of the access_token query parameter.
	BearerHeader bool
	// AdaptiveStream adds adaptive_stream=1.
	AdaptiveStream bool
	// SDK and Version set the sdk and version query values (default "go" and DefaultSDKVersion).
	SDK, Version string
	// ExtraQuery is appended to the /rtc query (for tests of odd parameters).
	ExtraQuery url.Values
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
	// ConnectTimeout bounds Join when ctx has no earlier deadline (default DefaultConnectTimeout).
	ConnectTimeout time.Duration
	// PublishTimeout bounds the wait for track_published (default DefaultPublishTimeout).
	PublishTimeout time.Duration
	// NoWaitConnected makes Join return right after the JoinResponse,
	// without waiting for the primary PeerConnection to connect.
	NoWaitConnected bool
	// Ping sends ping and ping_req every JoinResponse.ping_interval (like
	// the JS SDK) and records the RTT from pong_resp. Off by default (the Go SDK does not ping).
	Ping bool
	// AutoResume keeps the session when the signalling connection drops (or the server sends
	// leave with action RESUME): the PeerConnections stay and the client resumes with
	// reconnect=1&sid=… (Client.Resume), retrying within ConnectTimeout. Without it a lost
	// connection ends the session, as before.
	AutoResume bool
	// PacketBuffer is the capacity of each RemoteTrack's Packets channel
	// (default DefaultPacketBuffer); when it is full packets are counted as
	// dropped. Negative disables the channel (stats and OnRTP only).
	PacketBuffer int
	// History caps how many received SignalResponses and data packets are
	// kept for WaitSignal/WaitData (default DefaultHistory; oldest dropped first).
	History int
	// Handlers are optional event callbacks.
	Handlers Handlers
	// ConfigureSettingEngine, when set, adjusts pion's SettingEngine after the
	// defaults are applied. The defaults suit a real network: host candidates on
	// every interface except loopback, UDP over IPv4 and IPv6, and pion's
	// query-only mDNS (it resolves a peer's .local candidates, never publishes
	// its own). LoopbackICE confines ICE to 127.0.0.1 instead.
	ConfigureSettingEngine func(*webrtc.SettingEngine)
}

func (o Options) withDefaults() Options {
	if o.SDK == "" {
		o.SDK = "go"
	}
	if o.Version == "" {
		o.Version = DefaultSDKVersion
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = DefaultPublishTimeout
	}
	if o.PacketBuffer == 0 {
		o.PacketBuffer = DefaultPacketBuffer
	}
	if o.History <= 0 {
		o.History = DefaultHistory
	}
	return o
}

// TrackOptions describe a track to publish.
type TrackOptions struct {
	// Codec is a mime type: webrtc.MimeTypeVP8 (default for video),
	// webrtc.MimeTypeH264, webrtc.MimeTypeOpus (default for audio).
	Codec string
	// Kind is needed only when Codec is empty.
	Kind webrtc.RTPCodecType
	// Name is the track name sent in add_track.
	Name string
	// Source defaults to CAMERA for video and MICROPHONE for audio.
	Source livekit.TrackSource
	// Width and Height of the (top) video layer; default 640x360.
	Width, Height uint32
	// Simulcast publishes three video layers with rids q, h, f (quarter,
	// half and full size) on one transceiver.
	Simulcast bool
	// Muted publishes the track muted.
	Muted bool
	// RawRTP makes a TrackLocalStaticRTP: use WriteRTP instead of WriteSample.
	RawRTP bool
	// CID overrides the client track id (default: a random "cid_…" string).
	CID string
	// Stereo and DisableDTX are passed through in add_track (audio).
	Stereo, DisableDTX bool
}

// DataOptions describe one user data packet.
type DataOptions struct {
	// Reliable selects the "_reliable" channel; otherwise "_lossy".
	Reliable bool
	// Topic is the optional user packet topic.
	Topic string
	// DestinationIdentities narrows the recipients (empty: everyone).
	DestinationIdentities []string
}
