package transport

// LiveKit's metric families, beside our own: the names, types and label names of
// livekit-server's pkg/telemetry/prometheus, so that dashboards and alerts written against a
// LiveKit node (its published Grafana dashboard included) find their series here. Every series
// carries LiveKit's node_id and node_type labels. Only what this node measures is exported; a
// family it cannot fill honestly (retransmissions, room durations, quality histograms) is left out
// rather than reported as zero.

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// lkNodeType is LiveKit's node_type label value for a media node.
const lkNodeType = "SERVER"

// LiveKit's direction label values and the transmission label value of first transmissions.
const (
	lkIncoming = "incoming"
	lkOutgoing = "outgoing"
	lkInitial  = "initial"
)

func lkDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, append([]string{"node_id", "node_type"}, labels...), nil)
}

var (
	lkRoomTotal = lkDesc("livekit_room_total",
		"Rooms open on this node (LiveKit's family).")
	lkParticipantTotal = lkDesc("livekit_participant_total",
		"Participants on this node (LiveKit's family).")
	lkTrackPublished = lkDesc("livekit_track_published_total",
		"Tracks published on this node, by kind (LiveKit's family; a gauge, as in LiveKit).", "kind")
	lkTrackSubscribed = lkDesc("livekit_track_subscribed_total",
		"Subscribed copies of tracks on this node, by kind (LiveKit's family; a gauge, as in LiveKit).", "kind")
	lkPacketTotal = lkDesc("livekit_packet_total",
		"RTP packets: incoming from publishers, outgoing to subscribers (LiveKit's family; first transmissions only).", "direction", "transmission")
	lkPacketBytes = lkDesc("livekit_packet_bytes",
		"RTP bytes: incoming from publishers, outgoing to subscribers (LiveKit's family; first transmissions only).", "direction", "transmission")
	lkNackTotal = lkDesc("livekit_nack_total",
		"NACKed sequence numbers, by the direction of the media they refer to: outgoing = asked by subscribers (LiveKit's family).", "direction")
	lkPliTotal = lkDesc("livekit_pli_total",
		"Keyframe requests by the direction of the media they refer to: outgoing = from subscribers, incoming = sent to publishers (LiveKit's family).", "direction")
	lkPacketLossTotal = lkDesc("livekit_packet_loss_total",
		"Packets lost on the way in from publishers (LiveKit's family; source and type are not split).", "direction", "source", "type")
)

// lkDescs lists the LiveKit families for Describe.
var lkDescs = []*prometheus.Desc{
	lkRoomTotal, lkParticipantTotal, lkTrackPublished, lkTrackSubscribed,
	lkPacketTotal, lkPacketBytes, lkNackTotal, lkPliTotal, lkPacketLossTotal,
}

// lkKinds are the kind label values of the track families, always exported (LiveKit labels them
// with the TrackType name).
var lkKinds = []livekit.TrackType{livekit.TrackType_AUDIO, livekit.TrackType_VIDEO}

// collectLiveKit exports one node snapshot and one counter snapshot under LiveKit's names.
func collectLiveKit(ch chan<- prometheus.Metric, st actors.NodeStats, mc actors.MediaCounters) {
	id := st.NodeID
	g := func(d *prometheus.Desc, v int64, labels ...string) {
		gauge(ch, d, float64(v), append([]string{id, lkNodeType}, labels...)...)
	}
	c := func(d *prometheus.Desc, v uint64, labels ...string) {
		counter(ch, d, v, append([]string{id, lkNodeType}, labels...)...)
	}
	g(lkRoomTotal, st.Rooms)
	g(lkParticipantTotal, st.Participants)
	for _, k := range lkKinds {
		g(lkTrackPublished, st.TracksByType[k], k.String())
		g(lkTrackSubscribed, st.SubscriptionsByType[k], k.String())
	}
	c(lkPacketTotal, mc.PacketsIn, lkIncoming, lkInitial)
	c(lkPacketTotal, mc.PacketsOut, lkOutgoing, lkInitial)
	c(lkPacketBytes, mc.BytesIn, lkIncoming, lkInitial)
	c(lkPacketBytes, mc.BytesOut, lkOutgoing, lkInitial)
	c(lkNackTotal, mc.NACKs, lkOutgoing)
	c(lkPliTotal, mc.PLIsIn, lkOutgoing)
	c(lkPliTotal, mc.PLIsOut, lkIncoming)
	c(lkPacketLossTotal, mc.Lost, lkIncoming, "", "")
}
