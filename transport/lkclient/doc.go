// Package lkclient is the client half of the LiveKit wire protocol, built on
// pion/webrtc v3: the livekit-cli binary, the integration tests and the load
// generator all join rooms through it.
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
// A session survives its WebSocket: Resume reconnects with reconnect=1&sid and
// the latest refresh token, keeps both PeerConnections and restarts ICE, and
// Options.AutoResume does so whenever the socket drops or the server sends
// leave{RESUME}. CutSignal simulates a network failure of the socket.
//
// File media (a VP8 frame assembler, IVF and Ogg readers) lives in the
// lkmedia sub-package; PublishFrames paces such frames onto a LocalTrack in
// real time.
//
// ICE uses every non-loopback interface by default; Options.ConfigureSettingEngine
// with LoopbackICE confines it to 127.0.0.1 for a local server.
package lkclient
