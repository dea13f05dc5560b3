package scenarios

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

func httpGet(ctx context.Context, t *testing.T, u string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", u, res.StatusCode, err)
	}
	return string(b)
}

func debugTree(ctx context.Context, t *testing.T, node *testkit.Node) map[string]actors.ActorInfo {
	t.Helper()
	var tree []actors.ActorInfo
	if err := json.Unmarshal([]byte(httpGet(ctx, t, node.URL+"/debug/actors")), &tree); err != nil {
		t.Fatalf("decoding /debug/actors: %v", err)
	}
	out := map[string]actors.ActorInfo{}
	for _, a := range tree {
		out[a.Path] = a
	}
	return out
}

// metricValue reads one sample of the Prometheus text format, -1 when absent.
func metricValue(body, series string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return -1
	}
	return v
}

// What an operator sees while Alice publishes audio and video to Bob: /debug/actors shows the
// room → participants → tracks → subscribers tree with PeerConnection states, connection
// quality, packet counts and per-subscriber DownTrack counters; /metrics counts the same room,
// participants, tracks, subscriptions and packets, and rates both connections.
func TestOperatorViewOfALiveRoom(t *testing.T) {
	metrics := transport.NewMetrics(transport.MetricsOptions{})
	node := testkit.StartNode(t, testkit.Options{Server: transport.ServerConfig{Metrics: metrics}})
	metrics.Attach(node.Node)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	alice := join(ctx, t, node, "ops", "alice", lkclient.Options{})
	bob := join(ctx, t, node, "ops", "bob", lkclient.Options{})
	pubCtx, stopPublishing := context.WithCancel(ctx)
	cam, camSent := publish(pubCtx, t, alice, webrtc.RTPCodecTypeVideo, 0)
	mic, micSent := publish(pubCtx, t, alice, webrtc.RTPCodecTypeAudio, 0)
	defer func() { stopPublishing(); <-camSent; <-micSent }()
	for _, sid := range []string{cam.SID(), mic.SID()} {
		rt, err := bob.WaitSubscribed(ctx, sid)
		if err != nil {
			t.Fatalf("bob never got %s: %v", sid, err)
		}
		if err := rt.WaitPackets(ctx, 20); err != nil {
			t.Fatalf("bob got no packets of %s: %v", sid, err)
		}
	}
	// Connection quality is rated every five seconds; wait for the first rating of both.
	for _, c := range []*lkclient.Client{alice, bob} {
		waitQuality(ctx, t, c, c.SID(), "a rating of itself", func(*livekit.ConnectionQualityInfo) bool { return true })
	}

	tree := debugTree(ctx, t, node)
	roomPath := "/node/rooms/ops"
	alicePath, bobPath := roomPath+"/alice", roomPath+"/bob"
	if r := tree[roomPath]; r.Kind != "room" || r.Stats["name"] != "ops" || r.Stats["participants"] != float64(2) || r.Stats["tracks"] != float64(2) {
		t.Errorf("room: %+v", r)
	}
	for path, c := range map[string]*lkclient.Client{alicePath: alice, bobPath: bob} {
		p := tree[path]
		if p.Kind != "participant" || p.Stats["identity"] != c.Identity() || p.Stats["sid"] != c.SID() || p.Stats["state"] != "ACTIVE" {
			t.Errorf("%s: %+v", path, p)
		}
		if p.Stats["subscriberPC"] != "connected" || (c == alice && p.Stats["publisherPC"] != "connected") {
			t.Errorf("%s PeerConnections: %+v", path, p.Stats)
		}
		if q := p.Stats["quality"]; q != "EXCELLENT" && q != "GOOD" {
			t.Errorf("%s quality %v on loopback", path, q)
		}
	}
	if tree[alicePath].Stats["published"] != float64(2) || tree[bobPath].Stats["subscriptions"] != float64(2) {
		t.Errorf("published/subscriptions: alice %+v bob %+v", tree[alicePath].Stats, tree[bobPath].Stats)
	}
	for _, tr := range []*lkclient.LocalTrack{cam, mic} {
		path := alicePath + "/" + tr.SID()
		a := tree[path]
		if a.Kind != "track" || a.Stats["sid"] != tr.SID() || a.Stats["packetsIn"].(float64) <= 0 || a.Stats["subscribers"] != float64(1) {
			t.Errorf("%s: %+v", path, a)
			continue
		}
		downs, _ := a.Stats["downTracks"].([]any)
		if len(downs) != 1 {
			t.Errorf("%s downTracks: %v", path, a.Stats["downTracks"])
			continue
		}
		d := downs[0].(map[string]any)
		if d["subscriber"] != bobPath || d["packets"].(float64) <= 0 || d["bytes"].(float64) <= 0 {
			t.Errorf("%s sends to %+v, want packets to %s", path, d, bobPath)
		}
	}

	body := httpGet(ctx, t, node.URL+"/metrics")
	for series, want := range map[string]float64{
		"livekit_rooms": 1, "livekit_participants": 2, "livekit_published_tracks": 2, "livekit_subscriptions": 2,
		`livekit_actors{kind="track"}`: 2,
	} {
		if got := metricValue(body, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if got := metricValue(body, `livekit_connection_quality{quality="EXCELLENT"}`) + metricValue(body, `livekit_connection_quality{quality="GOOD"}`); got != 2 {
		t.Errorf("participants rated EXCELLENT or GOOD: %v, want 2", got)
	}
	for _, series := range []string{`livekit_packets_total{direction="in"}`, `livekit_packets_total{direction="out"}`, `livekit_bytes_total{direction="out"}`, "livekit_forward_latency_seconds_count", "go_goroutines"} {
		if metricValue(body, series) <= 0 {
			t.Errorf("%s is %v, want > 0", series, metricValue(body, series))
		}
	}
	if !strings.Contains(body, "\ngo_sched_latencies_seconds_bucket{") {
		t.Error("/metrics lacks the scheduler latency histogram")
	}
}
