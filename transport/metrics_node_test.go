package transport_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport"
	"github.com/actor-sfu/livekit-server/transport/auth"
	"github.com/actor-sfu/livekit-server/transport/webhook"
)

// A room created through the Room API shows on /metrics, and the backend receives a signed
// room_started webhook for it.
func TestMetricsAndWebhooksOnRealNode(t *testing.T) {
	var mu sync.Mutex
	var got []*livekit.WebhookEvent
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := webhook.Verify(r, auth.KeyProvider{testkit.APIKey: testkit.APISecret})
		if err != nil {
			t.Errorf("webhook: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
	}))
	defer backend.Close()
	notifier, err := webhook.New(webhook.Config{URLs: []string{backend.URL}, APIKey: testkit.APIKey, APISecret: testkit.APISecret})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := notifier.Close(ctx); err != nil {
			t.Error(err)
		}
	}()

	metrics := transport.NewMetrics(transport.MetricsOptions{Webhooks: notifier})
	node := testkit.StartNode(t, testkit.Options{
		Actors: actors.Config{Events: notifier.Notify},
		Server: transport.ServerConfig{Metrics: metrics},
	})
	metrics.Attach(node.Node)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := node.RoomService(testkit.AdminToken(t, "metrics-room")).CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "metrics-room"}); err != nil {
		t.Fatal(err)
	}

	body := scrapeURL(t, node.URL+"/metrics")
	for _, line := range []string{"livekit_rooms 1", "livekit_participants 0", `livekit_actors{kind="node"} 1`, `livekit_packets_total{direction="in"} 0`} {
		if !strings.Contains(body, "\n"+line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	if !strings.Contains(body, "\ngo_goroutines ") || !strings.Contains(body, "\nprocess_") {
		t.Error("/metrics lacks runtime or process metrics")
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) == 0 || got[0].GetEvent() != "room_started" || got[0].GetRoom().GetName() != "metrics-room" {
		t.Fatalf("webhooks %v", got)
	}
}

func scrapeURL(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, res.StatusCode, err)
	}
	return string(b)
}
