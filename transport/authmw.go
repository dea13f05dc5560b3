package transport

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/twitchtv/twirp"

	"github.com/actor-sfu/livekit-server/transport/auth"
)

const bearerPrefix = "Bearer "

// errBadAuthHeader: an Authorization header that is not "Bearer <token>".
var errBadAuthHeader = errors.New("invalid authorization header. Must start with " + bearerPrefix)

// tokenFromRequest returns the access token of r: the Authorization Bearer header first (Go SDK,
// lk), then the access_token query parameter (browsers cannot set headers on a WebSocket).
// It returns "" when there is none.
func tokenFromRequest(r *http.Request) (string, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, bearerPrefix)
		if !ok {
			return "", errBadAuthHeader
		}
		return strings.TrimSpace(tok), nil
	}
	return r.URL.Query().Get("access_token"), nil
}

// authHTTPError turns a token failure into LiveKit's status and text.
func authHTTPError(err error) *httpError {
	switch {
	case errors.Is(err, errBadAuthHeader):
		return newHTTPError(http.StatusUnauthorized, errBadAuthHeader.Error(), err)
	case errors.Is(err, auth.ErrMissingToken):
		return newHTTPError(http.StatusUnauthorized, "permissions denied", err)
	case errors.Is(err, auth.ErrInvalidAPIKey):
		return newHTTPError(http.StatusUnauthorized, "invalid API key", err)
	case errors.Is(err, auth.ErrMalformedToken), errors.Is(err, auth.ErrUnsupportedAlgorithm):
		return newHTTPError(http.StatusUnauthorized, "invalid authorization token", err)
	default:
		return newHTTPError(http.StatusUnauthorized, "invalid authorization token: "+err.Error(), err)
	}
}

// grantsKey carries the verified *auth.ClaimGrants of a Room API call.
type grantsKey struct{}

// grantsFrom returns the grants the auth middleware stored in ctx.
func grantsFrom(ctx context.Context) (*auth.ClaimGrants, bool) {
	g, ok := ctx.Value(grantsKey{}).(*auth.ClaimGrants)
	return g, ok && g != nil
}

// withTwirpAuth verifies the bearer token of a Room API call before Twirp runs and stores its grants
// in the request context. A call without a token, or with one that does not verify, is answered
// here with a Twirp unauthenticated error (JSON body, HTTP 401) before a byte of its body is read,
// so that an anonymous client cannot make the node buffer bodies. An authenticated body is then held
// to MaxRequestBodySize: a larger declared length is refused at once with HTTP 413 (Twirp code
// malformed), and a body that runs past the limit fails Twirp's read (malformed). Requests other
// than POST pass through: Twirp answers them bad_route without reading a body.
func (s *Server) withTwirpAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		tok, err := tokenFromRequest(r)
		if err == nil && tok == "" {
			s.log.Debug("room API call without a token", "path", r.URL.Path, "remote", r.RemoteAddr)
			_ = twirp.WriteError(w, twirp.Unauthenticated.Error("missing access token"))
			return
		}
		var grants *auth.ClaimGrants
		if err == nil {
			grants, err = s.verifier.Verify(tok)
		}
		if err != nil {
			he := authHTTPError(err)
			s.log.Debug("room API token rejected", "path", r.URL.Path, "err", err)
			_ = twirp.WriteError(w, twirp.Unauthenticated.Error(he.msg))
			return
		}
		limit := s.cfg.MaxRequestBodySize
		if r.ContentLength > limit {
			s.log.Debug("room API body too large", "path", r.URL.Path, "bytes", r.ContentLength, "limit", limit)
			writeTwirpStatus(w, http.StatusRequestEntityTooLarge, twirp.Malformed.Errorf("request body exceeds %d bytes", limit))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), grantsKey{}, grants)))
	})
}

// writeTwirpStatus writes a Twirp JSON error body with an HTTP status of our choosing (Twirp maps
// every code to its own status; clients read the code from the body).
func writeTwirpStatus(w http.ResponseWriter, status int, terr twirp.Error) {
	body, err := json.Marshal(struct {
		Code string `json:"code"`
		Msg  string `json:"msg"`
	}{string(terr.Code()), terr.Msg()})
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"code":"internal","msg":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Connection", "close")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
