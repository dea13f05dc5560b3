package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/transport/auth"
)

var testKeys = auth.KeyProvider{"webhookkey": "webhooksecret-that-is-long-enough"}

// receiver is a backend: it verifies every delivery and records the events, or answers status.
type receiver struct {
	mu       sync.Mutex
	events   []*livekit.WebhookEvent
	attempts int
	status   int // answered instead of 200 when set
	headers  http.Header
	errs     []error
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.attempts++
	rc.headers = r.Header.Clone()
	if rc.status != 0 {
		w.WriteHeader(rc.status)
		return
	}
	e, err := Verify(r, testKeys)
	if err != nil {
		rc.errs = append(rc.errs, err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	rc.events = append(rc.events, e)
}

func (rc *receiver) snapshot() (events []*livekit.WebhookEvent, attempts int, errs []error) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]*livekit.WebhookEvent(nil), rc.events...), rc.attempts, append([]error(nil), rc.errs...)
}

func (rc *receiver) setStatus(s int) {
	rc.mu.Lock()
	rc.status = s
	rc.mu.Unlock()
}

func newNotifier(t *testing.T, cfg Config) *Notifier {
	t.Helper()
	cfg.APIKey, cfg.APISecret = "webhookkey", testKeys["webhookkey"]
	if cfg.InitialBackoff == 0 {
		cfg.InitialBackoff = time.Millisecond
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func event(i int) *livekit.WebhookEvent {
	return &livekit.WebhookEvent{
		Event:       "participant_joined",
		Id:          fmt.Sprintf("EV_%d", i),
		CreatedAt:   int64(1700000000 + i),
		Room:        &livekit.Room{Name: "r1", Sid: "RM_1"},
		Participant: &livekit.ParticipantInfo{Identity: fmt.Sprintf("p%d", i), Sid: "PA_1"},
	}
}

// waitFor polls cond; the deadline only guards against a hang, nothing is timed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Two backends each get every event, in order, signed so that Verify accepts it.
func TestNotifierDeliversSignedEventsInOrder(t *testing.T) {
	defer goleak.VerifyNone(t)
	rcv1, rcv2 := &receiver{}, &receiver{}
	srv1, srv2 := httptest.NewServer(rcv1), httptest.NewServer(rcv2)
	defer srv1.Close()
	defer srv2.Close()

	n := newNotifier(t, Config{URLs: []string{srv1.URL + "/hook", srv2.URL}})
	const count = 20
	for i := range count {
		n.Notify(event(i))
	}
	if err := n.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, rc := range []*receiver{rcv1, rcv2} {
		events, attempts, errs := rc.snapshot()
		if len(errs) > 0 {
			t.Fatalf("verification failed: %v", errs)
		}
		if len(events) != count || attempts != count {
			t.Fatalf("got %d events in %d attempts, want %d", len(events), attempts, count)
		}
		for i, e := range events {
			if e.Id != fmt.Sprintf("EV_%d", i) || e.Participant.GetIdentity() != fmt.Sprintf("p%d", i) || e.Room.GetName() != "r1" {
				t.Fatalf("event %d: %v", i, e)
			}
		}
		if ct := rc.headers.Get("Content-Type"); ct != "application/webhook+json" {
			t.Errorf("content type %q", ct)
		}
		if a := rc.headers.Get("Authorization"); strings.HasPrefix(a, "Bearer") || strings.Count(a, ".") != 2 {
			t.Errorf("authorization %q: want a bare JWT", a)
		}
	}
	if s := n.Stats(); s != (Stats{Sent: 2 * count}) {
		t.Errorf("stats %+v", s)
	}
}

// A backend that keeps failing gets MaxAttempts tries per event, then the notifier gives up, moves
// on, and tells the backend later through num_dropped.
func TestNotifierRetriesThenGivesUp(t *testing.T) {
	defer goleak.VerifyNone(t)
	rc := &receiver{status: http.StatusServiceUnavailable}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	n := newNotifier(t, Config{URLs: []string{srv.URL}, MaxAttempts: 3})
	defer n.Close(context.Background())

	n.Notify(event(1))
	waitFor(t, "give up", func() bool { return n.Stats().Failed == 1 })
	if _, attempts, _ := rc.snapshot(); attempts != 3 {
		t.Errorf("attempts %d, want 3", attempts)
	}
	if s := n.Stats(); s.Retries != 2 || s.Sent != 0 {
		t.Errorf("stats %+v", s)
	}

	rc.setStatus(0)
	n.Notify(event(2))
	waitFor(t, "delivery", func() bool { return n.Stats().Sent == 1 })
	events, _, _ := rc.snapshot()
	if len(events) != 1 || events[0].Id != "EV_2" || events[0].NumDropped != 1 {
		t.Errorf("events %v", events)
	}
}

// A 4xx other than 408/429 is the receiver's final word: no retry.
func TestNotifierDoesNotRetryClientErrors(t *testing.T) {
	defer goleak.VerifyNone(t)
	rc := &receiver{status: http.StatusBadRequest}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	n := newNotifier(t, Config{URLs: []string{srv.URL}, MaxAttempts: 5})
	n.Notify(event(1))
	waitFor(t, "give up", func() bool { return n.Stats().Failed == 1 })
	if err := n.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, attempts, _ := rc.snapshot(); attempts != 1 {
		t.Errorf("attempts %d, want 1", attempts)
	}
}

// Notify never waits: with the backend stuck, events beyond the queue are dropped and counted, and
// Close gives up at its deadline without leaving goroutines behind.
func TestNotifierDropsWhenFullAndCloseHonoursDeadline(t *testing.T) {
	defer goleak.VerifyNone(t)
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	entered := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case entered <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer unblock()
	n := newNotifier(t, Config{URLs: []string{srv.URL}, QueueSize: 2})

	n.Notify(event(0))
	<-entered // the worker is now inside the first POST
	for i := 1; i <= 10; i++ {
		n.Notify(event(i))
	}
	if s := n.Stats(); s.Dropped != 8 {
		t.Errorf("dropped %d, want 8", s.Dropped)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := n.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("close: %v", err)
	}
	s := n.Stats()
	if s.Sent != 0 || s.Dropped+s.Failed != 11 {
		t.Errorf("stats after close %+v", s)
	}
	n.Notify(event(11)) // after Close: counted, not queued, no panic
	if got := n.Stats().Dropped; got != s.Dropped+1 {
		t.Errorf("dropped after close %d", got)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no urls":   {APIKey: "k", APISecret: "s"},
		"no key":    {URLs: []string{"http://127.0.0.1/"}},
		"bad url":   {URLs: []string{"127.0.0.1:80"}, APIKey: "k", APISecret: "s"},
		"bad sceme": {URLs: []string{"ftp://127.0.0.1/"}, APIKey: "k", APISecret: "s"},
	} {
		if n, err := New(cfg); err == nil {
			_ = n.Close(context.Background())
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestVerifyRejects(t *testing.T) {
	body := []byte(`{"event":"room_started","room":{"name":"r1"}}`)
	good, err := Sign(body, "webhookkey", testKeys["webhookkey"])
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := Sign(body, "webhookkey", "another-secret-of-sufficient-length")
	unknown, _ := Sign(body, "otherkey", "another-secret-of-sufficient-length")
	for _, c := range []struct {
		name, auth string
		body       []byte
		want       error
	}{
		{"no header", "", body, ErrNoAuthHeader},
		{"tampered body", good, []byte(`{"event":"room_started","room":{"name":"r2"}}`), ErrInvalidChecksum},
		{"wrong secret", foreign, body, auth.ErrInvalidSignature},
		{"unknown key", unknown, body, auth.ErrInvalidAPIKey},
	} {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(c.body))
		if c.auth != "" {
			r.Header.Set("Authorization", c.auth)
		}
		if _, err := Verify(r, testKeys); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// The good one passes, with or without a Bearer prefix.
	for _, a := range []string{good, "Bearer " + good} {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set("Authorization", a)
		e, err := Verify(r, testKeys)
		if err != nil || e.Event != "room_started" || e.Room.GetName() != "r1" {
			t.Errorf("%q: %v %v", a[:10], e, err)
		}
	}
}
