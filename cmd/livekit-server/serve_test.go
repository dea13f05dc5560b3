package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/testkit/synth"
	"github.com/actor-sfu/livekit-server/transport/auth"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
	"github.com/actor-sfu/livekit-server/transport/webhook"
)

const (
	e2eKey    = "APIe2eTestKey"
	e2eSecret = "e2e-secret-that-is-long-enough-for-hs256-0123456789"
)

// freePort returns a port that was free on 127.0.0.1 for network ("tcp" or "udp") a moment ago.
func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// hookRecorder is a webhook receiver that checks every delivery's signature.
type hookRecorder struct {
	t      *testing.T
	mu     sync.Mutex
	events []*livekit.WebhookEvent
}

func (h *hookRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e, err := webhook.Verify(r, auth.KeyProvider{e2eKey: e2eSecret})
	if err != nil {
		h.t.Errorf("webhook not signed with the key file's key: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	h.mu.Lock()
	h.events = append(h.events, e)
	h.mu.Unlock()
}

func (h *hookRecorder) names() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, e := range h.events {
		out = append(out, e.GetEvent())
	}
	return out
}

// liveKitConfig is a config file as a LiveKit operator has it: key_file, prometheus_port,
// webhook, room and rtc keys, plus LiveKit keys this node does not act on.
const liveKitConfig = `port: %d
bind_addresses:
  - 127.0.0.1
key_file: %s
prometheus_port: %d
rtc:
  udp_port: %d
  tcp_port: %d
  port_range_start: 50000
  port_range_end: 60000
  use_external_ip: false
  enable_loopback_candidate: true
  congestion_control:
    enabled: true
room:
  empty_timeout: 1
  departure_timeout: 1
  max_participants: 10
  enable_remote_unmute: true
webhook:
  api_key: %s
  urls:
    - %s
logging:
  level: warn
`

// A LiveKit config file starts the node unchanged: keys from the key file, /metrics on the
// Prometheus port only (with LiveKit's metric names, moving while a room runs), no debug pages
// or metrics on the main port, signed webhooks to the configured URL, and a clean stop with the
// health check failing once draining.
func TestLiveKitConfigFileStartsTheNode(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "keys.yaml")
	if err := os.WriteFile(keyFile, []byte(e2eKey+": "+e2eSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hooks := &hookRecorder{t: t}
	receiver := httptest.NewServer(hooks)
	defer receiver.Close()
	port, promPort, udpPort := freePort(t, "tcp"), freePort(t, "tcp"), freePort(t, "udp")
	cfgPath := filepath.Join(dir, "livekit.yaml")
	body := fmt.Sprintf(liveKitConfig, port, keyFile, promPort, udpPort, freePort(t, "tcp"), e2eKey, receiver.URL)
	if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	ld, err := loadConfig([]string{"--config", cfgPath}, env(nil), os.ReadFile, io.Discard)
	if err != nil {
		t.Fatalf("LiveKit config refused: %v", err)
	}
	all := strings.Join(ld.warnings, "\n")
	for _, key := range []string{"rtc.congestion_control"} {
		if !strings.Contains(all, key+" is not supported: ") {
			t.Errorf("no one-line warning for %s:\n%s", key, all)
		}
	}

	ctx, stopNode := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, func() {}, ld, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			stopNode()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	}
	defer stop()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHealthy(t, base)

	for _, path := range []string{"/metrics", "/debug/actors"} {
		if code := getStatus(t, base+path); code != http.StatusNotFound {
			t.Errorf("main port %s = %d, want 404 outside --dev", path, code)
		}
	}
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", promPort)
	before := scrapeLK(t, metricsURL)

	runRoom(t, fmt.Sprintf("ws://127.0.0.1:%d", port))
	after := scrapeLK(t, metricsURL)
	for _, s := range []string{
		`livekit_packet_total{direction="incoming"`, `livekit_packet_total{direction="outgoing"`,
		`livekit_packet_bytes{direction="incoming"`, `livekit_packet_bytes{direction="outgoing"`,
	} {
		if after[s] <= before[s] {
			t.Errorf("%s did not move: %v → %v", s, before[s], after[s])
		}
	}
	// The room closes a departure_timeout after both left; its lifetime then shows.
	waitHooks(t, hooks, []string{"room_started", "participant_joined", "track_published", "room_finished"})
	final := scrapeLK(t, metricsURL)
	for series, want := range map[string]float64{
		`livekit_participant_join_total{state="signal_connected"}`: 2,
		`livekit_participant_join_total{state="rtc_connected"}`:    2,
		"livekit_room_duration_seconds_count":                      1,
		"livekit_room_total":                                       0,
	} {
		if final[series] != want {
			t.Errorf("%s = %v, want %v", series, final[series], want)
		}
	}
	stop()
	if names := hooks.names(); len(names) == 0 || names[0] != "room_started" {
		t.Errorf("webhooks %v, want room_started first", names)
	}
}

// runRoom has alice publish video to bob until bob has received packets, while the caller's
// scrapes bracket it. The room figures are checked from inside, while it runs.
func runRoom(t *testing.T, wsURL string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok := func(identity string) string {
		s, err := auth.NewAccessToken(e2eKey, e2eSecret).SetIdentity(identity).
			SetVideoGrant(&auth.VideoGrant{RoomJoin: true, Room: "e2e"}).SetValidFor(time.Hour).ToJWT()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	alice, err := testkit.Join(ctx, wsURL, tok("alice"), lkclient.Options{})
	if err != nil {
		t.Fatalf("alice joins with a key-file key: %v", err)
	}
	defer alice.Close()
	bob, err := testkit.Join(ctx, wsURL, tok("bob"), lkclient.Options{})
	if err != nil {
		t.Fatalf("bob joins: %v", err)
	}
	defer bob.Close()
	cam, err := alice.PublishTrack(ctx, lkclient.TrackOptions{Kind: webrtc.RTPCodecTypeVideo, Width: 320, Height: 240})
	if err != nil {
		t.Fatal(err)
	}
	pubCtx, stopPub := context.WithCancel(ctx)
	sent := make(chan struct{})
	go func() { defer close(sent); _, _ = synth.Publish(pubCtx, cam, synth.Options{}) }()
	defer func() { stopPub(); <-sent }()
	rt, err := bob.WaitSubscribed(ctx, cam.SID())
	if err != nil {
		t.Fatalf("bob never got alice's video: %v", err)
	}
	if err := rt.WaitPackets(ctx, 30); err != nil {
		t.Fatalf("bob got no packets: %v", err)
	}
}

// lkSeries matches one sample line: series (name and labels) and value.
var lkSeries = regexp.MustCompile(`(?m)^(livekit_[a-z_]+)\{([^}]*)\} (\S+)$`)

// scrapeLK returns the LiveKit-family samples of a scrape summed by name, and by name with its
// direction or state label (livekit_packet_total{direction="incoming"} and the same without "}").
func scrapeLK(t *testing.T, url string) map[string]float64 {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d", url, res.StatusCode)
	}
	out := map[string]float64{}
	for _, m := range lkSeries.FindAllStringSubmatch(string(b), -1) {
		v, _ := strconv.ParseFloat(m[3], 64)
		out[m[1]] += v
		for _, label := range strings.Split(m[2], ",") {
			if strings.HasPrefix(label, "direction=") || strings.HasPrefix(label, "state=") {
				out[m[1]+"{"+label] += v // e.g. livekit_packet_total{direction="incoming"
				out[m[1]+"{"+label+"}"] += v
			}
		}
	}
	// The families LiveKit's dashboard queries, present from the first scrape.
	for _, name := range []string{"livekit_room_total", "livekit_participant_total", "livekit_track_published_total",
		"livekit_track_subscribed_total", "livekit_packet_total", "livekit_packet_bytes", "livekit_nack_total", "livekit_pli_total"} {
		if !strings.Contains(string(b), "\n"+name+"{") {
			t.Errorf("scrape lacks %s", name)
		}
	}
	return out
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func waitHealthy(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get(base + "/"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never became healthy", base)
}

// waitHooks waits until every wanted event has arrived.
func waitHooks(t *testing.T, h *hookRecorder, want []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := strings.Join(h.names(), ",")
		missing := ""
		for _, w := range want {
			if !strings.Contains(got, w) {
				missing = w
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook %s never arrived; got %s", missing, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A side port that cannot be bound stops the start cleanly, with an error naming it, and
// leaves nothing listening.
func TestServeFailsOnBusyPrometheusPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	promPort := busy.Addr().(*net.TCPAddr).Port
	port := freePort(t, "tcp")
	body := fmt.Sprintf("port: %d\nbind_addresses: [127.0.0.1]\nkeys:\n  %s: %s\nprometheus:\n  port: %d\nrtc:\n  udp_port: %d\n  tcp_port: %d\n",
		port, e2eKey, e2eSecret, promPort, freePort(t, "udp"), freePort(t, "tcp"))
	ld, err := loadConfig([]string{"--config-body", body}, env(nil), os.ReadFile, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	err = serve(context.Background(), func() {}, ld, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), strconv.Itoa(promPort)) {
		t.Fatalf("serve = %v, want an error naming port %d", err, promPort)
	}
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
		c.Close()
		t.Errorf("main port %d still listening after the failed start", port)
	}
}
