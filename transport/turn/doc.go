// Package turn is the node's embedded TURN server (pion/turn v2, the stack
// family of pion/webrtc v3) with LiveKit's `turn:` configuration keys, the
// per-participant credentials LiveKit mints for it, the relay policy that
// keeps it from being an open relay, use_external_ip discovery over STUN,
// and the ICEServer lists handed to clients in JoinResponse and
// ReconnectResponse (embedded TURN, rtc.turn_servers, rtc.stun_servers).
// PROTOCOL.md §12 has the wire facts.
//
// # Listeners
//
//   - TURN/UDP on turn.udp_port (LiveKit's usual 3478), advertised as
//     turn:<node_ip>:<udp_port>?transport=udp for every node IP.
//   - TURN/TCP on turn.tcp_port (ours; LiveKit has none), advertised as
//     turn:<node_ip>:<tcp_port>?transport=tcp. For networks that let only
//     TCP out; put it on 443 when nothing else uses that port.
//   - TURN/TLS on turn.tls_port with cert_file/key_file for turn.domain,
//     advertised as turns:<domain>:443?transport=tcp: LiveKit always writes
//     443, expecting a load balancer there (TCP passthrough to tls_port) or
//     tls_port 443 itself; tls_url_port changes the URL's port. With
//     external_tls the load balancer terminates TLS and tls_port takes plain
//     TCP from it (no certificate here).
//
// Relay sockets are UDP ports in relay_range_start..relay_range_end
// (default 30000-40000), opened on the bind address and advertised at the
// first node IP: the firewall must let them in too.
//
// # Credentials
//
// Minter mints per session: the username carries the API key, the
// participant SID and an expiry (now + ttl_seconds, default 300), the
// password is derived from the API secret. Only a credential in date creates
// an allocation; requests on an allocation it created pass after the expiry,
// so calls outlive it. Options.SessionActive can refuse sessions that ended.
//
// # Relay policy
//
// The relay exists to carry media between clients and this node, never to
// reach anything else (PeerPolicy): peers must be one of the node's
// advertised IPs, not loopback/private/link-local/multicast/unspecified,
// and on one of the node's media ports when those are given;
// allow_restricted_peer_cidrs admits restricted or other peers (a node on a
// private network or on 127.0.0.1 needs it), deny_peer_cidrs always wins.
//
// # Connections
//
// Every TCP/TLS connection gets its own small pion server, so that its
// allocations end with it; connections are capped per listener and closed
// after two idle minutes.
package turn
