package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/twitchtv/twirp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/transport/auth"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// Defaults match a node started with --dev.
const (
	defaultURL       = "http://127.0.0.1:7880"
	defaultAPIKey    = "devkey"
	defaultAPISecret = "secret"

	// apiTimeout bounds one Room API call.
	apiTimeout = 15 * time.Second
	// serviceTokenTTL is how long the token minted for one Room API call lives.
	serviceTokenTTL = 10 * time.Minute
)

// env is what every command shares: the global settings and the output streams.
type env struct {
	url, apiKey, apiSecret string
	stdout, stderr         io.Writer
	stderrTTY              bool // stderr is a terminal: redraw the progress line in place
	// transport is this run's own HTTP transport, so that run leaves no idle connections
	// (and their goroutines) behind.
	transport *http.Transport
}

func newEnv(stdout, stderr io.Writer, stderrTTY bool) *env {
	return &env{
		stderrTTY: stderrTTY,
		url:       envOr("LIVEKIT_URL", defaultURL),
		apiKey:    envOr("LIVEKIT_API_KEY", defaultAPIKey),
		apiSecret: envOr("LIVEKIT_API_SECRET", defaultAPISecret),
		stdout:    stdout,
		stderr:    stderr,
		transport: http.DefaultTransport.(*http.Transport).Clone(),
	}
}

func (e *env) close() { e.transport.CloseIdleConnections() }

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// addGlobalFlags registers --url, --api-key and --api-secret on fs; their defaults are the
// values known so far (environment, then flags given before the command).
func (e *env) addGlobalFlags(fs *flag.FlagSet) {
	fs.StringVar(&e.url, "url", e.url, "node address, http(s):// or ws(s):// (env LIVEKIT_URL)")
	fs.StringVar(&e.apiKey, "api-key", e.apiKey, "API key (env LIVEKIT_API_KEY)")
	fs.StringVar(&e.apiSecret, "api-secret", e.apiSecret, "API secret (env LIVEKIT_API_SECRET)")
}

// httpURL is the node's base URL with an http(s) scheme, as Twirp needs.
func (e *env) httpURL() (string, error) {
	u, err := url.Parse(e.url)
	if err != nil {
		return "", usagef("--url %q: %v", e.url, err)
	}
	switch u.Scheme {
	case "http", "https":
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	default:
		return "", usagef("--url %q: scheme must be http, https, ws or wss", e.url)
	}
	if u.Host == "" {
		return "", usagef("--url %q: no host", e.url)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// roomService returns a Room API client whose calls carry a freshly minted token holding
// exactly grant.
func (e *env) roomService(grant *auth.VideoGrant) (livekit.RoomService, error) {
	base, err := e.httpURL()
	if err != nil {
		return nil, err
	}
	tok, err := auth.NewAccessToken(e.apiKey, e.apiSecret).SetVideoGrant(grant).SetValidFor(serviceTokenTTL).ToJWT()
	if err != nil {
		return nil, fmt.Errorf("mint service token: %w", err)
	}
	hc := &http.Client{Transport: lkclient.BearerTransport{Token: tok, Next: e.transport}, Timeout: apiTimeout}
	return livekit.NewRoomServiceProtobufClient(base, hc), nil
}

// printJSON writes m as indented JSON with proto field names (creation_time, num_participants…).
func (e *env) printJSON(m proto.Message) error {
	raw, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %T: %w", m, err)
	}
	// protojson's own multi-line output varies its spacing on purpose; re-indent for stable output.
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("indent %T: %w", m, err)
	}
	buf.WriteByte('\n')
	_, err = e.stdout.Write(buf.Bytes())
	return err
}

// notRunningHint follows a refused or failed connection: the usual cause is a node that is not
// running, or one on another address.
const notRunningHint = " (is the node running? start one with 'livekit-server --dev', or point --url or LIVEKIT_URL at it)"

// describeError turns an error into the plain text printed after "livekit-cli: <command>: ".
func describeError(err error) string {
	var te twirp.Error
	var ue *url.Error
	var he *lkclient.HTTPError
	var le *lkclient.LeaveError
	var oe *net.OpError
	switch {
	case errors.As(err, &ue):
		// Twirp reports transport failures as internal errors; say what really happened.
		msg := fmt.Sprintf("cannot reach the node at %s: %v", ue.URL, ue.Err)
		if errors.As(err, &oe) && oe.Op == "dial" {
			msg += notRunningHint
		}
		return msg
	case errors.As(err, &oe) && oe.Op == "dial":
		// The WebSocket dial of join and subscribe.
		return err.Error() + notRunningHint
	case errors.As(err, &te):
		return fmt.Sprintf("%s: %s", te.Code(), te.Msg())
	case errors.As(err, &he):
		return fmt.Sprintf("connection refused by the node: %d %s", he.StatusCode, strings.TrimSpace(he.Body))
	case errors.As(err, &le):
		return fmt.Sprintf("the node ended the session: %s", le.Leave.GetReason())
	}
	return err.Error()
}

// syncWriter serialises writes: commands write from several goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func newSyncWriter(w io.Writer) io.Writer {
	if _, ok := w.(*syncWriter); ok {
		return w
	}
	return &syncWriter{w: w}
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
