package main

import (
	"io"
	"log/slog"
	"strings"
	"testing"
)

// liveKitSample is every key of LiveKit's config-sample.yaml, uncommented, with sample values.
const liveKitSample = `port: 7880
redis:
  address: redis.host:6379
  db: 0
  username: myuser
  password: mypassword
rtc:
  port_range_start: 50000
  port_range_end: 60000
  tcp_port: 7881
  use_external_ip: true
  udp_port: 7882
  packet_buffer_size: 500
  stun_servers:
    - server1
  turn_servers:
    - host: myhost.com
      port: 443
      protocol: tls
  congestion_control:
    enabled: true
    allow_pause: true
  pli_throttle:
    low_quality: 500ms
    mid_quality: 1s
    high_quality: 1s
  interfaces:
    includes: [en0]
    excludes: [docker0]
prometheus_port: 6789
keys:
  key1: secret1-that-is-long-enough-for-hs256-0000
  key2: secret2-that-is-long-enough-for-hs256-0000
logging:
  level: warning
  pion_level: error
  json: false
  sample: false
room:
  auto_create: false
  empty_timeout: 300
  max_participants: 0
  enabled_codecs:
    - mime: audio/opus
    - mime: video/vp8
  enable_remote_unmute: true
  max_metadata_size: 0
webhook:
  api_key: key1
  urls:
    - https://your-host.com/handler
audio:
  active_level: 30
  min_percentile: 40
  update_interval: 500
  smooth_intervals: 4
turn:
  enabled: false
  udp_port: 3478
  tls_port: 5349
  domain: turn.myhost.com
region: us-west-2
node_selector:
  kind: sysload
  sort_by: sysload
limit:
  num_tracks: -1
  bytes_per_sec: 1_000_000_000
`

// Every key of LiveKit's sample config either works (no warning) or gets exactly one warning
// line that says what behaves differently; the node starts either way.
func TestLiveKitSampleKeys(t *testing.T) {
	ld, err := loadConfig(nil, env(map[string]string{"LIVEKIT_CONFIG": liveKitSample}), files(nil), io.Discard)
	if err != nil {
		t.Fatalf("LiveKit's sample refused: %v", err)
	}
	unsupported := []string{"redis", "rtc.packet_buffer_size",
		"rtc.congestion_control", "rtc.pli_throttle", "logging.pion_level", "logging.sample",
		"room.enabled_codecs", "audio", "region", "node_selector", "limit.num_tracks", "limit.bytes_per_sec"}
	for _, key := range unsupported {
		n := 0
		for _, w := range ld.warnings {
			if strings.Contains(w, key+" is not supported") {
				n++
				if _, why, _ := strings.Cut(w, " is not supported"); len(why) < 10 {
					t.Errorf("%s: warning %q does not say what differs", key, w)
				}
			}
		}
		if n != 1 {
			t.Errorf("%s: %d warning lines, want 1:\n%s", key, n, strings.Join(ld.warnings, "\n"))
		}
	}
	// The sample's turn_servers entry has no credentials: kept out of ice_servers, one warning.
	all := strings.Join(ld.warnings, "\n")
	if !strings.Contains(all, "rtc.turn_servers[0] (myhost.com:443) has no username/credential") || len(ld.cfg.RTC.TURNServers) != 0 {
		t.Errorf("uncredentialed rtc.turn_servers entry: %v kept, warnings:\n%s", ld.cfg.RTC.TURNServers, all)
	}
	// udp_port and port_range_start/end together: the mux wins, as in LiveKit, and one line says so.
	if !strings.Contains(all, "rtc.port_range_start/end is ignored: ICE is muxed on rtc.udp_port 7882") {
		t.Errorf("no warning that the port range is ignored:\n%s", all)
	}
	if len(ld.warnings) != len(unsupported)+2 {
		t.Errorf("%d warnings for %d unsupported keys, turn_servers[0] and the port range:\n%s", len(ld.warnings), len(unsupported), all)
	}
	if c := ld.cfg.TURN; c.Enabled || c.UDPPort != 3478 || c.TLSPort != 5349 || c.Domain != "turn.myhost.com" {
		t.Errorf("turn: section = %+v", c)
	}
	if ld.level != slog.LevelWarn {
		t.Errorf("logging.level warning (LiveKit's spelling) gave %v", ld.level)
	}
	c := ld.cfg
	if c.Port != 7880 || c.RTC.TCPPort != 7881 || c.RTC.UDPPort.Start != 7882 || c.metricsPort() != 6789 || len(ld.keys) != 2 ||
		c.Room.AutoCreate == nil || *c.Room.AutoCreate || !c.Room.EnableRemoteUnmute || c.Webhook.APIKey != "key1" || len(c.RTC.STUNServers) != 1 {
		t.Errorf("supported keys not applied: %+v", c)
	}
}
