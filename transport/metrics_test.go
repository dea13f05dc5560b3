package transport

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/transport/webhook"
)

// fakeMetricsSource is a fixed stats and counter snapshot.
type fakeMetricsSource struct {
	stats    actors.NodeStats
	counters actors.MediaCounters
}

func (f *fakeMetricsSource) Stats() actors.NodeStats             { return f.stats }
func (f *fakeMetricsSource) MediaCounters() actors.MediaCounters { return f.counters }

type fakeWebhookStats webhook.Stats

func (f fakeWebhookStats) Stats() webhook.Stats { return webhook.Stats(f) }

func TestMetricsFromStatsAndCounters(t *testing.T) {
	src := &fakeMetricsSource{
		stats: actors.NodeStats{
			NodeID: "ND_test", Rooms: 2, Participants: 2, Tracks: 2, Subscriptions: 3,
			TracksByType:        map[livekit.TrackType]int64{livekit.TrackType_AUDIO: 1, livekit.TrackType_VIDEO: 1},
			SubscriptionsByType: map[livekit.TrackType]int64{livekit.TrackType_AUDIO: 1, livekit.TrackType_VIDEO: 2},
			Quality:             map[livekit.ConnectionQuality]int64{livekit.ConnectionQuality_GOOD: 1},
			Actors: map[string]actors.ActorKindStats{
				"node":        {Count: 1, Mailbox: 1, MailboxMax: 1},
				"room":        {Count: 2, Mailbox: 10, MailboxMax: 7},
				"participant": {Count: 2, Mailbox: 2, MailboxMax: 2},
				"track":       {Count: 2},
			},
		},
		counters: actors.MediaCounters{PacketsIn: 10, PacketsOut: 25, BytesIn: 1000, BytesOut: 2500, Lost: 2, NACKs: 4, PLIsIn: 1, PLIsOut: 3},
	}
	src.counters.LatencyCounts[0] = 5                                 // <= 10 µs
	src.counters.LatencyCounts[len(actors.MediaLatencyBuckets())] = 1 // +Inf
	m := NewMetrics(MetricsOptions{Webhooks: fakeWebhookStats{Sent: 4, Dropped: 1}})
	body := scrape(t, m)
	if !strings.Contains(body, "go_goroutines ") {
		t.Error("no go_goroutines before Attach")
	}
	if strings.Contains(body, "livekit_rooms") {
		t.Error("node metrics before Attach")
	}
	m.Attach(src)

	body = scrape(t, m)
	for _, line := range []string{
		"livekit_rooms 2",
		"livekit_participants 2",
		"livekit_published_tracks 2",
		"livekit_subscriptions 3",
		`livekit_actors{kind="room"} 2`,
		`livekit_actor_mailbox_depth{kind="node"} 1`,
		`livekit_actor_mailbox_depth{kind="participant"} 2`,
		`livekit_actor_mailbox_depth{kind="room"} 10`,
		`livekit_actor_mailbox_depth{kind="track"} 0`,
		`livekit_actor_mailbox_depth_max{kind="room"} 7`,
		`livekit_connection_quality{quality="GOOD"} 1`,
		`livekit_connection_quality{quality="LOST"} 0`,
		`livekit_packets_total{direction="in"} 10`,
		`livekit_packets_total{direction="out"} 25`,
		`livekit_bytes_total{direction="in"} 1000`,
		`livekit_bytes_total{direction="out"} 2500`,
		`livekit_plis_total{direction="in"} 1`,
		`livekit_plis_total{direction="out"} 3`,
		"livekit_nacks_total 4",
		// LiveKit's families, with its names, label names and label values.
		`livekit_packet_loss_total{direction="incoming",node_id="ND_test",node_type="SERVER",source="",type=""} 2`,
		`livekit_room_total{node_id="ND_test",node_type="SERVER"} 2`,
		`livekit_participant_total{node_id="ND_test",node_type="SERVER"} 2`,
		`livekit_track_published_total{kind="AUDIO",node_id="ND_test",node_type="SERVER"} 1`,
		`livekit_track_subscribed_total{kind="VIDEO",node_id="ND_test",node_type="SERVER"} 2`,
		`livekit_packet_total{direction="incoming",node_id="ND_test",node_type="SERVER",transmission="initial"} 10`,
		`livekit_packet_total{direction="outgoing",node_id="ND_test",node_type="SERVER",transmission="initial"} 25`,
		`livekit_packet_bytes{direction="outgoing",node_id="ND_test",node_type="SERVER",transmission="initial"} 2500`,
		`livekit_nack_total{direction="outgoing",node_id="ND_test",node_type="SERVER"} 4`,
		`livekit_pli_total{direction="outgoing",node_id="ND_test",node_type="SERVER"} 1`,
		`livekit_pli_total{direction="incoming",node_id="ND_test",node_type="SERVER"} 3`,
		"# TYPE livekit_room_total gauge",
		"# TYPE livekit_packet_total counter",
		`livekit_forward_latency_seconds_bucket{le="1e-05"} 5`,
		`livekit_forward_latency_seconds_bucket{le="0.1"} 5`,
		`livekit_forward_latency_seconds_bucket{le="+Inf"} 6`,
		"livekit_forward_latency_seconds_count 6",
		`livekit_webhooks_total{result="sent"} 4`,
		`livekit_webhooks_total{result="dropped"} 1`,
		"# TYPE livekit_packets_total counter",
		"# TYPE livekit_rooms gauge",
		"# TYPE livekit_forward_latency_seconds histogram",
	} {
		if !strings.Contains(body, "\n"+line+"\n") {
			t.Errorf("scrape lacks %q", line)
		}
	}
	// The registry is private: nothing of ours leaks into the global one.
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "livekit_") {
			t.Errorf("%s registered globally", mf.GetName())
		}
	}
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("scrape: %d %v", res.StatusCode, err)
	}
	return string(b)
}

// Signal connections and lifecycle events feed LiveKit's connection families and the room
// duration histogram, with LiveKit's bucket bounds.
func TestSessionMetrics(t *testing.T) {
	m := NewMetrics(MetricsOptions{})
	m.Attach(&fakeMetricsSource{stats: actors.NodeStats{NodeID: "ND_s"}})
	m.SignalConnected()
	m.SignalConnected()
	m.ObserveEvent(&livekit.WebhookEvent{Event: actors.EventParticipantJoined})
	m.ObserveEvent(&livekit.WebhookEvent{Event: actors.EventParticipantLeft})
	m.ObserveEvent(&livekit.WebhookEvent{Event: actors.EventRoomFinished, Room: &livekit.Room{CreationTime: time.Now().Add(-70 * time.Second).Unix()}})
	m.ObserveEvent(&livekit.WebhookEvent{Event: actors.EventRoomFinished, Room: &livekit.Room{}}) // no creation time: not observed
	body := scrape(t, m)
	for _, line := range []string{
		`livekit_participant_join_total{node_id="ND_s",node_type="SERVER",state="signal_connected"} 2`,
		`livekit_participant_join_total{node_id="ND_s",node_type="SERVER",state="rtc_connected"} 1`,
		`livekit_node_service_operation{error_type="",node_id="ND_s",node_type="SERVER",status="success",type="signal_ws"} 2`,
		`livekit_node_service_operation{error_type="",node_id="ND_s",node_type="SERVER",status="success",type="ice_connection"} 1`,
		`livekit_room_duration_seconds_bucket{node_id="ND_s",node_type="SERVER",le="60"} 0`,
		`livekit_room_duration_seconds_bucket{node_id="ND_s",node_type="SERVER",le="300"} 1`,
		`livekit_room_duration_seconds_count{node_id="ND_s",node_type="SERVER"} 1`,
	} {
		if !strings.Contains(body, "\n"+line+"\n") {
			t.Errorf("scrape lacks %q", line)
		}
	}
}
