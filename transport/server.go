// Package transport is the node's edge: one http.Handler serving LiveKit's signalling WebSocket
// (/rtc), its validate endpoint, the Twirp RoomService, a health check and debug pages. It turns
// HTTP, WebSocket and JWT into calls on an actors.Node and knows nothing of WebRTC.
package transport

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/transport/auth"
)

// ServerConfig tunes the edge. The zero value of every field has a sensible default.
type ServerConfig struct {
	// MaxSignalMessageSize caps one inbound WebSocket frame (default 1 MiB; simulcast offers run to
	// tens of KB). A larger frame closes the connection with 1009.
	MaxSignalMessageSize int64
	// SignalRateLimit is the sustained number of frames (requests and WebSocket pings) one
	// connection may send per second (default 50); SignalRateBurst is how many it may send at once
	// (default 200). Beyond that the connection is closed with 1008. A negative rate disables it.
	SignalRateLimit float64
	SignalRateBurst int
	// SignalQueueSize is the number of outbound frames one connection may have queued; a client
	// that falls further behind is disconnected (default 256).
	SignalQueueSize int
	// WriteTimeout bounds the write of one frame (default 10 s).
	WriteTimeout time.Duration
	// JoinTimeout bounds Node.Join during the upgrade (default 10 s).
	JoinTimeout time.Duration
	// MaxRoomNameLength, MaxIdentityLength and MaxNameLength cap names taken from tokens and
	// requests (default 256 bytes each); longer ones are refused with 400.
	MaxRoomNameLength, MaxIdentityLength, MaxNameLength int
	// MaxRequestBodySize caps the body of one Room API call (default 1 MiB). A larger declared body
	// is refused with 413 before it is read; a longer streamed one fails as malformed.
	MaxRequestBodySize int64
	// ReadHeaderTimeout bounds reading a request's headers (default 10 s), ReadTimeout reading a
	// whole request, body included (default 30 s), and IdleTimeout how long a kept-alive
	// connection may wait for its next request (default 120 s). When ReadTimeout passes while a
	// handler still runs, net/http cancels the request's context, so it must exceed JoinTimeout
	// (/rtc joins before it upgrades) and the node's request timeout. An upgraded /rtc WebSocket is bound by none of
	// them: the upgrade clears the connection's deadlines, and the socket's own rate limit and the
	// client's pings govern it from then on.
	ReadHeaderTimeout, ReadTimeout, IdleTimeout time.Duration
	// Debug says who may read /debug/ and /debug/actors (default DebugPublic). Unless it is
	// DebugPublic, neither the debug routes nor /metrics carry CORS headers, so no web page on
	// another origin can read them through an operator's browser.
	Debug DebugAccess
	// Metrics, when set, is served at /metrics to anyone who can reach the port; outside
	// development give it a listener of its own instead (see MetricsServer).
	Metrics http.Handler
	// Observer, when set, is told of every signal connection served and every Room API call
	// answered (for LiveKit's connection and request metrics); *Metrics implements it.
	Observer EdgeObserver
}

func (c ServerConfig) withDefaults() ServerConfig {
	if c.MaxSignalMessageSize <= 0 {
		c.MaxSignalMessageSize = 1 << 20
	}
	if c.SignalRateLimit == 0 {
		c.SignalRateLimit = 50
	}
	if c.SignalRateBurst <= 0 {
		c.SignalRateBurst = 200
	}
	if c.SignalQueueSize <= 0 {
		c.SignalQueueSize = 256
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.JoinTimeout <= 0 {
		c.JoinTimeout = 10 * time.Second
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = 10 * time.Second
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 30 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 120 * time.Second
	}
	if c.MaxRequestBodySize <= 0 {
		c.MaxRequestBodySize = 1 << 20
	}
	if c.MaxRoomNameLength <= 0 {
		c.MaxRoomNameLength = 256
	}
	if c.MaxIdentityLength <= 0 {
		c.MaxIdentityLength = 256
	}
	if c.MaxNameLength <= 0 {
		c.MaxNameLength = 256
	}
	return c
}

// backend is what the edge needs from the node. *actors.Node provides it through nodeBackend;
// tests may substitute a fake.
type backend interface {
	CreateRoom(ctx context.Context, req *livekit.CreateRoomRequest) (*livekit.Room, error)
	ListRooms(ctx context.Context, names []string) ([]*livekit.Room, error)
	DeleteRoom(ctx context.Context, room string) error
	ListParticipants(ctx context.Context, room string) ([]*livekit.ParticipantInfo, error)
	GetParticipant(ctx context.Context, room, identity string) (*livekit.ParticipantInfo, error)
	RemoveParticipant(ctx context.Context, room, identity string) error
	MutePublishedTrack(ctx context.Context, req *livekit.MuteRoomTrackRequest) (*livekit.TrackInfo, error)
	UpdateParticipant(ctx context.Context, req *livekit.UpdateParticipantRequest) (*livekit.ParticipantInfo, error)
	UpdateSubscriptions(ctx context.Context, req *livekit.UpdateSubscriptionsRequest) error
	SendData(ctx context.Context, req *livekit.SendDataRequest) error
	UpdateRoomMetadata(ctx context.Context, room, metadata string) (*livekit.Room, error)
	PerformRpc(ctx context.Context, req *livekit.PerformRpcRequest) (string, error)
	// AutoCreate reports whether a join creates a missing room.
	AutoCreate() bool
	Tree() []actors.ActorInfo
	join(ctx context.Context, req actors.JoinRequest) (session, error)
}

// session is the edge's view of actors.Session.
type session interface {
	Signal(req *livekit.SignalRequest)
	Close(abrupt bool)
	ParticipantSID() string
}

// nodeBackend adapts *actors.Node to backend.
type nodeBackend struct{ *actors.Node }

func (b nodeBackend) join(ctx context.Context, req actors.JoinRequest) (session, error) {
	s, err := b.Join(ctx, req)
	if err != nil {
		return nil, err // never a typed nil inside the interface
	}
	return s, nil
}

// Server is the node's HTTP handler. Build it with NewServer.
type Server struct {
	cfg      ServerConfig
	node     backend
	agents   agentBackend // nil when the backend has no agent dispatcher (test fakes)
	verifier *auth.Verifier
	log      *slog.Logger
	handler  http.Handler

	// draining is set by SetDraining when shutdown begins: the health check then fails.
	draining atomic.Bool

	connMu sync.Mutex
	conns  int           // signal connections being served
	idle   chan struct{} // closed and replaced when conns drops to 0
}

// NewServer builds the handler for every route of the node:
//
//	GET  /                                health check: 200 "OK" while serving, 503 once draining
//	GET  /rtc                             signalling WebSocket (two-PeerConnection mode)
//	GET  /rtc/validate                    the /rtc checks without joining: 200 "success" or the error
//	GET  /rtc/v1                          signalling WebSocket, single-PeerConnection mode (join_request)
//	GET  /rtc/v1/validate                 the /rtc/v1 checks without joining
//	POST /twirp/livekit.RoomService/*     Room API
//	GET  /agent                           agent worker WebSocket (token with the agent grant)
//	POST /twirp/livekit.AgentDispatchService/*  agent dispatch API
//	GET  /debug/, /debug/actors           live actor tree (HTML, JSON), as cfg.Debug allows
//	GET  /metrics                         cfg.Metrics, when set
//
// Every route answers CORS requests from any origin, except /debug… and /metrics when cfg.Debug
// is not DebugPublic.
func NewServer(cfg ServerConfig, node *actors.Node, keys auth.KeyProvider, log *slog.Logger) *Server {
	return newServer(cfg, nodeBackend{node}, keys, log)
}

func newServer(cfg ServerConfig, node backend, keys auth.KeyProvider, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{
		cfg:      cfg.withDefaults(),
		node:     node,
		verifier: auth.NewVerifier(keys),
		log:      log.With("component", "transport"),
		idle:     make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleHealth)
	mux.HandleFunc("/rtc", s.handleRTC)
	mux.HandleFunc("/rtc/validate", s.handleValidate)
	mux.HandleFunc("/rtc/v1", s.handleRTCv1)
	mux.HandleFunc("/rtc/v1/validate", s.handleValidateV1)
	mux.Handle(livekit.RoomServicePathPrefix, s.roomServiceHandler())
	if ab, ok := node.(agentBackend); ok {
		s.agents = ab
		mux.HandleFunc("/agent", s.handleAgent)
		mux.Handle(livekit.AgentDispatchServicePathPrefix, s.agentDispatchHandler())
	}
	s.mountDebug(mux)
	if s.cfg.Metrics != nil {
		mux.Handle("GET /metrics", s.cfg.Metrics)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { writeText(w, http.StatusNotFound, "not found") })
	s.handler = withCORS(mux, s.cfg.Debug != DebugPublic)
	return s
}

// SetDraining marks the node as shutting down: from now on the health check (GET /) answers 503,
// so that a load balancer stops routing new sessions here while the running ones are closed.
func (s *Server) SetDraining() { s.draining.Store(true) }

// handleHealth answers GET /: 200 "OK" while serving, 503 "draining" after SetDraining.
func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	if s.draining.Load() {
		writeText(w, http.StatusServiceUnavailable, "draining")
		return
	}
	writeText(w, http.StatusOK, "OK")
}

// connStarted and connEnded count the signal connections being served, for Drain.
func (s *Server) connStarted() {
	if s.cfg.Observer != nil {
		s.cfg.Observer.SignalConnected()
	}
	s.connMu.Lock()
	s.conns++
	s.connMu.Unlock()
}

func (s *Server) connEnded() {
	s.connMu.Lock()
	s.conns--
	if s.conns == 0 {
		close(s.idle)
		s.idle = make(chan struct{})
	}
	s.connMu.Unlock()
}

// Drain waits until every signal connection has ended, or ctx is done. Call it after
// actors.Node.Close: the node then has queued leave{SERVER_SHUTDOWN} on every connection, and
// Drain lets the writers flush it before the process exits. http.Server.Shutdown does not wait for
// hijacked (WebSocket) connections, so without Drain the last frames could be lost.
func (s *Server) Drain(ctx context.Context) error {
	for {
		s.connMu.Lock()
		n, idle := s.conns, s.idle
		s.connMu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return fmt.Errorf("%d signal connections still open: %w", n, ctx.Err())
		}
	}
}

// HTTPServer returns an http.Server for s with the header, read and idle timeouts of its config, so
// that a client cannot hold a connection open by sending its request slowly. It sets no write
// timeout: Room API calls are bounded by the node's request timeout, and a write deadline would
// outlive the upgrade of a long-lived /rtc connection. errorLog may be nil.
func (s *Server) HTTPServer(errorLog *log.Logger) *http.Server {
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          errorLog,
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// withCORS lets browsers on any origin call every route, as livekit-server does: the JS client
// fetches /rtc/validate cross-origin, and a response without Access-Control-Allow-Origin looks to
// it like an unreachable server. OPTIONS requests (preflights) are answered here with 204.
// With privateInternal, the debug and metrics routes get no CORS headers and no preflight answer.
func withCORS(next http.Handler, privateInternal bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if privateInternal && isInternalPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Expose-Headers", "*")
		if r.Method != http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		h.Add("Vary", "Origin")
		h.Add("Vary", "Access-Control-Request-Method")
		h.Add("Vary", "Access-Control-Request-Headers")
		methods := r.Header.Get("Access-Control-Request-Method")
		if methods == "" {
			methods = "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"
		}
		h.Set("Access-Control-Allow-Methods", methods)
		if hdrs := r.Header.Get("Access-Control-Request-Headers"); hdrs != "" {
			h.Set("Access-Control-Allow-Headers", hdrs)
		}
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
	})
}

// writeText answers with a plain-text body.
func writeText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
