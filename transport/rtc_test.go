package transport

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/transport/auth"
)

func joinGrant(room string) *auth.VideoGrant { return &auth.VideoGrant{RoomJoin: true, Room: room} }

func TestValidate(t *testing.T) {
	good := token(t, "alice", joinGrant("r1"))
	expired, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": "devkey", "sub": "alice", "exp": time.Now().Add(-time.Hour).Unix(),
		"video": map[string]any{"roomJoin": true, "room": "r1"},
	}).SignedString([]byte("secret"))
	wrongSecret, _ := auth.NewAccessToken("devkey", "other").SetIdentity("alice").SetVideoGrant(joinGrant("r1")).ToJWT()
	unknownKey, _ := auth.NewAccessToken("stranger", "secret").SetIdentity("alice").SetVideoGrant(joinGrant("r1")).ToJWT()

	tests := []struct {
		name       string
		query      string
		header     string
		noAutoRoom bool
		status     int
		body       string
	}{
		{"token in query", "access_token=" + good, "", false, 200, "success"},
		{"token in header", "", "Bearer " + good, false, 200, "success"},
		{"header wins over query", "access_token=garbage", "Bearer " + good, false, 200, "success"},
		{"no token", "", "", false, 401, "permissions denied"},
		{"header without Bearer", "", "Token " + good, false, 401, "invalid authorization header. Must start with Bearer "},
		{"garbage token", "access_token=abc", "", false, 401, "invalid authorization token"},
		{"unknown key", "access_token=" + unknownKey, "", false, 401, "invalid API key"},
		{"wrong secret", "access_token=" + wrongSecret, "", false, 401, "invalid authorization token: "},
		{"expired", "access_token=" + expired, "", false, 401, "invalid authorization token: token is expired"},
		{"no video grant", "access_token=" + token(t, "alice", nil), "", false, 401, "permissions denied"},
		{"roomJoin false", "access_token=" + token(t, "alice", &auth.VideoGrant{Room: "r1"}), "", false, 401, "permissions denied"},
		{"empty identity", "access_token=" + token(t, "", joinGrant("r1")), "", false, 400, "identity cannot be empty"},
		{"no room", "access_token=" + token(t, "alice", joinGrant("")), "", false, 400, "no room name"},
		{"room too long", "access_token=" + token(t, "alice", joinGrant(strings.Repeat("r", 300))), "", false, 400, "room name is longer"},
		{"bad attributes", "access_token=" + good + "&attributes=bm90anNvbg", "", false, 400, "invalid attributes"},
		{"missing room, auto-create off", "access_token=" + token(t, "alice", joinGrant("nope")), "", true, 404, "requested room does not exist"},
		{"existing room, auto-create off", "access_token=" + good, "", true, 200, "success"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			node := newFakeNode()
			node.rooms["r1"] = true
			node.noAutoCreate = tc.noAutoRoom
			srv := startServer(t, ServerConfig{}, node)
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/rtc/validate?"+tc.query, nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			expectAnswer(t, srv.Client(), req, tc.status, tc.body)
		})
	}
}

// TestRTCRefusals checks the answers /rtc gives before upgrading.
func TestRTCRefusals(t *testing.T) {
	good := token(t, "alice", joinGrant("r1"))
	tests := []struct {
		name    string
		query   string
		joinErr error
		upgrade bool
		status  int
		body    string
	}{
		{"join_request that does not decode", "access_token=" + good + "&join_request=AAAA", nil, true, 400, "invalid join_request"},
		{"not an upgrade", "access_token=" + good, nil, false, 404, "websocket upgrade required"},
		{"auth before upgrade check", "", nil, false, 401, "permissions denied"},
		{"room missing", "access_token=" + good, fmt.Errorf("join: %w", actors.ErrRoomNotFound), true, 404, "requested room does not exist"},
		{"room full", "access_token=" + good, fmt.Errorf("join: %w", actors.ErrRoomFull), true, 503, "room is full"},
		{"too many rooms", "access_token=" + good, actors.ErrTooManyRooms, true, 503, ""},
		{"shutting down", "access_token=" + good, actors.ErrNodeClosed, true, 503, ""},
		{"timeout", "access_token=" + good, actors.ErrTimeout, true, 503, ""},
		{"invalid argument", "access_token=" + good, fmt.Errorf("metadata too big: %w", actors.ErrInvalidArgument), true, 400, "metadata too big"},
		{"internal", "access_token=" + good, errBoom, true, 500, "internal error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			node := newFakeNode()
			node.joinErr = tc.joinErr
			srv := startServer(t, ServerConfig{}, node)
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/rtc?"+tc.query, nil)
			if tc.upgrade {
				req.Header.Set("Connection", "Upgrade")
				req.Header.Set("Upgrade", "websocket")
				req.Header.Set("Sec-WebSocket-Version", "13")
				req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			}
			expectAnswer(t, srv.Client(), req, tc.status, tc.body)
		})
	}
}

// expectAnswer sends req and checks the status, that the body contains body, and the CORS header
// browsers need to read any answer.
func expectAnswer(t *testing.T, c *http.Client, req *http.Request, status int, body string) {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != status || !strings.Contains(string(got), body) {
		t.Errorf("got %d %q, want %d containing %q", res.StatusCode, got, status, body)
	}
	if res.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Error("answer lacks Access-Control-Allow-Origin")
	}
}

func TestAdmitJoinRequest(t *testing.T) {
	attrs := base64.URLEncoding.EncodeToString([]byte(`{"team":"blue"}`))
	withMD := &auth.VideoGrant{RoomJoin: true, Room: "r1", CanUpdateOwnMetadata: auth.BoolPtr(true), CanPublish: auth.BoolPtr(false)}
	tokMD, _ := auth.NewAccessToken("devkey", "secret").SetIdentity("bob").SetName("Bob").SetMetadata("md").
		SetAttributes(map[string]string{"a": "1"}).SetKind("agent").SetVideoGrant(withMD).ToJWT()

	tests := []struct {
		name  string
		query string
		check func(t *testing.T, r actors.JoinRequest)
	}{
		{"defaults", "access_token=" + token(t, "alice", joinGrant("r1")), func(t *testing.T, r actors.JoinRequest) {
			if r.Room != "r1" || r.Identity != "alice" || !r.AutoSubscribe || r.AdaptiveStream || r.Reconnect {
				t.Errorf("req = %+v", r)
			}
			if !r.Permission.GetCanPublish() || !r.Permission.GetCanSubscribe() || r.Permission.GetCanUpdateMetadata() {
				t.Errorf("permission = %v", r.Permission)
			}
			if r.Kind != livekit.ParticipantInfo_STANDARD || r.Client.GetAddress() != "192.0.2.1" {
				t.Errorf("kind %v, client %v", r.Kind, r.Client)
			}
		}},
		{"JS v0 params", "access_token=" + token(t, "alice", joinGrant("r1")) +
			"&auto_subscribe=0&sdk=js&version=2.23.0&protocol=17&client_protocol=2&os=linux&browser=Chrome&browser_version=156&adaptive_stream=1&reconnect=1&sid=PA_x&reconnect_reason=2",
			func(t *testing.T, r actors.JoinRequest) {
				c := r.Client
				if r.AutoSubscribe || !r.AdaptiveStream || !r.Reconnect || r.ReconnectSID != "PA_x" {
					t.Errorf("req = %+v", r)
				}
				if c.GetSdk() != livekit.ClientInfo_JS || c.GetVersion() != "2.23.0" || c.GetProtocol() != 17 || c.GetClientProtocol() != 2 ||
					c.GetOs() != "linux" || c.GetBrowser() != "Chrome" || c.GetBrowserVersion() != "156" {
					t.Errorf("client = %v", c)
				}
			}},
		{"Go SDK params", "version=2.19.0&protocol=17&&auto_subscribe=true&sdk=go&os=linux&attributes=" + attrs + "&access_token=" + tokMD,
			func(t *testing.T, r actors.JoinRequest) {
				if r.Client.GetSdk() != livekit.ClientInfo_GO || !r.AutoSubscribe {
					t.Errorf("client = %v", r.Client)
				}
				if r.Name != "Bob" || r.Metadata != "md" || r.Attributes["a"] != "1" || r.Attributes["team"] != "blue" {
					t.Errorf("req = %+v", r)
				}
				if r.Kind != livekit.ParticipantInfo_AGENT || r.Permission.GetCanPublish() || r.Permission.GetCanPublishData() {
					t.Errorf("kind %v permission %v", r.Kind, r.Permission)
				}
			}},
		{"attributes ignored without canUpdateOwnMetadata", "sdk=reactnative&attributes=" + attrs + "&access_token=" + token(t, "alice", joinGrant("r1")),
			func(t *testing.T, r actors.JoinRequest) {
				if _, ok := r.Attributes["team"]; ok {
					t.Errorf("attributes = %v", r.Attributes)
				}
				if r.Client.GetSdk() != livekit.ClientInfo_REACT_NATIVE {
					t.Errorf("sdk = %v", r.Client.GetSdk())
				}
			}},
	}
	s := newServer(ServerConfig{}, newFakeNode(), testKeys, testLogger())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/rtc?"+tc.query, nil)
			req, herr := s.admit(r)
			if herr != nil {
				t.Fatalf("refused: %d %s", herr.status, herr.msg)
			}
			tc.check(t, req)
		})
	}
}
