package transport

import (
	"context"
	"errors"
	"net/http"

	"github.com/twitchtv/twirp"

	"github.com/actor-sfu/livekit-server/actors"
)

// errorMapping says how one actors error reaches a client: as an HTTP status before a WebSocket
// upgrade and as a Twirp code from the Room API. msg, when set, replaces the error's own text (fixed
// texts that clients match on, or texts that would otherwise expose internal message names).
type errorMapping struct {
	target error
	status int
	code   twirp.ErrorCode
	msg    string
}

// errorMappings is checked in order; the first errors.Is match wins.
var errorMappings = []errorMapping{
	{actors.ErrRoomNotFound, http.StatusNotFound, twirp.NotFound, "requested room does not exist"},
	{actors.ErrParticipantNotFound, http.StatusNotFound, twirp.NotFound, "participant does not exist"},
	{actors.ErrTrackNotFound, http.StatusNotFound, twirp.NotFound, "track does not exist"},
	{actors.ErrInvalidArgument, http.StatusBadRequest, twirp.InvalidArgument, ""},
	{actors.ErrFailedPrecondition, http.StatusBadRequest, twirp.FailedPrecondition, ""},
	{actors.ErrNotAllowed, http.StatusUnauthorized, twirp.Unauthenticated, ""}, // LiveKit: every permission failure is unauthenticated
	{actors.ErrRoomFull, http.StatusServiceUnavailable, twirp.ResourceExhausted, "room is full"},
	{actors.ErrTooManyRooms, http.StatusServiceUnavailable, twirp.ResourceExhausted, "node has reached its room limit"},
	{actors.ErrTimeout, http.StatusServiceUnavailable, twirp.DeadlineExceeded, "request timed out"},
	{context.DeadlineExceeded, http.StatusServiceUnavailable, twirp.DeadlineExceeded, "request timed out"},
	{context.Canceled, http.StatusServiceUnavailable, twirp.Canceled, "request canceled"},
	{actors.ErrNodeClosed, http.StatusServiceUnavailable, twirp.Unavailable, "node is shutting down"},
	{actors.ErrRoomClosing, http.StatusServiceUnavailable, twirp.Unavailable, "room is closing"},
}

// mapError finds how err is reported. Unknown errors are internal: 500 / twirp internal, with a
// generic text (the caller logs the real one).
func mapError(err error) errorMapping {
	for _, m := range errorMappings {
		if errors.Is(err, m.target) {
			if m.msg == "" {
				m.msg = err.Error()
			}
			return m
		}
	}
	return errorMapping{target: err, status: http.StatusInternalServerError, code: twirp.Internal, msg: "internal error"}
}

// twirpError converts an actors error into the Twirp error returned by the Room API.
func twirpError(err error) twirp.Error {
	var te twirp.Error
	if errors.As(err, &te) {
		return te
	}
	m := mapError(err)
	return twirp.WrapError(twirp.NewError(m.code, m.msg), err)
}

// httpError is a failure to report with a plain-text body before (or instead of) a WebSocket upgrade.
type httpError struct {
	status int
	msg    string
	err    error // cause, for logs
}

func (e *httpError) Error() string { return e.msg }

func (e *httpError) Unwrap() error { return e.err }

func newHTTPError(status int, msg string, cause error) *httpError {
	return &httpError{status: status, msg: msg, err: cause}
}

// joinHTTPError converts an error from Node.Join (or the validate checks) into an HTTP answer.
func joinHTTPError(err error) *httpError {
	m := mapError(err)
	return newHTTPError(m.status, m.msg, err)
}

// writeHTTPError answers with a plain-text body, the way LiveKit does before an upgrade.
func writeHTTPError(w http.ResponseWriter, e *httpError) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	writeText(w, e.status, e.msg)
}
