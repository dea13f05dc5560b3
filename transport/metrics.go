package transport

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"sort"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/transport/webhook"
)

// MetricsSource is what a scrape reads: the node's typed stats and its media counters.
// *actors.Node provides both without messaging any actor.
type MetricsSource interface {
	Stats() actors.NodeStats
	MediaCounters() actors.MediaCounters
}

// WebhookStats reports webhook delivery totals; *webhook.Notifier provides it.
type WebhookStats interface {
	Stats() webhook.Stats
}

// MetricsOptions adjusts NewMetrics.
type MetricsOptions struct {
	// Webhooks, when set, adds livekit_webhooks_total.
	Webhooks WebhookStats
}

// Metrics is the /metrics handler: a private Prometheus registry (never the global one, so that
// several nodes can live in one test process) holding the Go runtime and process collectors and a
// collector that reads the node on each scrape. Nothing is counted on the media path here: the
// per-packet figures are atomic counters in actors/media, summed when scraped.
//
// The node is attached after construction because the node's event sink and the HTTP server
// configuration are usually built before the node exists.
type Metrics struct {
	reg      *prometheus.Registry
	handler  http.Handler
	src      atomic.Pointer[MetricsSource]
	sessions sessionCounters
}

var _ http.Handler = (*Metrics)(nil)

// NewMetrics builds the handler. Until Attach, scrapes carry runtime metrics only.
func NewMetrics(opts MetricsOptions) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(
		// The defaults (goroutines, threads, memory, GC pauses) plus the scheduler's latency
		// histogram: how long runnable goroutines wait for a thread, the first sign of an
		// overloaded node.
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsScheduler)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&nodeCollector{m: m, webhooks: opts.Webhooks},
	)
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
	return m
}

// Attach points the collector at the node.
func (m *Metrics) Attach(src MetricsSource) { m.src.Store(&src) }

// Registry is the private registry, for callers that add collectors of their own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ServeHTTP implements http.Handler in the Prometheus text format.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.handler.ServeHTTP(w, r) }

// Metric descriptions. Names follow Prometheus conventions: _total for counters, base units.
// Upstream loss is exported once, under LiveKit's livekit_packet_loss_total (metrics_livekit.go).
var (
	descRooms = prometheus.NewDesc("livekit_rooms",
		"Rooms open on this node.", nil, nil)
	descParticipants = prometheus.NewDesc("livekit_participants",
		"Participants connected to this node.", nil, nil)
	descTracks = prometheus.NewDesc("livekit_published_tracks",
		"Tracks published on this node.", nil, nil)
	descSubscriptions = prometheus.NewDesc("livekit_subscriptions",
		"Subscriber copies of published tracks (sum over tracks of their subscribers).", nil, nil)
	descActors = prometheus.NewDesc("livekit_actors",
		"Live actors by kind.", []string{"kind"}, nil)
	descMailbox = prometheus.NewDesc("livekit_actor_mailbox_depth",
		"Messages waiting in actor mailboxes, summed per actor kind.", []string{"kind"}, nil)
	descMailboxMax = prometheus.NewDesc("livekit_actor_mailbox_depth_max",
		"Deepest single mailbox per actor kind.", []string{"kind"}, nil)
	descProcessed = prometheus.NewDesc("livekit_actor_messages_processed",
		"Messages processed by the live actors of each kind (resets as actors come and go).", []string{"kind"}, nil)
	descPackets = prometheus.NewDesc("livekit_packets_total",
		"RTP packets received from publishers (in) and sent to subscribers (out), retransmissions excluded.", []string{"direction"}, nil)
	descBytes = prometheus.NewDesc("livekit_bytes_total",
		"RTP bytes (payload plus 12-byte header) received from publishers (in) and sent to subscribers (out).", []string{"direction"}, nil)
	descNACKs = prometheus.NewDesc("livekit_nacks_total",
		"Sequence numbers subscribers asked to be resent (NACK).", nil, nil)
	descPLIs = prometheus.NewDesc("livekit_plis_total",
		"Keyframe requests: PLI/FIR received from subscribers (in), PLIs sent to publishers after throttling (out).", []string{"direction"}, nil)
	descLatency = prometheus.NewDesc("livekit_forward_latency_seconds",
		"Sampled (1 in 64 deliveries per subscriber) time from reading an RTP packet off the publisher to handing it to the subscriber's SRTP writer.", nil, nil)
	descQuality = prometheus.NewDesc("livekit_connection_quality",
		"Active participants by the connection quality last computed for them (EXCELLENT, GOOD, POOR, LOST).", []string{"quality"}, nil)
	descWebhooks = prometheus.NewDesc("livekit_webhooks_total",
		"Webhook events by outcome: sent, failed (after retries), dropped (queue full or closing), retries.", []string{"result"}, nil)
)

// qualityLevels are the connection quality ratings, always exported.
var qualityLevels = []livekit.ConnectionQuality{
	livekit.ConnectionQuality_EXCELLENT, livekit.ConnectionQuality_GOOD,
	livekit.ConnectionQuality_POOR, livekit.ConnectionQuality_LOST,
}

// actorKinds are always exported, so dashboards see zeros instead of missing series.
var actorKinds = []string{"node", "room", "participant", "track"}

// nodeCollector turns one Stats snapshot and one counter snapshot into metrics per scrape.
type nodeCollector struct {
	m        *Metrics
	webhooks WebhookStats
}

// Describe implements prometheus.Collector.
func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descRooms, descParticipants, descTracks, descSubscriptions, descActors, descMailbox,
		descMailboxMax, descProcessed, descPackets, descBytes, descNACKs, descPLIs, descLatency,
		descQuality,
	} {
		ch <- d
	}
	for _, d := range lkDescs {
		ch <- d
	}
	ch <- lkParticipantJoin
	ch <- lkServiceOperation
	ch <- lkRoomDuration
	ch <- lkTwirpStatus
	if c.webhooks != nil {
		ch <- descWebhooks
	}
}

// Collect implements prometheus.Collector.
func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	if w := c.webhooks; w != nil {
		s := w.Stats()
		counter(ch, descWebhooks, s.Sent, "sent")
		counter(ch, descWebhooks, s.Failed, "failed")
		counter(ch, descWebhooks, s.Dropped, "dropped")
		counter(ch, descWebhooks, s.Retries, "retries")
	}
	p := c.m.src.Load()
	if p == nil {
		return
	}
	src := *p
	st, mc := src.Stats(), src.MediaCounters()
	collectNode(ch, st)
	collectMedia(ch, mc)
	collectLiveKit(ch, st, mc)
	c.m.sessions.collect(ch, st.NodeID)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

// collectNode exports the actor tree's figures: rooms, participants, tracks, subscriptions,
// connection quality, and mailboxes per actor kind.
func collectNode(ch chan<- prometheus.Metric, st actors.NodeStats) {
	gauge(ch, descRooms, float64(st.Rooms))
	gauge(ch, descParticipants, float64(st.Participants))
	gauge(ch, descTracks, float64(st.Tracks))
	gauge(ch, descSubscriptions, float64(st.Subscriptions))
	kinds := map[string]actors.ActorKindStats{}
	for _, k := range actorKinds {
		kinds[k] = actors.ActorKindStats{}
	}
	for name, k := range st.Actors {
		kinds[name] = k
	}
	names := make([]string, 0, len(kinds))
	for name := range kinds {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		k := kinds[name]
		gauge(ch, descActors, float64(k.Count), name)
		gauge(ch, descMailbox, float64(k.Mailbox), name)
		gauge(ch, descMailboxMax, float64(k.MailboxMax), name)
		gauge(ch, descProcessed, float64(k.Processed), name)
	}
	for _, q := range qualityLevels {
		gauge(ch, descQuality, float64(st.Quality[q]), q.String())
	}
}

// collectMedia exports the node-wide media counters and the sampled forwarding latency.
func collectMedia(ch chan<- prometheus.Metric, mc actors.MediaCounters) {
	counter(ch, descPackets, mc.PacketsIn, "in")
	counter(ch, descPackets, mc.PacketsOut, "out")
	counter(ch, descBytes, mc.BytesIn, "in")
	counter(ch, descBytes, mc.BytesOut, "out")
	counter(ch, descNACKs, mc.NACKs)
	counter(ch, descPLIs, mc.PLIsIn, "in")
	counter(ch, descPLIs, mc.PLIsOut, "out")

	bounds := actors.MediaLatencyBuckets()
	cumulative := make(map[float64]uint64, len(bounds))
	var n uint64
	for i, b := range bounds {
		n += mc.LatencyCounts[i]
		cumulative[b] = n
	}
	n += mc.LatencyCounts[len(bounds)]
	ch <- prometheus.MustNewConstHistogram(descLatency, n, mc.LatencySum.Seconds(), cumulative)
}

// MetricsServer returns a handler for a metrics listener of its own (LiveKit's prometheus.port):
// GET /metrics answers from m, nothing else is served, and no CORS header is ever set. With a
// username, every request must carry those HTTP basic credentials (LiveKit's prometheus.username
// and prometheus.password); a request without them is answered 401 with a WWW-Authenticate
// challenge, so a Prometheus scrape_config with basic_auth works unchanged.
func MetricsServer(m http.Handler, username, password string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { writeText(w, http.StatusNotFound, "not found") })
	if username == "" {
		return mux
	}
	wantUser := sha256.Sum256([]byte(username))
	wantPass := sha256.Sum256([]byte(password))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		gotUser, gotPass := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
		// Both comparisons always run, in constant time, so timing tells nothing about which failed.
		userOK := subtle.ConstantTimeCompare(gotUser[:], wantUser[:]) == 1
		passOK := subtle.ConstantTimeCompare(gotPass[:], wantPass[:]) == 1
		if !ok || !userOK || !passOK {
			w.Header().Set("WWW-Authenticate", `Basic realm="livekit metrics", charset="UTF-8"`)
			writeText(w, http.StatusUnauthorized, "unauthorized")
			return
		}
		mux.ServeHTTP(w, r)
	})
}
