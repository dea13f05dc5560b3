package transport

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// Errors returned by participantSocket.Send.
var (
	errSinkClosed = errors.New("signal connection is closed")
	errQueueFull  = errors.New("signal queue is full")
)

// closeControlTimeout bounds the write of a close frame.
const closeControlTimeout = time.Second

// participantSocket is the server side of one participant's signalling WebSocket. It is the
// participant's actors.SignalSink: actors push responses into a bounded queue without ever
// blocking, and one writer goroutine turns them into frames. The handler goroutine runs the read loop and hands decoded requests to the session.
//
// Frames are binary protobuf. If the client ever sends a text frame, the connection switches to
// protojson text frames for everything it writes afterwards (LiveKit's behaviour).
//
// Lifecycle: Close (from the actor) flushes the queue and then closes with 1000; an overflowing
// queue, a malformed request or a write error kills the socket at once with a close reason; the
// read loop ending tells the session, with abrupt=true unless a leave was received or the actor
// itself closed the connection.
type participantSocket struct {
	cfg ServerConfig
	log *slog.Logger
	// pingInterval is how often the writer sends a WebSocket ping; pingTimeout how long the
	// connection may stay silent (no frame, no pong) before it counts as gone. Zero: neither.
	pingInterval, pingTimeout time.Duration

	queue    chan *livekit.SignalResponse
	draining chan struct{} // closed by Close: flush the queue, then close
	dead     chan struct{} // closed once the connection is finished for good

	drainOnce sync.Once
	deadOnce  sync.Once
	jsonMode  atomic.Bool

	mu          sync.Mutex // guards ws, closeCode and closeReason
	ws          *websocket.Conn
	closeCode   int
	closeReason string
}

var _ actors.SignalSink = (*participantSocket)(nil)

// newParticipantSocket returns a socket with an empty queue; serve binds it to the upgraded
// WebSocket.
func newParticipantSocket(cfg ServerConfig, log *slog.Logger) *participantSocket {
	return &participantSocket{
		cfg:      cfg,
		log:      log,
		queue:    make(chan *livekit.SignalResponse, cfg.SignalQueueSize),
		draining: make(chan struct{}),
		dead:     make(chan struct{}),
	}
}

// Send queues one response. It never blocks: when the queue is full the client is too slow to
// follow the room, and the connection is closed (1013 try again later) rather than stalling the
// actor that sends.
func (c *participantSocket) Send(m *livekit.SignalResponse) error {
	if m == nil {
		return nil
	}
	select {
	case <-c.dead:
		return errSinkClosed
	case <-c.draining:
		return errSinkClosed
	default:
	}
	select {
	case c.queue <- m:
		return nil
	default:
		c.log.Warn("signal queue overflow; closing connection", "queued", len(c.queue))
		c.kill(websocket.CloseTryAgainLater, "signal queue overflow")
		return errQueueFull
	}
}

// Close flushes what is queued, then closes the connection normally. Further Sends fail.
func (c *participantSocket) Close() {
	c.drainOnce.Do(func() { close(c.draining) })
}

// drainRequested reports whether Close was called.
func (c *participantSocket) drainRequested() bool {
	select {
	case <-c.draining:
		return true
	default:
		return false
	}
}

// kill ends the connection now, telling the client why with a close frame. Only the first call
// counts. Before the socket exists (join or upgrade failed) it just marks the connection dead.
func (c *participantSocket) kill(code int, reason string) {
	c.deadOnce.Do(func() {
		c.mu.Lock()
		c.closeCode, c.closeReason = code, reason
		ws := c.ws
		close(c.dead)
		c.mu.Unlock()
		if ws != nil {
			closeWS(ws, code, reason)
		}
	})
}

// refuseInput ends the connection because of what the client sent. Unlike kill it completes the
// close handshake: it sends the close frame, then reads and discards whatever the client still has
// in flight (the rest of an oversized frame, a flood) until the client's own close frame or a
// second passes. Closing with unread input would make the kernel reset the connection, and the
// reset can destroy the close frame before the client reads it.
func (c *participantSocket) refuseInput(ws *websocket.Conn, code int, reason string) {
	first := false
	c.deadOnce.Do(func() {
		first = true
		c.mu.Lock()
		c.closeCode, c.closeReason = code, reason
		close(c.dead)
		c.mu.Unlock()
	})
	if !first {
		return
	}
	deadline := time.Now().Add(closeControlTimeout)
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), deadline)
	_ = ws.SetReadDeadline(deadline)
	for {
		if _, _, err := ws.NextReader(); err != nil {
			break
		}
	}
	_ = ws.Close()
}

// abandon drops a connection whose socket never came to be.
func (c *participantSocket) abandon() { c.kill(websocket.CloseGoingAway, "") }

func closeWS(ws *websocket.Conn, code int, reason string) {
	msg := websocket.FormatCloseMessage(code, reason)
	_ = ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeControlTimeout))
	_ = ws.Close()
}

// attach binds the upgraded socket. If the connection died in between, the socket is closed at once.
func (c *participantSocket) attach(ws *websocket.Conn) {
	c.mu.Lock()
	c.ws = ws
	code, reason := c.closeCode, c.closeReason
	c.mu.Unlock()
	select {
	case <-c.dead:
		closeWS(ws, code, reason)
	default:
	}
}

// serve runs the connection until it ends: a writer goroutine drains the queue while this goroutine
// reads. It returns after the session has been told and the writer has stopped.
func (c *participantSocket) serve(ws *websocket.Conn, sess session) {
	c.attach(ws)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		defer c.recoverWriter()
		c.writeLoop(ws)
	}()
	leave := c.readLoop(ws, sess)
	// abrupt means "the client vanished": neither did it say leave, nor did the actor close the
	// connection on purpose (Close). A kill for overflow or a protocol error counts as abrupt.
	abrupt := !leave && !c.drainRequested()
	c.kill(websocket.CloseNormalClosure, "") // Sends fail from here on
	sess.Close(abrupt)
	<-writerDone
	c.log.Info("participant disconnected", "pID", sess.ParticipantSID(), "leave", leave)
}

// readLoop decodes requests until the socket fails. It reports whether a leave request was seen.
//
// Three kinds of bad input end the connection with a close frame that says why: a frame larger than
// MaxSignalMessageSize (1009), a frame that does not decode (1003), and more requests than the
// per-connection rate allows (1008). Dropping excess requests instead would desynchronise
// negotiation (a lost answer or trickle leaves a PeerConnection half set up), so a client that
// floods is told and cut off; well-behaved clients send a few requests a second.
func (c *participantSocket) readLoop(ws *websocket.Conn, sess session) (leave bool) {
	limiter := newRateLimiter(c.cfg.SignalRateLimit, c.cfg.SignalRateBurst, time.Now())
	// WebSocket pings count against the same budget: each one costs the node a pong.
	ws.SetPingHandler(func(appData string) error {
		select {
		case <-c.dead:
			return nil // closing: no more pongs
		default:
		}
		if !limiter.allow(time.Now()) {
			return errRateLimited
		}
		err := ws.WriteControl(websocket.PongMessage, []byte(appData), time.Now().Add(closeControlTimeout))
		if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
			return err
		}
		return nil
	})
	c.extendReadDeadline(ws)
	ws.SetPongHandler(func(string) error { c.extendReadDeadline(ws); return nil })
	for {
		mt, data, err := readFrame(ws, c.cfg.MaxSignalMessageSize)
		c.extendReadDeadline(ws)
		if err == nil && !limiter.allow(time.Now()) {
			err = errRateLimited
		}
		switch {
		case errors.Is(err, errFrameTooLarge):
			c.log.Warn("signal frame too large; closing connection", "limit", c.cfg.MaxSignalMessageSize)
			c.refuseInput(ws, websocket.CloseMessageTooBig, fmt.Sprintf("signal message exceeds %d bytes", c.cfg.MaxSignalMessageSize))
			return leave
		case errors.Is(err, errRateLimited):
			c.log.Warn("signal rate limit exceeded; closing connection", "rate", c.cfg.SignalRateLimit, "burst", c.cfg.SignalRateBurst)
			c.refuseInput(ws, websocket.ClosePolicyViolation, "signal rate limit exceeded")
			return leave
		}
		if err != nil {
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
				select {
				case <-c.dead: // we closed it
				default:
					c.log.Debug("signal read ended", "err", err)
				}
			}
			return leave
		}
		if mt == websocket.TextMessage && !c.jsonMode.Swap(true) {
			c.log.Debug("client sent a text frame; switching connection to JSON")
		}
		req, err := decodeSignalRequest(mt, data)
		if err != nil {
			c.log.Warn("malformed signal request; closing connection", "err", err, "bytes", len(data))
			c.refuseInput(ws, websocket.CloseUnsupportedData, "malformed signal request")
			return leave
		}
		if req.GetMessage() == nil {
			// An empty request, or a variant newer than our proto: tell the client, keep the session.
			c.log.Debug("signal request without a known message")
			_ = c.Send(&livekit.SignalResponse{Message: &livekit.SignalResponse_RequestResponse{RequestResponse: &livekit.RequestResponse{
				Reason: livekit.RequestResponse_UNSUPPORTED_TYPE, Message: "unsupported signal request",
			}}})
			continue
		}
		if _, ok := req.GetMessage().(*livekit.SignalRequest_Leave); ok {
			leave = true
		}
		sess.Signal(req)
	}
}

// extendReadDeadline gives the client another pingTimeout to send something: a client that is
// silent for that long (no request, no ping, no pong to the writer's pings) is treated as gone,
// and its session waits for a resume.
func (c *participantSocket) extendReadDeadline(ws *websocket.Conn) {
	if c.pingTimeout > 0 {
		_ = ws.SetReadDeadline(time.Now().Add(c.pingTimeout))
	}
}

// Read-side failures that end a connection with a specific close code.
var (
	// errFrameTooLarge: an inbound frame is longer than MaxSignalMessageSize.
	errFrameTooLarge = errors.New("signal frame too large")
	// errRateLimited: the client sent more frames than its rate allows.
	errRateLimited = errors.New("signal rate limit exceeded")
)

// readFrame reads one whole message of at most limit bytes. It reads through a bounded reader
// rather than gorilla's SetReadLimit so that the close frame can carry a reason; a frame that
// announces more than limit bytes is never buffered beyond limit+1.
func readFrame(ws *websocket.Conn, limit int64) (int, []byte, error) {
	mt, r, err := ws.NextReader()
	if err != nil {
		return 0, nil, err
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return 0, nil, err
	}
	if int64(len(data)) > limit {
		return 0, nil, errFrameTooLarge
	}
	return mt, data, nil
}

// decodeSignalRequest decodes one frame: binary frames are protobuf, text frames protojson
// (unknown JSON fields are ignored, as protobuf ignores unknown fields).
func decodeSignalRequest(mt int, data []byte) (*livekit.SignalRequest, error) {
	req := &livekit.SignalRequest{}
	var err error
	switch mt {
	case websocket.BinaryMessage:
		err = proto.Unmarshal(data, req)
	case websocket.TextMessage:
		err = protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(data, req)
	default:
		err = fmt.Errorf("websocket message type %d", mt)
	}
	if err != nil {
		return nil, fmt.Errorf("decoding signal request: %w", err)
	}
	return req, nil
}

// rateLimiter is a token bucket: burst requests at once, then rate per second. It is used by one
// goroutine only. A rate <= 0 disables it.
type rateLimiter struct {
	rate, burst, tokens float64
	last                time.Time
}

func newRateLimiter(rate float64, burst int, now time.Time) *rateLimiter {
	return &rateLimiter{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

// allow takes one token if there is one.
func (l *rateLimiter) allow(now time.Time) bool {
	if l.rate <= 0 {
		return true
	}
	if el := now.Sub(l.last).Seconds(); el > 0 {
		l.tokens = min(l.burst, l.tokens+el*l.rate)
		l.last = now
	}
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}

// recoverWriter turns a panic on the writer goroutine, which no actor or HTTP server supervises,
// into the end of this one connection: the client is told (1011) and may resume; the process and
// every other participant live on.
func (c *participantSocket) recoverWriter() {
	if v := recover(); v != nil {
		c.log.Error("signal writer panicked; closing the connection", "panic", v, "stack", string(debug.Stack()))
		c.kill(websocket.CloseInternalServerErr, "internal error")
	}
}

// writeLoop is the only writer of data frames on ws. It also pings every pingInterval, so that
// clients that send nothing on their own (server-sdk-go has no signal pings) answer with pongs
// and stay within the read deadline.
func (c *participantSocket) writeLoop(ws *websocket.Conn) {
	var ping <-chan time.Time
	if c.pingInterval > 0 && c.pingTimeout > 0 {
		t := time.NewTicker(c.pingInterval)
		defer t.Stop()
		ping = t.C
	}
	for {
		select {
		case <-ping:
			if err := ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.cfg.WriteTimeout)); err != nil {
				c.kill(websocket.CloseInternalServerErr, "write failed")
				return
			}
		case m := <-c.queue:
			if !c.write(ws, m) {
				return
			}
		case <-c.draining:
			if c.flush(ws) {
				c.kill(websocket.CloseNormalClosure, "")
			}
			return
		case <-c.dead:
			return
		}
	}
}

// flush writes whatever is queued. It returns false if the socket broke.
func (c *participantSocket) flush(ws *websocket.Conn) bool {
	for {
		select {
		case m := <-c.queue:
			if !c.write(ws, m) {
				return false
			}
		default:
			return true
		}
	}
}

// write sends one frame. It returns false when the socket is broken (and then kills it).
func (c *participantSocket) write(ws *websocket.Conn, m *livekit.SignalResponse) bool {
	var (
		data []byte
		err  error
		mt   = websocket.BinaryMessage
	)
	if c.jsonMode.Load() {
		mt = websocket.TextMessage
		data, err = protojson.Marshal(m)
	} else {
		data, err = proto.Marshal(m)
	}
	if err != nil {
		c.log.Error("cannot encode signal response; dropped", "err", err)
		return true
	}
	_ = ws.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
	if err := ws.WriteMessage(mt, data); err != nil {
		select {
		case <-c.dead:
		default:
			c.log.Info("signal write failed; closing connection", "err", err)
		}
		c.kill(websocket.CloseInternalServerErr, "write failed")
		return false
	}
	return true
}
