// Package lkclient is a LiveKit-protocol client built on pion/webrtc v3, used
// by the integration tests, the benchmarks and the livekit-cli binary.
//
// It speaks v0 /rtc the way server-sdk-go does: one WebSocket carrying
// protobuf (or, optionally, protojson) SignalRequest/SignalResponse frames, a
// subscriber PeerConnection that the server offers on (its data channels
// arrive through OnDataChannel) and a publisher PeerConnection that the client
// offers on (with client-created "_reliable" and "_lossy" channels).
//
// Join returns once the JoinResponse arrived and the primary PeerConnection
// is connected. State learnt from the server (participants, tracks, data,
// speakers, leave) is kept current and can be read at any time or awaited
// with WaitFor and the typed Wait helpers; the same events are also
// delivered to optional Handlers, in order, on one event goroutine.
//
// Media helpers (synthetic VP8/Opus generators, a VP8 frame assembler, IVF
// and Ogg loaders) live in the lkmedia sub-package; PublishSynthetic and
// PublishFrames pace them onto a LocalTrack in real time.
//
// All ICE is loopback-only by default (UDP4 on "lo", mDNS off), following
// the project's test rules.
package lkclient
