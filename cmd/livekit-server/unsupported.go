package main

import (
	"fmt"
	"strings"
)

// unsupportedKeys says, for the LiveKit config keys this node does not act on, what behaves
// differently. Keys are dotted paths; an entry ending in "." covers every key under it. A key
// missing here is reported with the generic text.
var unsupportedKeys = map[string]string{
	"redis.":                       "no cluster: this node runs alone and shares no rooms with other nodes",
	"rtc.packet_buffer_size":       "the packet cache size is built in",
	"rtc.packet_buffer_size_video": "the packet cache size is built in",
	"rtc.packet_buffer_size_audio": "the packet cache size is built in",
	"rtc.congestion_control.":      "no bandwidth adaptation yet: every subscriber gets the layer its settings ask for",
	"rtc.pli_throttle.":            "keyframe requests are throttled at built-in intervals",
	"rtc.use_ice_lite":             "the node runs full ICE",
	"rtc.allow_tcp_fallback":       "no TCP fallback policy; ICE/TCP follows rtc.tcp_port",
	"audio.":                       "active-speaker detection uses built-in levels and intervals",
	"region":                       "single node: there is no region-aware placement",
	"node_selector.":               "single node: there is no node selection",
	"limit.num_tracks":             "not enforced (limit.max_tracks_per_participant caps tracks per participant)",
	"limit.bytes_per_sec":          "not enforced",
	"logging.pion_level":           "pion's own logs are not routed",
	"logging.sample":               "logs are never sampled",
	"logging.component_levels.":    "one level for every component (logging.level)",
	"room.enabled_codecs":          "every codec the node can forward is accepted",
	"room.playout_delay.":          "no playout delay is signalled",
	"room.sync_streams":            "streams are not marked for synchronisation",
	"development":                  "ignored in the file: start with --dev instead",
	"ingress.":                     "there is no ingress service",
	"egress.":                      "there is no egress service",
	"sip.":                         "there is no SIP service",
	"signal_relay.":                "no cluster: there is no signal relay",
	"psrpc.":                       "no cluster: there is no RPC between nodes",
}

// describeUnsupported returns the one-line warning for a config key this node does not act on.
func describeUnsupported(key string) string {
	if why, ok := unsupportedKeys[key]; ok {
		return fmt.Sprintf("%s is not supported: %s", key, why)
	}
	for prefix, why := range unsupportedKeys {
		if strings.HasSuffix(prefix, ".") && (strings.HasPrefix(key, prefix) || key+"." == prefix) {
			return fmt.Sprintf("%s is not supported: %s", key, why)
		}
	}
	return fmt.Sprintf("%s is not a known key; it is ignored", key)
}
