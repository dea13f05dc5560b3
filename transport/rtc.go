package transport

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// upgrader accepts every origin (livekit-server does too: the token is the access control) and
// offers permessage-deflate.
var upgrader = websocket.Upgrader{
	CheckOrigin:       func(*http.Request) bool { return true },
	EnableCompression: true,
}

// handleRTC serves the v0 signalling WebSocket. Every check LiveKit makes before the upgrade is made
// here before the upgrade too, including the join itself, so that failures reach the client as an
// HTTP status with a text body (the Go SDK reads it from the dial response; browsers ask
// /rtc/validate):
//
//	401 token problems and missing roomJoin    400 empty identity, no room, bad parameters
//	404 room missing and auto-create off       503 limits, shutdown, timeouts    500 anything else
//
// A request that is not an upgrade gets 404. A request with reconnect=1&sid=… resumes that session
// instead of joining (handleResume); one with join_request is single-PC mode, as server-sdk-go's
// WithSinglePeerConnection connects (handleRTCv1).
func (s *Server) handleRTC(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Has("join_request") {
		s.handleRTCv1(w, r)
		return
	}
	req, herr := s.admit(r)
	if herr != nil {
		s.reject(r, herr)
		writeHTTPError(w, herr)
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		writeText(w, http.StatusNotFound, "websocket upgrade required")
		return
	}
	if req.Reconnect && req.ReconnectSID != "" {
		s.handleResume(w, r, req)
		return
	}
	s.joinAndServe(w, r, req)
}

// joinAndServe joins an admitted request, upgrades and serves the connection. first are requests
// the client made inside its join (single-PC mode's add_track requests and offer); they reach the
// participant right after the join, before anything read from the socket.
func (s *Server) joinAndServe(w http.ResponseWriter, r *http.Request, req actors.JoinRequest, first ...*livekit.SignalRequest) {
	sock := newParticipantSocket(s.cfg, s.log.With("room", req.Room, "participant", req.Identity))
	s.configurePing(sock)
	req.Sink = sock
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.JoinTimeout)
	sess, err := s.node.join(ctx, req)
	cancel()
	if err != nil {
		sock.abandon()
		herr := joinHTTPError(err)
		s.reject(r, herr)
		writeHTTPError(w, herr)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		// Upgrade has answered the client already.
		s.log.Info("websocket upgrade failed after join", "room", req.Room, "participant", req.Identity, "err", err)
		sess.Close(true)
		sock.abandon()
		return
	}
	s.log.Info("participant connected", "room", req.Room, "participant", req.Identity, "pID", sess.ParticipantSID(),
		"sdk", req.Client.GetSdk().String(), "version", req.Client.GetVersion(), "protocol", req.Client.GetProtocol(),
		"reconnect", req.Reconnect, "singlePC", req.SinglePC, "remote", r.RemoteAddr)
	for _, m := range first {
		sess.Signal(m)
	}
	s.connStarted()
	defer s.connEnded()
	sock.serve(ws, sess)
}

// handleValidate answers the /rtc checks without joining: 200 "success", or the status and text the
// upgrade would have failed with.
func (s *Server) handleValidate(w http.ResponseWriter, r *http.Request) {
	req, herr := s.admit(r)
	if herr == nil && !s.node.AutoCreate() {
		rooms, err := s.node.ListRooms(r.Context(), []string{req.Room})
		switch {
		case err != nil:
			herr = joinHTTPError(err)
		case len(rooms) == 0:
			herr = joinHTTPError(actors.ErrRoomNotFound)
		}
	}
	if herr != nil {
		s.reject(r, herr)
		writeHTTPError(w, herr)
		return
	}
	writeText(w, http.StatusOK, "success")
}

// reject logs a refused connection attempt: a client's mistake (4xx) at Debug, so that anyone
// without a token cannot fill the log, the node's own trouble (5xx) at Warn. The error text may
// quote what the client sent, so it is clipped.
func (s *Server) reject(r *http.Request, herr *httpError) {
	lvl := s.log.Debug
	if herr.status >= 500 {
		lvl = s.log.Warn
	}
	errText := ""
	if herr.err != nil {
		errText = clipForLog(herr.err.Error())
	}
	lvl("signal connection refused", "path", r.URL.Path, "status", herr.status, "reason", herr.msg, "err", errText, "remote", r.RemoteAddr)
}

// maxLoggedInput is how much of a client-supplied string a log line quotes.
const maxLoggedInput = 200

// clipForLog shortens s to maxLoggedInput bytes (on a rune boundary), saying how much was cut.
func clipForLog(s string) string {
	if len(s) <= maxLoggedInput {
		return s
	}
	cut := maxLoggedInput
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d more bytes)", s[:cut], len(s)-cut)
}

// admit runs every check of /rtc and /rtc/validate that needs no actor and builds the join request
// (without its sink).
func (s *Server) admit(r *http.Request) (actors.JoinRequest, *httpError) {
	tok, err := tokenFromRequest(r)
	if err == nil && tok == "" {
		return actors.JoinRequest{}, newHTTPError(http.StatusUnauthorized, "permissions denied", err)
	}
	if err != nil {
		return actors.JoinRequest{}, authHTTPError(err)
	}
	grants, err := s.verifier.Verify(tok)
	if err != nil {
		return actors.JoinRequest{}, authHTTPError(err)
	}
	if grants.Video == nil || !grants.Video.RoomJoin {
		return actors.JoinRequest{}, newHTTPError(http.StatusUnauthorized, "permissions denied", nil)
	}
	if ne := s.cfg.checkNames(
		nameCheck{identityName, grants.Identity, true},
		nameCheck{roomName, grants.Video.Room, true},
		nameCheck{displayName, grants.Name, false},
	); ne != nil {
		return actors.JoinRequest{}, newHTTPError(http.StatusBadRequest, ne.Error(), nil)
	}

	q := r.URL.Query()
	attrs := make(map[string]string, len(grants.Attributes))
	for k, v := range grants.Attributes {
		attrs[k] = v
	}
	if raw := q.Get("attributes"); raw != "" {
		extra, err := decodeAttributes(raw)
		if err != nil {
			return actors.JoinRequest{}, newHTTPError(http.StatusBadRequest, "invalid attributes: "+err.Error(), err)
		}
		if grants.Video.GetCanUpdateOwnMetadata() {
			for k, v := range extra {
				attrs[k] = v
			}
		} else {
			s.log.Info("ignoring join attributes: token lacks canUpdateOwnMetadata", "participant", grants.Identity, "room", grants.Video.Room)
		}
	}
	return actors.JoinRequest{
		Room:           grants.Video.Room,
		Identity:       grants.Identity,
		Name:           grants.Name,
		Metadata:       grants.Metadata,
		Attributes:     attrs,
		Permission:     grants.ToParticipantPermission(),
		Kind:           grants.ParticipantKind(),
		AutoSubscribe:  boolParam(q, "auto_subscribe", true),
		AdaptiveStream: boolParam(q, "adaptive_stream", false),
		Client:         clientInfo(q, r.RemoteAddr),
		Reconnect:      boolParam(q, "reconnect", false),
		ReconnectSID:   q.Get("sid"),
		MintToken:      s.tokenMinter(grants),
		TokenExpiry:    grants.Expires,
	}, nil
}

// boolParam reads a LiveKit boolean: "1" or "true" is true; absent or empty means def.
func boolParam(q url.Values, name string, def bool) bool {
	v := q.Get(name)
	if v == "" {
		return def
	}
	return v == "1" || strings.EqualFold(v, "true")
}

// intParam reads an integer parameter; anything unparsable is 0.
func intParam(q url.Values, name string) int32 {
	n, _ := strconv.ParseInt(q.Get(name), 10, 32)
	return int32(n)
}

// sdkNames maps the sdk parameter (js, go, reactnative, unity-web, ...) to the proto enum: upper
// case with separators removed.
var sdkNames = func() map[string]livekit.ClientInfo_SDK {
	m := make(map[string]livekit.ClientInfo_SDK, len(livekit.ClientInfo_SDK_value))
	for name, v := range livekit.ClientInfo_SDK_value {
		m[strings.ReplaceAll(name, "_", "")] = livekit.ClientInfo_SDK(v)
	}
	return m
}()

func parseSDK(s string) livekit.ClientInfo_SDK {
	key := strings.NewReplacer("_", "", "-", "").Replace(strings.ToUpper(s))
	return sdkNames[key] // UNKNOWN when absent
}

// clientInfo collects what the query says about the client.
func clientInfo(q url.Values, remoteAddr string) *livekit.ClientInfo {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	return &livekit.ClientInfo{
		Sdk:            parseSDK(q.Get("sdk")),
		Version:        q.Get("version"),
		Protocol:       intParam(q, "protocol"),
		ClientProtocol: intParam(q, "client_protocol"),
		Os:             q.Get("os"),
		OsVersion:      q.Get("os_version"),
		DeviceModel:    q.Get("device_model"),
		Browser:        q.Get("browser"),
		BrowserVersion: q.Get("browser_version"),
		Network:        q.Get("network"),
		Address:        host,
	}
}

// decodeAnyBase64 decodes a query parameter that SDKs send as base64: URL-safe or standard,
// padded or not.
func decodeAnyBase64(raw string) ([]byte, error) {
	var err error
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.RawURLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		var data []byte
		if data, err = enc.DecodeString(raw); err == nil {
			return data, nil
		}
	}
	return nil, fmt.Errorf("not base64: %w", err)
}

// decodeAttributes reads the Go SDK's attributes parameter: URL-safe base64 (padded or not) of a
// JSON object of strings.
func decodeAttributes(raw string) (map[string]string, error) {
	data, err := decodeAnyBase64(raw)
	if err != nil {
		return nil, err
	}
	attrs := map[string]string{}
	if err := json.Unmarshal(data, &attrs); err != nil {
		return nil, fmt.Errorf("not a JSON object of strings: %w", err)
	}
	return attrs, nil
}
