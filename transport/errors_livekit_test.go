package transport_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/twitchtv/twirp"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport"
	"github.com/actor-sfu/livekit-server/transport/auth"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// lkAnswer is how LiveKit answers one refusal: the Twirp code and HTTP status (code "" for the
// plain-text answers of /rtc).
type lkAnswer struct {
	code   twirp.ErrorCode
	status int
}

// errorCase is one refusal, LiveKit's answer to it (from livekit-server's pkg/service: errors.go,
// auth.go, roomservice.go, rtcservice.go and roomallocator.go), and, when this node answers
// otherwise on purpose, why.
type errorCase struct {
	name      string
	path      string // Room API method, an /rtc/validate query ("?…"), or a WebSocket dial of /rtc ("ws?…")
	token     string
	body      string
	livekit   lkAnswer
	ours      *lkAnswer // nil: the same as LiveKit's
	deviation string
}

// Every Room API and /rtc refusal, with LiveKit's Twirp code and HTTP status. A client's error
// handling written against LiveKit sees the same answers, except for the deviations listed, each
// with its reason (the test logs them).
func TestRefusalsAnswerAsLiveKit(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{
		Actors: actors.Config{Room: actors.RoomConfig{DisableAutoCreate: true}, Limits: actors.Limits{MaxMetadataSize: 64, MaxRooms: 2}},
		Server: transport.ServerConfig{MaxRoomNameLength: 32, MaxRequestBodySize: 4096},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := testkit.AdminToken(t, "errs")
	if _, err := node.RoomService(admin).CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "errs"}); err != nil {
		t.Fatal(err)
	}
	alice, err := testkit.Join(ctx, node.WSURL, testkit.Token(t, "errs", "alice", nil), lkclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	// "full" holds one participant at most, and it is there; with "errs" the node is at MaxRooms.
	if _, err := node.RoomService(admin).CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "full", MaxParticipants: 1}); err != nil {
		t.Fatal(err)
	}
	dave, err := testkit.Join(ctx, node.WSURL, testkit.Token(t, "full", "dave", nil), lkclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dave.Close()

	mint := func(secret string, g *auth.VideoGrant, validFor time.Duration) string {
		s, err := auth.NewAccessToken(testkit.APIKey, secret).SetVideoGrant(g).SetValidFor(validFor).ToJWT()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	list := &auth.VideoGrant{RoomList: true}
	unauth := lkAnswer{twirp.Unauthenticated, http.StatusUnauthorized}
	cases := []errorCase{
		{name: "no token", path: "ListRooms", body: `{}`, livekit: unauth},
		{name: "not a bearer header", path: "ListRooms", token: "Basic abc", body: `{}`, livekit: unauth},
		{name: "wrong secret", path: "ListRooms", token: "Bearer " + mint("not-the-secret", list, time.Hour), body: `{}`, livekit: unauth},
		{name: "expired", path: "ListRooms", token: "Bearer " + mint(testkit.APISecret, list, -time.Minute), body: `{}`, livekit: unauth},
		{name: "garbage token", path: "ListRooms", token: "Bearer x.y.z", body: `{}`, livekit: unauth},
		// A valid token lacking the grant: LiveKit wraps every Ensure*Permission failure as
		// unauthenticated ("permissions denied"), and so does this node.
		{name: "join token lists rooms", path: "ListRooms", token: "Bearer " + testkit.Token(t, "errs", "bob", nil), body: `{}`, livekit: unauth},
		{name: "join token creates a room", path: "CreateRoom", token: "Bearer " + testkit.Token(t, "errs", "bob", nil), body: `{"name":"x"}`, livekit: unauth},
		{name: "list token deletes a room", path: "DeleteRoom", token: "Bearer " + mint(testkit.APISecret, list, time.Hour), body: `{"room":"errs"}`, livekit: unauth},
		{name: "admin of another room", path: "ListParticipants", token: "Bearer " + testkit.AdminToken(t, "other"), body: `{"room":"errs"}`, livekit: unauth},
		{name: "admin of another room removes", path: "RemoveParticipant", token: "Bearer " + testkit.AdminToken(t, "other"), body: `{"room":"errs","identity":"alice"}`, livekit: unauth},
		{name: "unknown room", path: "ListParticipants", token: "Bearer " + testkit.AdminToken(t, "nope"), body: `{"room":"nope"}`,
			livekit: lkAnswer{twirp.NotFound, http.StatusNotFound}},
		{name: "unknown participant", path: "GetParticipant", token: "Bearer " + admin, body: `{"room":"errs","identity":"carol"}`,
			livekit: lkAnswer{twirp.NotFound, http.StatusNotFound}},
		{name: "unknown track", path: "MutePublishedTrack", token: "Bearer " + admin, body: `{"room":"errs","identity":"alice","trackSid":"TR_none","muted":true}`,
			livekit: lkAnswer{twirp.NotFound, http.StatusNotFound}},
		{name: "room name too long", path: "CreateRoom", token: "Bearer " + admin, body: `{"name":"` + strings.Repeat("r", 40) + `"}`,
			livekit: lkAnswer{twirp.InvalidArgument, http.StatusBadRequest}},
		{name: "metadata too large", path: "UpdateRoomMetadata", token: "Bearer " + admin, body: `{"room":"errs","metadata":"` + strings.Repeat("m", 100) + `"}`,
			livekit: lkAnswer{twirp.InvalidArgument, http.StatusBadRequest}},
		{name: "malformed body", path: "ListParticipants", token: "Bearer " + admin, body: `{"room":`,
			livekit: lkAnswer{twirp.Malformed, http.StatusBadRequest}},
		{name: "body over the cap", path: "ListParticipants", token: "Bearer " + admin, body: `{"room":"errs","x":"` + strings.Repeat("x", 5000) + `"}`,
			livekit: lkAnswer{twirp.Malformed, http.StatusBadRequest}, ours: &lkAnswer{twirp.Malformed, http.StatusRequestEntityTooLarge},
			deviation: "LiveKit sets no body cap; this node refuses a declared length over the cap with 413 before reading it (Twirp code malformed, as a bad body)"},
		// /rtc (checked through /rtc/validate, which runs the same admission): plain-text answers.
		{name: "rtc: no token", path: "?", livekit: lkAnswer{"", http.StatusUnauthorized}},
		{name: "rtc: wrong secret", path: "?access_token=" + mint("not-the-secret", &auth.VideoGrant{RoomJoin: true, Room: "errs"}, time.Hour),
			livekit: lkAnswer{"", http.StatusUnauthorized}},
		{name: "rtc: no roomJoin", path: "?access_token=" + mint(testkit.APISecret, &auth.VideoGrant{Room: "errs"}, time.Hour),
			livekit: lkAnswer{"", http.StatusUnauthorized}},
		{name: "rtc: empty identity", path: "?access_token=" + mint(testkit.APISecret, &auth.VideoGrant{RoomJoin: true, Room: "errs"}, time.Hour),
			livekit: lkAnswer{"", http.StatusBadRequest}},
		{name: "rtc: room name too long", path: "?access_token=" + testkit.Token(t, strings.Repeat("r", 40), "bob", nil),
			livekit: lkAnswer{"", http.StatusBadRequest}},
		{name: "rtc: unknown room, auto_create off", path: "?access_token=" + testkit.Token(t, "nope", "bob", nil),
			livekit: lkAnswer{"", http.StatusNotFound}},
		// Limits. LiveKit checks max_participants in Room.Join on the media side; the failure
		// closes the signal stream before any response, and /rtc answers 500 ("connection closed
		// by media"). It has no room-count limit: its node limits (limit.num_tracks,
		// limit.bytes_per_sec) refuse /rtc with 503 ("node has exceeded its configured limit") and
		// CreateRoom with an untranslated error, i.e. internal/500.
		{name: "rtc: room full", path: "ws?access_token=" + testkit.Token(t, "full", "erin", nil),
			livekit: lkAnswer{"", http.StatusInternalServerError}, ours: &lkAnswer{"", http.StatusServiceUnavailable},
			deviation: "LiveKit's 500 is a side effect of its signal relay closing; this node answers 503 \"room is full\" before the upgrade, so a client can tell a full room from a server fault"},
		{name: "create beyond max_rooms", path: "CreateRoom", token: "Bearer " + admin, body: `{"name":"third"}`,
			livekit: lkAnswer{twirp.Internal, http.StatusInternalServerError}, ours: &lkAnswer{twirp.ResourceExhausted, http.StatusTooManyRequests},
			deviation: "LiveKit has no room-count limit and returns its node-limit error untranslated (internal/500); this node says resource_exhausted (429) so a client can tell a full node from a server fault"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := c.livekit
			if c.ours != nil {
				want = *c.ours
				t.Logf("deliberate deviation from LiveKit (%s/%d): %s", c.livekit.code, c.livekit.status, c.deviation)
			}
			got := answer(ctx, t, node.URL, c)
			if got != want {
				t.Errorf("answer %s/%d, want %s/%d", got.code, got.status, want.code, want.status)
			}
		})
	}
}

// answer sends one case and reads the code and status it got.
func answer(ctx context.Context, t *testing.T, base string, c errorCase) lkAnswer {
	t.Helper()
	var req *http.Request
	var err error
	if q, ok := strings.CutPrefix(c.path, "ws"); ok {
		conn, res, err := websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(base, "http")+"/rtc"+q, nil)
		if err == nil {
			conn.Close()
			return lkAnswer{"", http.StatusSwitchingProtocols}
		}
		if res == nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return lkAnswer{"", res.StatusCode}
	}
	if strings.HasPrefix(c.path, "?") {
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, base+"/rtc/validate"+c.path, nil)
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, base+"/twirp/livekit.RoomService/"+c.path, strings.NewReader(c.body))
		req.Header.Set("Content-Type", "application/json")
	}
	if err != nil {
		t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", c.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if strings.HasPrefix(c.path, "?") {
		return lkAnswer{"", res.StatusCode}
	}
	var te struct {
		Code string `json:"code"`
	}
	if err := json.Unmarshal(body, &te); err != nil {
		t.Fatalf("%d: not a Twirp error body: %q", res.StatusCode, body)
	}
	return lkAnswer{twirp.ErrorCode(te.Code), res.StatusCode}
}
