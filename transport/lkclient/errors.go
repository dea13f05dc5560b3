package lkclient

import (
	"errors"
	"fmt"

	livekit "github.com/actor-sfu/livekit-server/proto/livekit"
)

var (
	// ErrClosed is returned by calls on a client that has been closed, and by
	// Err after Leave or Close.
	ErrClosed = errors.New("lkclient: client closed")
	// ErrNoJoinResponse is returned by Join when the first frame is not a join.
	ErrNoJoinResponse = errors.New("lkclient: did not receive join response")
	// ErrNoReconnectResponse is returned by Resume when the first frame is neither reconnect nor leave.
	ErrNoReconnectResponse = errors.New("lkclient: did not receive reconnect response")
	// ErrPublishTimeout is returned by PublishTrack when track_published does not arrive in time.
	ErrPublishTimeout = errors.New("lkclient: publication of local track timed out")
	// ErrNotFound is returned when a local track or data channel is unknown.
	ErrNotFound = errors.New("lkclient: not found")
	// ErrUnsupportedCodec is returned by PublishTrack for codecs it cannot publish.
	ErrUnsupportedCodec = errors.New("lkclient: unsupported codec")
	// ErrWrongTrackMode is returned when WriteSample is used on a raw-RTP track or WriteRTP on a sample track.
	ErrWrongTrackMode = errors.New("lkclient: write method does not match the track mode")
)

// HTTPError is returned by Join when the WebSocket upgrade is refused; it
// carries the HTTP status and body text (e.g. 401 "invalid API key").
type HTTPError struct {
	StatusCode int
	Body       string
}

// Error implements error.
func (e *HTTPError) Error() string {
	return fmt.Sprintf("lkclient: upgrade refused: %d %s", e.StatusCode, e.Body)
}

// LeaveError is the session's end reason (Client.Err) when the server sent leave.
type LeaveError struct {
	Leave *livekit.LeaveRequest
}

// Error implements error.
func (e *LeaveError) Error() string {
	return fmt.Sprintf("lkclient: server sent leave: reason=%s action=%s can_reconnect=%v",
		e.Leave.GetReason(), e.Leave.GetAction(), e.Leave.GetCanReconnect())
}

// RequestError is returned when the server answers a request with a
// non-OK request_response (e.g. add_track with a disallowed source).
type RequestError struct {
	Response *livekit.RequestResponse
}

// Error implements error.
func (e *RequestError) Error() string {
	return fmt.Sprintf("lkclient: request refused: %s %s", e.Response.GetReason(), e.Response.GetMessage())
}
