// Package webhook delivers the node's lifecycle events to HTTP endpoints in LiveKit's webhook
// format, and checks such deliveries on the receiving side.
//
// Wire format (what LiveKit's server SDKs verify): a POST whose body is the protojson encoding of a
// livekit.WebhookEvent, Content-Type application/webhook+json, and an Authorization header holding
// a bare JWT (no "Bearer") signed with one of the node's API keys, whose sha256 claim is the
// standard base64 of the SHA-256 of the body.
package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/transport/auth"
)

// ContentType is the media type of a webhook body.
const ContentType = "application/webhook+json"

// tokenValidFor is the lifetime of the signing token; LiveKit uses the same five minutes.
const tokenValidFor = 5 * time.Minute

// Config tunes a Notifier. URLs, APIKey and APISecret are required; the zero value of every other
// field has a sensible default.
type Config struct {
	URLs      []string
	APIKey    string
	APISecret string
	// QueueSize is the number of events waiting per URL; beyond it events are dropped and counted
	// (default 256).
	QueueSize int
	// MaxAttempts bounds the deliveries of one event to one URL, the first included (default 5).
	MaxAttempts int
	// InitialBackoff is the wait before the first retry; it doubles per retry up to MaxBackoff
	// (defaults 500 ms and 10 s). Waits get up to 20 % random jitter.
	InitialBackoff, MaxBackoff time.Duration
	// RequestTimeout bounds one POST (default 10 s).
	RequestTimeout time.Duration
	// Client sends the requests (default: a client of its own, so Close can drop its connections).
	Client *http.Client
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.QueueSize <= 0 {
		c.QueueSize = 256
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 5
	}
	if c.InitialBackoff <= 0 {
		c.InitialBackoff = 500 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 10 * time.Second
	}
	if c.MaxBackoff < c.InitialBackoff {
		c.MaxBackoff = c.InitialBackoff
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.Client == nil {
		c.Client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Stats are a Notifier's running totals, over all URLs.
type Stats struct {
	Sent    uint64 // events a receiver accepted (2xx)
	Failed  uint64 // events given up on after retries or a permanent error
	Dropped uint64 // events not queued: queue full or notifier closed
	Retries uint64 // deliveries repeated after a failure
}

// Notifier posts events to every configured URL: one worker goroutine and one bounded queue per URL,
// so that each receiver sees the events in the order they happened and a slow receiver delays only
// itself. Build it with New; stop it with Close.
type Notifier struct {
	cfg     Config
	log     *slog.Logger
	targets []*target
	// closeMu orders Notify against Close: Notify enqueues under the read lock, Close sets closed
	// under the write lock, so no event can slip into a queue after the workers' final drain.
	closeMu sync.RWMutex
	closed  atomic.Bool
	quit    chan struct{} // closed by Close: drain the queues, then exit
	ctx     context.Context
	abort   context.CancelFunc // cancels requests and backoff waits when Close's deadline passes
	wg      sync.WaitGroup
	once    sync.Once

	sent, failed, dropped, retries atomic.Uint64
}

// target is one URL with its queue.
type target struct {
	url   string
	queue chan *livekit.WebhookEvent
	// lost counts this URL's events dropped or failed since its last successful delivery; the
	// next event reports it in num_dropped, as LiveKit does.
	lost atomic.Int32
}

// New validates cfg and starts one worker per URL.
func New(cfg Config) (*Notifier, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("webhook: no URLs")
	}
	if cfg.APIKey == "" || cfg.APISecret == "" {
		return nil, errors.New("webhook: an API key and its secret are required to sign events")
	}
	for _, u := range cfg.URLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return nil, fmt.Errorf("webhook: URL %q: want http(s)://host/...", u)
		}
	}
	cfg = cfg.withDefaults()
	ctx, abort := context.WithCancel(context.Background())
	n := &Notifier{
		cfg:   cfg,
		log:   cfg.Logger.With("component", "webhook"),
		quit:  make(chan struct{}),
		ctx:   ctx,
		abort: abort,
	}
	for _, u := range cfg.URLs {
		t := &target{url: u, queue: make(chan *livekit.WebhookEvent, cfg.QueueSize)}
		n.targets = append(n.targets, t)
		n.wg.Add(1)
		go n.run(t)
	}
	return n, nil
}

// Notify queues e for every URL and returns at once; it has the signature of actors.EventSink.
// The notifier keeps e, so the caller must not change it afterwards. When a URL's queue is full
// the event is dropped for that URL and counted.
func (n *Notifier) Notify(e *livekit.WebhookEvent) {
	if e == nil {
		return
	}
	n.closeMu.RLock()
	defer n.closeMu.RUnlock()
	if n.closed.Load() {
		n.dropped.Add(uint64(len(n.targets)))
		n.log.Warn("webhook event after shutdown began, dropped", "event", e.GetEvent(), "id", e.GetId(), "room", e.GetRoom().GetName())
		return
	}
	for _, t := range n.targets {
		select {
		case t.queue <- e:
		default:
			n.dropped.Add(1)
			// Log the first drop of a run only: this runs inside an actor, and a receiver that
			// is down would otherwise turn every event into a log write.
			if t.lost.Add(1) == 1 {
				n.log.Warn("webhook queue full, dropping events", "url", t.url, "event", e.GetEvent(), "room", e.GetRoom().GetName())
			}
		}
	}
}

// Stats reads the running totals.
func (n *Notifier) Stats() Stats {
	return Stats{Sent: n.sent.Load(), Failed: n.failed.Load(), Dropped: n.dropped.Load(), Retries: n.retries.Load()}
}

// Close stops accepting events and delivers those already queued. When ctx ends first, deliveries
// in progress are aborted and the rest dropped; the error is then ctx's. Either way no goroutine of
// the notifier is left when Close returns.
func (n *Notifier) Close(ctx context.Context) error {
	var err error
	n.once.Do(func() {
		n.closeMu.Lock()
		n.closed.Store(true)
		n.closeMu.Unlock()
		close(n.quit)
		done := make(chan struct{})
		go func() { n.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			err = fmt.Errorf("webhook: delivering queued events: %w", ctx.Err())
			n.abort()
			<-done
		}
		n.abort()
		n.cfg.Client.CloseIdleConnections()
	})
	return err
}

// run is one URL's worker: deliver in order until Close, then what is still queued.
func (n *Notifier) run(t *target) {
	defer n.wg.Done()
	for {
		select {
		case e := <-t.queue:
			n.deliver(t, e)
		case <-n.quit:
			n.drain(t)
			return
		}
	}
}

// drain delivers what is left in t's queue after Close; once Close's deadline has passed the rest
// is dropped, counted and logged (one line with the count and the first event dropped).
func (n *Notifier) drain(t *target) {
	var dropped int
	var first *livekit.WebhookEvent
	for {
		select {
		case e := <-t.queue:
			if n.ctx.Err() != nil {
				n.dropped.Add(1)
				if dropped++; first == nil {
					first = e
				}
				continue
			}
			n.deliver(t, e)
		default:
			if dropped > 0 {
				n.log.Warn("webhook events dropped: shutdown budget spent", "url", t.url, "dropped", dropped,
					"first_event", first.GetEvent(), "first_id", first.GetId(), "room", first.GetRoom().GetName())
			}
			return
		}
	}
}

// deliver posts e to t with retries, and counts the outcome.
func (n *Notifier) deliver(t *target, e *livekit.WebhookEvent) {
	log := n.log.With("url", t.url, "event", e.GetEvent(), "id", e.GetId())
	if r := e.GetRoom().GetName(); r != "" {
		log = log.With("room", r)
	}
	if p := e.GetParticipant().GetIdentity(); p != "" {
		log = log.With("participant", p)
	}
	if tr := e.GetTrack().GetSid(); tr != "" {
		log = log.With("track", tr)
	}
	lost := t.lost.Swap(0)
	body, err := n.encode(e, lost)
	if err != nil {
		n.failed.Add(1)
		log.Error("webhook event not encodable", "err", err)
		return
	}
	backoff := n.cfg.InitialBackoff
	for attempt := 1; ; attempt++ {
		permanent, err := n.post(t.url, body)
		if err == nil {
			n.sent.Add(1)
			log.Debug("webhook sent", "attempt", attempt)
			return
		}
		if permanent || attempt >= n.cfg.MaxAttempts || n.ctx.Err() != nil {
			n.failed.Add(1)
			t.lost.Add(1 + lost)
			log.Warn("webhook failed, giving up", "attempt", attempt, "err", err)
			return
		}
		log.Debug("webhook failed, retrying", "attempt", attempt, "in", backoff, "err", err)
		n.retries.Add(1)
		wait := time.NewTimer(jitter(backoff))
		select {
		case <-wait.C:
		case <-n.ctx.Done():
			wait.Stop()
		}
		backoff = min(2*backoff, n.cfg.MaxBackoff)
	}
}

// jitter adds up to 20 % so that nodes restarting together do not retry in lockstep.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d)/5+1))
}

// encode marshals e with num_dropped set, without touching e (the other URLs' workers read it).
func (n *Notifier) encode(e *livekit.WebhookEvent, dropped int32) ([]byte, error) {
	if dropped != 0 {
		e = proto.Clone(e).(*livekit.WebhookEvent)
		e.NumDropped = dropped
	}
	return protojson.Marshal(e)
}

// post makes one delivery. permanent reports an answer that retrying cannot change (a 4xx other
// than 408 and 429).
func (n *Notifier) post(u string, body []byte) (permanent bool, err error) {
	token, err := Sign(body, n.cfg.APIKey, n.cfg.APISecret)
	if err != nil {
		return true, err
	}
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return true, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Authorization", token)
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("User-Agent", "livekit-server (actor-sfu) webhook")
	res, err := n.cfg.Client.Do(req)
	if err != nil {
		return false, fmt.Errorf("posting: %w", err)
	}
	// Read a little of the body so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4<<10))
	_ = res.Body.Close()
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		return false, nil
	case res.StatusCode == http.StatusRequestTimeout || res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500:
		return false, fmt.Errorf("receiver answered %s", res.Status)
	default:
		return true, fmt.Errorf("receiver answered %s", res.Status)
	}
}

// Sign returns the Authorization value for body: a JWT issued by apiKey, signed with apiSecret,
// whose sha256 claim is base64(SHA-256(body)).
func Sign(body []byte, apiKey, apiSecret string) (string, error) {
	sum := sha256.Sum256(body)
	token, err := auth.NewAccessToken(apiKey, apiSecret).
		SetSha256(base64.StdEncoding.EncodeToString(sum[:])).
		SetValidFor(tokenValidFor).
		ToJWT()
	if err != nil {
		return "", fmt.Errorf("signing webhook: %w", err)
	}
	return token, nil
}
