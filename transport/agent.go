package transport

// The /agent WebSocket: LiveKit's agent worker protocol. A worker authenticates with a token
// carrying the video grant agent=true, registers, and then answers job offers. Frames are binary
// protobuf: WorkerMessage up, ServerMessage down.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/transport/auth"
)

// agentBackend is what the agent edge needs from the node; *actors.Node provides it.
type agentBackend interface {
	RegisterAgentWorker(ctx context.Context, c actors.AgentWorkerConn) (*actors.AgentWorker, error)
	CreateAgentDispatch(ctx context.Context, req *livekit.CreateAgentDispatchRequest) (*livekit.AgentDispatch, error)
	DeleteAgentDispatch(ctx context.Context, room, id string) (*livekit.AgentDispatch, error)
	ListAgentDispatch(ctx context.Context, room, id string) ([]*livekit.AgentDispatch, error)
}

const (
	// agentRegisterTimeout is how long a worker has to send its register message (LiveKit: 10 s).
	agentRegisterTimeout = 10 * time.Second
	// agentKeepalive is the interval of the node's WebSocket pings; a worker whose socket answers
	// nothing (no pong, no message) for three of them is dropped.
	agentKeepalive = 10 * time.Second
	// agentTokenTTL is the validity of a job participant's token (LiveKit: 1 h).
	agentTokenTTL = time.Hour
)

// handleAgent serves GET /agent.
func (s *Server) handleAgent(w http.ResponseWriter, r *http.Request) {
	grants, herr := s.agentGrants(r)
	if herr != nil {
		s.log.Debug("agent worker refused", "remote", r.RemoteAddr, "err", herr.err)
		writeHTTPError(w, herr)
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		writeText(w, http.StatusNotFound, "websocket upgrade required")
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the client
	}
	c := &agentConn{
		s: s, ws: ws, log: s.log.With("component", "agent", "remote", r.RemoteAddr),
		out: make(chan *livekit.ServerMessage, s.cfg.SignalQueueSize), done: make(chan struct{}),
	}
	c.serve(r.Context(), grants.APIKey, agentURL(r))
}

// agentGrants verifies the request's token and its agent grant.
func (s *Server) agentGrants(r *http.Request) (*auth.ClaimGrants, *httpError) {
	tok, err := tokenFromRequest(r)
	if err == nil && tok == "" {
		err = auth.ErrMissingToken
	}
	var grants *auth.ClaimGrants
	if err == nil {
		grants, err = s.verifier.Verify(tok)
	}
	if err != nil {
		return nil, authHTTPError(err)
	}
	if grants.Video == nil || !grants.Video.Agent {
		return nil, newHTTPError(http.StatusUnauthorized, "no permissions to access the room", errors.New("token lacks the agent grant"))
	}
	return grants, nil
}

// agentURL is the node's WebSocket URL as the worker reached it.
func agentURL(r *http.Request) string {
	scheme := "ws"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "wss"
	}
	return scheme + "://" + r.Host
}

// agentConn is one worker's WebSocket: a reader (serve) and a writer goroutine that drains out.
type agentConn struct {
	s    *Server
	ws   *websocket.Conn
	log  *slog.Logger
	out  chan *livekit.ServerMessage
	done chan struct{} // closed by stop: the writer ends and the reader's socket is closed
	once sync.Once
}

// serve registers the worker and relays its messages until the socket ends.
func (c *agentConn) serve(ctx context.Context, apiKey, url string) {
	c.ws.SetReadLimit(c.s.cfg.MaxSignalMessageSize)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	defer func() {
		c.stop()
		<-writerDone
		_ = c.ws.Close()
	}()
	reg, err := c.readRegister()
	if err != nil {
		c.log.Info("agent worker did not register", "err", err)
		return
	}
	rctx, cancel := context.WithTimeout(ctx, c.s.cfg.JoinTimeout)
	worker, err := c.s.agents.RegisterAgentWorker(rctx, actors.AgentWorkerConn{
		Register: reg, URL: url, Mint: c.s.agentTokenMinter(apiKey), Send: c.send, Disconnect: c.stop,
	})
	cancel()
	if err != nil {
		c.log.Info("agent worker registration refused", "err", err)
		c.closeWith(websocket.ClosePolicyViolation, "registration refused")
		return
	}
	defer worker.Close()
	c.log = c.log.With("worker", worker.ID())
	c.readLoop(worker)
}

// readRegister reads the first message, which must be register.
func (c *agentConn) readRegister() (*livekit.RegisterWorkerRequest, error) {
	_ = c.ws.SetReadDeadline(time.Now().Add(agentRegisterTimeout))
	msg, err := c.read()
	if err != nil {
		return nil, err
	}
	reg := msg.GetRegister()
	if reg == nil {
		c.closeWith(websocket.ClosePolicyViolation, "register first")
		return nil, fmt.Errorf("first message is %T, want register", msg.GetMessage())
	}
	return reg, nil
}

// readLoop relays the worker's messages; pings are answered here.
func (c *agentConn) readLoop(worker *actors.AgentWorker) {
	extend := func() { _ = c.ws.SetReadDeadline(time.Now().Add(3 * agentKeepalive)) }
	extend()
	c.ws.SetPongHandler(func(string) error { extend(); return nil })
	for {
		msg, err := c.read()
		if err != nil {
			c.log.Debug("agent worker socket ended", "err", err)
			return
		}
		extend()
		switch m := msg.GetMessage().(type) {
		case *livekit.WorkerMessage_Ping:
			c.send(&livekit.ServerMessage{Message: &livekit.ServerMessage_Pong{Pong: &livekit.WorkerPong{
				LastTimestamp: m.Ping.GetTimestamp(), Timestamp: time.Now().UnixMilli(),
			}}})
		case *livekit.WorkerMessage_Register:
			c.log.Debug("agent worker registered twice; ignored")
		default:
			worker.Handle(msg)
		}
	}
}

// read reads one binary frame as a WorkerMessage.
func (c *agentConn) read() (*livekit.WorkerMessage, error) {
	for {
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			return nil, fmt.Errorf("reading a worker frame: %w", err)
		}
		if typ != websocket.BinaryMessage {
			continue // the protocol is binary only; text frames carry nothing we read
		}
		msg := &livekit.WorkerMessage{}
		if err := proto.Unmarshal(data, msg); err != nil {
			c.closeWith(websocket.CloseUnsupportedData, "malformed message")
			return nil, fmt.Errorf("decoding a worker frame: %w", err)
		}
		return msg, nil
	}
}

// send queues msg without blocking; a worker too far behind is dropped.
func (c *agentConn) send(msg *livekit.ServerMessage) {
	select {
	case <-c.done:
	case c.out <- msg:
	default:
		c.log.Warn("agent worker is not reading; dropping it", "queued", len(c.out))
		c.stop()
	}
}

// stop ends the connection: the writer stops and the reader's next read fails. Safe to call
// more than once and from any goroutine.
func (c *agentConn) stop() {
	c.once.Do(func() {
		close(c.done)
		_ = c.ws.NetConn().Close() // the reader's pending read fails at once
	})
}

// closeWith sends a close frame (best effort) and stops the connection.
func (c *agentConn) closeWith(code int, reason string) {
	msg := websocket.FormatCloseMessage(code, reason)
	_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	c.stop()
}

// writeLoop writes queued messages and keepalive pings until stop.
func (c *agentConn) writeLoop() {
	ping := time.NewTicker(agentKeepalive)
	defer ping.Stop()
	for {
		select {
		case <-c.done:
			return
		case msg := <-c.out:
			data, err := proto.Marshal(msg)
			if err == nil {
				_ = c.ws.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
				err = c.ws.WriteMessage(websocket.BinaryMessage, data)
			}
			if err != nil {
				c.log.Debug("writing to an agent worker", "err", err)
				c.stop()
				return
			}
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.s.cfg.WriteTimeout)); err != nil {
				c.stop()
				return
			}
		}
	}
}

// agentTokenMinter signs job participants' tokens with the API key the worker connected with,
// as LiveKit's BuildAgentToken does: kind agent, the agent grant, the worker's permissions, and
// the lk.agent_name attribute.
func (s *Server) agentTokenMinter(apiKey string) actors.AgentTokenMinter {
	return func(c actors.AgentTokenClaims) (string, error) {
		at, err := s.verifier.NewAccessToken(apiKey)
		if err != nil {
			return "", fmt.Errorf("agent token for %q: %w", c.Identity, err)
		}
		p := c.Permission
		grant := &auth.VideoGrant{
			RoomJoin: true, Room: c.Room, Agent: true, Hidden: p.GetHidden(),
			CanSubscribe: auth.BoolPtr(p.GetCanSubscribe()), CanPublish: auth.BoolPtr(p.GetCanPublish()),
			CanPublishData:       auth.BoolPtr(p.GetCanPublishData()),
			CanUpdateOwnMetadata: auth.BoolPtr(p.GetCanUpdateMetadata()),
			CanSubscribeMetrics:  auth.BoolPtr(p.GetCanSubscribeMetrics()),
		}
		attrs := maps.Clone(c.Attributes)
		if attrs == nil {
			attrs = map[string]string{}
		}
		attrs["lk.agent_name"] = c.AgentName
		tok, err := at.SetIdentity(c.Identity).SetName(c.Name).SetMetadata(c.Metadata).SetAttributes(attrs).
			SetKind("agent").SetVideoGrant(grant).SetValidFor(agentTokenTTL).ToJWT()
		if err != nil {
			return "", fmt.Errorf("agent token for %q: %w", c.Identity, err)
		}
		return tok, nil
	}
}
