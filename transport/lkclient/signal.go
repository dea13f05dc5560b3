package lkclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	livekit "github.com/actor-sfu/livekit-server/proto/livekit"
)

const (
	signalReadLimit    = 4 << 20
	signalWriteTimeout = 5 * time.Second
)

// signalConn is the WebSocket carrying SignalRequest up and SignalResponse down.
// Writes are serialised; reads happen on one goroutine.
type signalConn struct {
	ws      *websocket.Conn
	json    bool
	writeMu sync.Mutex
}

// RTCURL builds the v0 /rtc URL for a server URL (ws, wss, http or https;
// any path is kept and "/rtc" appended), as Join uses it. The token is
// included only when bearer is false.
func RTCURL(serverURL, token string, opts Options) (string, error) {
	opts = opts.withDefaults()
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("parse server url: %w", err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("server url %q: scheme must be ws, wss, http or https", serverURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/rtc"
	q := url.Values{}
	if !opts.BearerHeader {
		q.Set("access_token", token)
	}
	q.Set("auto_subscribe", boolParam(!opts.NoAutoSubscribe))
	q.Set("sdk", opts.SDK)
	q.Set("version", opts.Version)
	q.Set("protocol", strconv.Itoa(ProtocolVersion))
	q.Set("os", "linux")
	if opts.AdaptiveStream {
		q.Set("adaptive_stream", "1")
	}
	for k, vs := range opts.ExtraQuery {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func boolParam(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// dialSignal opens the WebSocket; a refused upgrade becomes *HTTPError.
func dialSignal(ctx context.Context, serverURL, token string, opts Options) (*signalConn, error) {
	u, err := RTCURL(serverURL, token, opts)
	if err != nil {
		return nil, err
	}
	hdr := http.Header{}
	if opts.BearerHeader {
		hdr.Set("Authorization", "Bearer "+token)
	}
	d := websocket.Dialer{HandshakeTimeout: opts.ConnectTimeout, ReadBufferSize: 64 << 10, WriteBufferSize: 64 << 10}
	ws, resp, err := d.DialContext(ctx, u, hdr)
	if err != nil {
		if resp != nil {
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			return nil, &HTTPError{StatusCode: resp.StatusCode, Body: strings.TrimSpace(string(body))}
		}
		return nil, fmt.Errorf("dial %s: %w", redactToken(u), err)
	}
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	ws.SetReadLimit(signalReadLimit)
	return &signalConn{ws: ws, json: opts.JSON}, nil
}

// redactToken hides the access token in URLs that end up in errors or logs.
func redactToken(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	if q.Has("access_token") {
		q.Set("access_token", "REDACTED")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// EncodeRequest marshals a request the way the client sends it: binary
// protobuf, or protojson text when json is true. It returns the WebSocket
// message type to use.
func EncodeRequest(req *livekit.SignalRequest, json bool) (int, []byte, error) {
	if json {
		b, err := protojson.Marshal(req)
		return websocket.TextMessage, b, err
	}
	b, err := proto.Marshal(req)
	return websocket.BinaryMessage, b, err
}

// DecodeResponse unmarshals one server frame of the given WebSocket message type.
func DecodeResponse(messageType int, data []byte) (*livekit.SignalResponse, error) {
	res := &livekit.SignalResponse{}
	var err error
	switch messageType {
	case websocket.TextMessage:
		err = protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(data, res)
	case websocket.BinaryMessage:
		err = proto.Unmarshal(data, res)
	default:
		err = fmt.Errorf("unexpected websocket message type %d", messageType)
	}
	if err != nil {
		return nil, fmt.Errorf("decode signal response: %w", err)
	}
	return res, nil
}

// send writes one request.
func (s *signalConn) send(req *livekit.SignalRequest) error {
	mt, b, err := EncodeRequest(req, s.json)
	if err != nil {
		return fmt.Errorf("encode signal request: %w", err)
	}
	return s.sendRaw(mt, b)
}

// sendRaw writes one frame as is.
func (s *signalConn) sendRaw(messageType int, b []byte) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	_ = s.ws.SetWriteDeadline(time.Now().Add(signalWriteTimeout))
	if err := s.ws.WriteMessage(messageType, b); err != nil {
		return fmt.Errorf("write signal: %w", err)
	}
	return nil
}

// read returns the next response; deadline zero means none.
func (s *signalConn) read(deadline time.Time) (*livekit.SignalResponse, error) {
	_ = s.ws.SetReadDeadline(deadline)
	mt, b, err := s.ws.ReadMessage()
	if err != nil {
		return nil, fmt.Errorf("read signal: %w", err)
	}
	return DecodeResponse(mt, b)
}

// closeGracefully sends a close frame, then closes the socket.
func (s *signalConn) closeGracefully() {
	s.writeMu.Lock()
	_ = s.ws.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	s.writeMu.Unlock()
	_ = s.ws.Close()
}

// close drops the socket without a close frame.
func (s *signalConn) close() { _ = s.ws.Close() }

// isClosedErr reports errors that just mean the socket is gone.
func isClosedErr(err error) bool {
	var ce *websocket.CloseError
	return errors.As(err, &ce) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		strings.Contains(err.Error(), "use of closed network connection")
}
