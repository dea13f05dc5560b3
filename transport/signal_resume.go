package transport

// The resume half of /rtc: a client whose signalling connection dropped comes back with the
// query of its join plus reconnect=1&sid=PA_…, and its session continues on the new socket.

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// resumer is the part of the backend that resumes sessions; *actors.Node provides it.
type resumer interface {
	resume(ctx context.Context, req actors.ResumeRequest) (session, error)
}

func (b nodeBackend) resume(ctx context.Context, req actors.ResumeRequest) (session, error) {
	s, err := b.Resume(ctx, req)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// pinger is the part of the backend that says how clients are told to ping.
type pinger interface {
	PingTimeouts() (interval, timeout time.Duration)
}

// handleResume serves a resume request whose token admit has accepted. As LiveKit does it
// upgrades first and answers on the socket: the first frame is ReconnectResponse and the session
// goes on, or, when there is no live session of that sid for the token's identity, the only frame
// is leave{STATE_MISMATCH, RECONNECT} and the socket closes. An HTTP error would make
// livekit-client keep resuming instead of joining afresh. first are requests the client made
// inside a single-PC resume's join_request (its offer); they follow the ReconnectResponse.
func (s *Server) handleResume(w http.ResponseWriter, r *http.Request, req actors.JoinRequest, first ...*livekit.SignalRequest) {
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.log.Info("websocket upgrade failed on resume", "room", req.Room, "participant", req.Identity, "err", err)
		return
	}
	log := s.log.With("room", req.Room, "participant", req.Identity, "pID", req.ReconnectSID)
	res, ok := s.node.(resumer)
	if !ok {
		refuseResume(ws)
		return
	}
	sock := newParticipantSocket(s.cfg, s.log.With("room", req.Room, "participant", req.Identity))
	s.configurePing(sock)
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.JoinTimeout)
	sess, err := res.resume(ctx, actors.ResumeRequest{
		Room: req.Room, Identity: req.Identity, SID: req.ReconnectSID, Client: req.Client, Sink: sock,
		MintToken: req.MintToken, TokenExpiry: req.TokenExpiry,
	})
	cancel()
	if err != nil {
		log.Info("resume refused; client must reconnect", "err", err, "remote", r.RemoteAddr)
		sock.abandon()
		refuseResume(ws)
		return
	}
	log.Info("participant resumed", "sdk", req.Client.GetSdk().String(), "version", req.Client.GetVersion(), "remote", r.RemoteAddr)
	for _, m := range first {
		sess.Signal(m)
	}
	s.connStarted()
	defer s.connEnded()
	sock.serve(ws, sess)
}

// refuseResume sends leave{STATE_MISMATCH, RECONNECT} as the only frame and closes the socket.
func refuseResume(ws *websocket.Conn) {
	data, err := proto.Marshal(&livekit.SignalResponse{Message: &livekit.SignalResponse_Leave{Leave: &livekit.LeaveRequest{
		CanReconnect: true, // what clients of protocol < 13 read instead of action
		Reason:       livekit.DisconnectReason_STATE_MISMATCH,
		Action:       livekit.LeaveRequest_RECONNECT,
	}}})
	if err == nil {
		_ = ws.SetWriteDeadline(time.Now().Add(closeControlTimeout))
		_ = ws.WriteMessage(websocket.BinaryMessage, data)
	}
	closeWS(ws, websocket.CloseNormalClosure, "")
}

// configurePing gives a socket the node's ping interval and timeout, when the backend has them.
func (s *Server) configurePing(sock *participantSocket) {
	if p, ok := s.node.(pinger); ok {
		sock.pingInterval, sock.pingTimeout = p.PingTimeouts()
	}
}
