package transport

// Session milestones for LiveKit's connection families: how many signal connections were served
// and how many participants went on to connect their media, and how long rooms lived. The edge
// reports signal connections (SessionObserver); the node's lifecycle events report the rest
// (Metrics.ObserveEvent), so nothing is counted on the media path.

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// EdgeObserver is told of what the edge serves, for metrics. *Metrics implements it. Its methods
// must return at once.
type EdgeObserver interface {
	// SignalConnected is called once per /rtc WebSocket served after a successful join.
	SignalConnected()
	// RoomAPIRequest is called once per Room API call Twirp answered: service and method names,
	// status family ("4xx", "5xx", else the status) and Twirp error code ("" on success).
	RoomAPIRequest(service, method, status, code string)
}

// roomDurationBuckets are LiveKit's bounds for livekit_room_duration_seconds.
var roomDurationBuckets = []float64{5, 10, 60, 5 * 60, 10 * 60, 30 * 60, 60 * 60, 2 * 60 * 60, 5 * 60 * 60, 10 * 60 * 60}

var (
	lkParticipantJoin = lkDesc("livekit_participant_join_total",
		"Participant joins by stage: signal_connected (WebSocket served), rtc_connected (media connected) (LiveKit's family).", "state")
	lkServiceOperation = lkDesc("livekit_node_service_operation",
		"Connection steps completed: signal_ws (WebSocket served), ice_connection (media connected) (LiveKit's family; failures are not split out).", "type", "status", "error_type")
	lkRoomDuration = lkDesc("livekit_room_duration_seconds",
		"How long finished rooms were open (LiveKit's family).")
	lkTwirpStatus = lkDesc("livekit_node_twirp_request_status",
		"Room API calls answered by Twirp, by service, method, status family and Twirp code (LiveKit's family).", "service", "method", "status", "code")
)

// apiKey is one livekit_node_twirp_request_status series.
type apiKey struct{ service, method, status, code string }

// sessionCounters are the milestone totals and the room-duration histogram.
type sessionCounters struct {
	signalConnected, rtcConnected atomic.Uint64

	mu          sync.Mutex
	api         map[apiKey]uint64
	durCounts   []uint64 // per bucket, not cumulative; the last counts values above every bound
	durSum      float64
	durObserved uint64
}

// SignalConnected implements EdgeObserver.
func (m *Metrics) SignalConnected() { m.sessions.signalConnected.Add(1) }

// RoomAPIRequest implements EdgeObserver.
func (m *Metrics) RoomAPIRequest(service, method, status, code string) {
	s := &m.sessions
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.api == nil {
		s.api = map[apiKey]uint64{}
	}
	s.api[apiKey{service, method, status, code}]++
}

// ObserveEvent takes the node's lifecycle events (chain it into actors.Config.Events beside
// webhooks): participant_joined counts a media connection, room_finished a room's lifetime. It
// returns at once, as an EventSink must.
func (m *Metrics) ObserveEvent(e *livekit.WebhookEvent) {
	switch e.GetEvent() {
	case actors.EventParticipantJoined:
		m.sessions.rtcConnected.Add(1)
	case actors.EventRoomFinished:
		created := e.GetRoom().GetCreationTime()
		if created <= 0 {
			return
		}
		secs := time.Since(time.Unix(created, 0)).Seconds()
		m.sessions.observeRoomDuration(max(secs, 0))
	}
}

func (s *sessionCounters) observeRoomDuration(secs float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.durCounts == nil {
		s.durCounts = make([]uint64, len(roomDurationBuckets)+1)
	}
	i := 0
	for i < len(roomDurationBuckets) && secs > roomDurationBuckets[i] {
		i++
	}
	s.durCounts[i]++
	s.durSum += secs
	s.durObserved++
}

// collect exports the session families for the node named nodeID.
func (s *sessionCounters) collect(ch chan<- prometheus.Metric, nodeID string) {
	c := func(d *prometheus.Desc, v uint64, labels ...string) {
		counter(ch, d, v, append([]string{nodeID, lkNodeType}, labels...)...)
	}
	signal, rtc := s.signalConnected.Load(), s.rtcConnected.Load()
	c(lkParticipantJoin, signal, "signal_connected")
	c(lkParticipantJoin, rtc, "rtc_connected")
	c(lkServiceOperation, signal, "signal_ws", "success", "")
	c(lkServiceOperation, rtc, "ice_connection", "success", "")

	s.mu.Lock()
	cumulative := make(map[float64]uint64, len(roomDurationBuckets))
	var n uint64
	for i, b := range roomDurationBuckets {
		if s.durCounts != nil {
			n += s.durCounts[i]
		}
		cumulative[b] = n
	}
	count, sum := s.durObserved, s.durSum
	api := make(map[apiKey]uint64, len(s.api))
	for k, v := range s.api {
		api[k] = v
	}
	s.mu.Unlock()
	for k, v := range api {
		c(lkTwirpStatus, v, k.service, k.method, k.status, k.code)
	}
	ch <- prometheus.MustNewConstHistogram(lkRoomDuration, count, sum, cumulative, nodeID, lkNodeType)
}
