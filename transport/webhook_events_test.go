package transport_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/testkit/synth"
	"github.com/actor-sfu/livekit-server/transport/auth"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
	"github.com/actor-sfu/livekit-server/transport/webhook"
)

// hookLog is a webhook receiver that verifies every delivery and keeps the events in arrival order.
type hookLog struct {
	t      *testing.T
	mu     sync.Mutex
	events []*livekit.WebhookEvent
}

func (h *hookLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e, err := webhook.Verify(r, auth.KeyProvider{testkit.APIKey: testkit.APISecret})
	if err != nil {
		h.t.Errorf("unsigned or badly signed webhook: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	h.mu.Lock()
	h.events = append(h.events, e)
	h.mu.Unlock()
}

// lines renders the events as "event identity" lines, in arrival order.
func (h *hookLog) lines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, e := range h.events {
		out = append(out, strings.TrimSpace(e.GetEvent()+" "+e.GetParticipant().GetIdentity()))
	}
	return out
}

// wait blocks until the log holds n events.
func (h *hookLog) wait(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for len(h.lines()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("webhooks: got %q, want %d events", h.lines(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Every webhook LiveKit sends for what this node does arrives at a real receiver, signed, with
// LiveKit's fields, in the order it happened: participant_joined only once media connected,
// participant_connection_aborted for a participant that joined but never connected, and
// track_unpublished before participant_left when a publisher leaves at once.
func TestWebhooksLiveKitSetInOrder(t *testing.T) {
	hooks := &hookLog{t: t}
	receiver := httptest.NewServer(hooks)
	defer receiver.Close()
	notifier, err := webhook.New(webhook.Config{URLs: []string{receiver.URL}, APIKey: testkit.APIKey, APISecret: testkit.APISecret})
	if err != nil {
		t.Fatal(err)
	}
	node := testkit.StartNode(t, testkit.Options{Actors: actors.Config{Events: notifier.Notify}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	alice, err := testkit.Join(ctx, node.WSURL, testkit.Token(t, "hooks", "alice", nil), lkclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	hooks.wait(t, 2) // room_started, participant_joined alice

	cam, err := alice.PublishTrack(ctx, lkclient.TrackOptions{Kind: webrtc.RTPCodecTypeVideo, Width: 320, Height: 240})
	if err != nil {
		t.Fatal(err)
	}
	pubCtx, stopPub := context.WithCancel(ctx)
	sent := make(chan struct{})
	go func() { defer close(sent); _, _ = synth.Publish(pubCtx, cam, synth.Options{}) }()
	hooks.wait(t, 3) // track_published

	// mallory's signal connection joins, but she never answers the node's offer: no media.
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, node.WSURL+"/rtc?access_token="+testkit.Token(t, "hooks", "mallory", nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ws.ReadMessage(); err != nil { // the join response
		t.Fatal(err)
	}
	ws.Close()
	hooks.wait(t, 4) // participant_connection_aborted mallory

	// alice unpublishes and leaves at once: the two events must arrive in that order.
	if err := alice.UnpublishTrack(cam); err != nil {
		t.Fatal(err)
	}
	stopPub()
	<-sent
	if err := alice.Leave(); err != nil {
		t.Fatal(err)
	}
	hooks.wait(t, 6)
	if _, err := node.RoomService(testkit.AdminToken(t, "hooks")).DeleteRoom(ctx, &livekit.DeleteRoomRequest{Room: "hooks"}); err != nil {
		t.Fatal(err)
	}
	closeCtx, cancelClose := context.WithTimeout(ctx, 10*time.Second)
	defer cancelClose()
	hooks.wait(t, 7)
	if err := notifier.Close(closeCtx); err != nil {
		t.Fatal(err)
	}

	want := []string{"room_started", "participant_joined alice", "track_published alice", "participant_connection_aborted mallory",
		"track_unpublished alice", "participant_left alice", "room_finished"}
	if got := hooks.lines(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("webhooks\n%q\nwant\n%q", got, want)
	}
	ids := map[string]bool{}
	hooks.mu.Lock()
	defer hooks.mu.Unlock()
	for i, e := range hooks.events {
		if e.GetId() == "" || ids[e.GetId()] || e.GetCreatedAt() == 0 || e.GetRoom().GetName() != "hooks" || e.GetRoom().GetSid() == "" {
			t.Errorf("event %d %s lacks LiveKit's fields: %v", i, e.GetEvent(), e)
		}
		ids[e.GetId()] = true
		if i > 0 && e.GetCreatedAt() < hooks.events[i-1].GetCreatedAt() {
			t.Errorf("event %d created before event %d", i, i-1)
		}
		if strings.HasPrefix(e.GetEvent(), "track_") && e.GetTrack().GetSid() != cam.SID() {
			t.Errorf("%s names track %q, want %q", e.GetEvent(), e.GetTrack().GetSid(), cam.SID())
		}
	}
	if st := hooks.events[1].GetParticipant().GetState(); st != livekit.ParticipantInfo_ACTIVE {
		t.Errorf("participant_joined carries state %s, want ACTIVE", st)
	}
}
