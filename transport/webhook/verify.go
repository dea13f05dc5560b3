package webhook

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/transport/auth"
)

// maxBodySize caps the body Verify reads.
const maxBodySize = 1 << 20

// Errors returned by Verify (errors.Is); token problems wrap the auth package's errors.
var (
	ErrNoAuthHeader    = errors.New("webhook: no Authorization header")
	ErrInvalidChecksum = errors.New("webhook: body does not match the signed sha256")
	ErrBodyTooLarge    = errors.New("webhook: body too large")
)

// Verify is the receiving side, what a backend runs on each delivery: it reads r's body, checks
// that the Authorization token was signed by one of keys and that its sha256 claim matches the
// body, and decodes the event. Unknown JSON fields are ignored, so newer senders stay readable.
// It closes the body.
func Verify(r *http.Request, keys auth.KeyProvider) (*livekit.WebhookEvent, error) {
	defer r.Body.Close()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodySize+1))
	if err != nil {
		return nil, fmt.Errorf("webhook: reading body: %w", err)
	}
	if len(body) > maxBodySize {
		return nil, ErrBodyTooLarge
	}
	token := strings.TrimSpace(r.Header.Get("Authorization"))
	// LiveKit sends the bare token; accept a Bearer prefix from proxies or hand-made requests.
	if len(token) > 7 && strings.EqualFold(token[:7], "bearer ") {
		token = strings.TrimSpace(token[7:])
	}
	if token == "" {
		return nil, ErrNoAuthHeader
	}
	grants, err := auth.NewVerifier(keys).Verify(token)
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	sum := sha256.Sum256(body)
	want := base64.StdEncoding.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(grants.Sha256), []byte(want)) != 1 {
		return nil, ErrInvalidChecksum
	}
	var e livekit.WebhookEvent
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, &e); err != nil {
		return nil, fmt.Errorf("webhook: decoding event: %w", err)
	}
	return &e, nil
}
