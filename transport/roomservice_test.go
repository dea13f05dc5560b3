package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/twitchtv/twirp"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/transport/auth"
)

// roomCalls runs each RoomService method against room "r1".
var roomCalls = map[string]func(ctx context.Context, c livekit.RoomService) error{
	"CreateRoom": func(ctx context.Context, c livekit.RoomService) error {
		_, err := c.CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "r1"})
		return err
	},
	"ListRooms": func(ctx context.Context, c livekit.RoomService) error {
		_, err := c.ListRooms(ctx, &livekit.ListRoomsRequest{})
		return err
	},
	"DeleteRoom": func(ctx context.Context, c livekit.RoomService) error {
		_, err := c.DeleteRoom(ctx, &livekit.DeleteRoomRequest{Room: "r1"})
		return err
	},
	"ListParticipants": func(ctx context.Context, c livekit.RoomService) error {
		_, err := c.ListParticipants(ctx, &livekit.ListParticipantsRequest{Room: "r1"})
		return err
	},
	"GetParticipant": func(ctx context.Context, c livekit.RoomService) error {
		_, err := c.GetParticipant(ctx, &livekit.RoomParticipantIdentity{Room: "r1", Identity: "alice"})
		return err
	},
	"RemoveParticipant": func(ctx context.Context, c livekit.RoomService) error {
		_, err := c.RemoveParticipant(ctx, &livekit.RoomParticipantIdentity{Room: "r1", Identity: "alice"})
		return err
	},
	"MutePublishedTrack": func(ctx context.Context, c livekit.RoomService) error {
		_, err := c.MutePublishedTrack(ctx, &livekit.MuteRoomTrackRequest{Room: "r1", Identity: "alice", TrackSid: "TR_1", Muted: true})
		return err
	},
	"UpdateParticipant": func(ctx context.Context, c livekit.RoomService) error {
		_, err := c.UpdateParticipant(ctx, &livekit.UpdateParticipantRequest{Room: "r1", Identity: "alice", Metadata: "x"})
		return err
	},
	"UpdateSubscriptions": func(ctx context.Context, c livekit.RoomService) error {
		_, err := c.UpdateSubscriptions(ctx, &livekit.UpdateSubscriptionsRequest{Room: "r1", Identity: "alice", TrackSids: []string{"TR_1"}})
		return err
	},
	"SendData": func(ctx context.Context, c livekit.RoomService) error {
		_, err := c.SendData(ctx, &livekit.SendDataRequest{Room: "r1", Data: []byte("hi")})
		return err
	},
	"UpdateRoomMetadata": func(ctx context.Context, c livekit.RoomService) error {
		_, err := c.UpdateRoomMetadata(ctx, &livekit.UpdateRoomMetadataRequest{Room: "r1", Metadata: "m"})
		return err
	},
	"PerformRpc": func(ctx context.Context, c livekit.RoomService) error {
		_, err := c.PerformRpc(ctx, &livekit.PerformRpcRequest{Room: "r1", DestinationIdentity: "alice", Method: "m"})
		return err
	},
}

// neededGrant is the grant each method requires: roomCreate, roomList, or (the default) roomAdmin
// on the named room.
var neededGrant = map[string]*auth.VideoGrant{
	"CreateRoom": {RoomCreate: true},
	"DeleteRoom": {RoomCreate: true},
	"ListRooms":  {RoomList: true},
}

func grantFor(method string) *auth.VideoGrant {
	if g, ok := neededGrant[method]; ok {
		return g
	}
	return &auth.VideoGrant{RoomAdmin: true, Room: "r1"}
}

// withBearer adds a token to every call of a Twirp client.
func withBearer(t *testing.T, tok string) context.Context {
	t.Helper()
	ctx, err := twirp.WithHTTPRequestHeaders(context.Background(), http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}

func serviceToken(t *testing.T, g *auth.VideoGrant) string {
	t.Helper()
	tok, err := auth.NewAccessToken("devkey", "secret").SetVideoGrant(g).ToJWT()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func twirpCode(err error) twirp.ErrorCode {
	var te twirp.Error
	if errors.As(err, &te) {
		return te.Code()
	}
	if err == nil {
		return twirp.NoError
	}
	return "not a twirp error: " + twirp.ErrorCode(err.Error())
}

func TestRoomServiceGrants(t *testing.T) {
	node := newFakeNode()
	srv := startServer(t, ServerConfig{}, node)
	clients := map[string]livekit.RoomService{
		"protobuf": livekit.NewRoomServiceProtobufClient(srv.URL, srv.Client()),
		"json":     livekit.NewRoomServiceJSONClient(srv.URL, srv.Client()),
	}
	wrongSecret, _ := auth.NewAccessToken("devkey", "nope").SetVideoGrant(&auth.VideoGrant{RoomCreate: true, RoomList: true, RoomAdmin: true, Room: "r1"}).ToJWT()
	for method, call := range roomCalls {
		for enc, c := range clients {
			t.Run(method+"/"+enc, func(t *testing.T) {
				cases := []struct {
					name string
					ctx  context.Context
					want twirp.ErrorCode
				}{
					{"no token", context.Background(), twirp.Unauthenticated},
					{"bad token", withBearer(t, "garbage"), twirp.Unauthenticated},
					{"wrong secret", withBearer(t, wrongSecret), twirp.Unauthenticated},
					{"join-only token", withBearer(t, token(t, "alice", joinGrant("r1"))), twirp.Unauthenticated},
					{"admin of another room", withBearer(t, serviceToken(t, &auth.VideoGrant{RoomAdmin: true, Room: "r2", RoomCreate: method == "CreateRoom" || method == "DeleteRoom", RoomList: method == "ListRooms"})), map[bool]twirp.ErrorCode{true: twirp.NoError, false: twirp.Unauthenticated}[neededGrant[method] != nil]},
					{"right grant", withBearer(t, serviceToken(t, grantFor(method))), twirp.NoError},
				}
				for _, tc := range cases {
					if got := twirpCode(call(tc.ctx, c)); got != tc.want {
						t.Errorf("%s: code %q, want %q", tc.name, got, tc.want)
					}
				}
			})
		}
	}
}

func TestRoomServiceErrorMapping(t *testing.T) {
	tests := []struct {
		err  error
		code twirp.ErrorCode
		msg  string
	}{
		{fmt.Errorf("x: %w", actors.ErrRoomNotFound), twirp.NotFound, "requested room does not exist"},
		{fmt.Errorf("x: %w", actors.ErrParticipantNotFound), twirp.NotFound, "participant does not exist"},
		{actors.ErrTrackNotFound, twirp.NotFound, "track does not exist"},
		{fmt.Errorf("metadata is too big: %w", actors.ErrInvalidArgument), twirp.InvalidArgument, "metadata is too big: invalid argument"},
		{fmt.Errorf("remote unmute disabled: %w", actors.ErrFailedPrecondition), twirp.FailedPrecondition, "remote unmute disabled"},
		{actors.ErrRoomFull, twirp.ResourceExhausted, "room is full"},
		{actors.ErrTooManyRooms, twirp.ResourceExhausted, ""},
		{fmt.Errorf("*actors.createRoom: %w", actors.ErrTimeout), twirp.DeadlineExceeded, "request timed out"},
		{actors.ErrNodeClosed, twirp.Unavailable, ""},
		{actors.ErrRoomClosing, twirp.Unavailable, ""},
		{actors.ErrNotAllowed, twirp.Unauthenticated, ""},
		{errBoom, twirp.Internal, "internal error"},
	}
	for _, tc := range tests {
		t.Run(tc.err.Error(), func(t *testing.T) {
			node := newFakeNode()
			node.err = tc.err
			srv := startServer(t, ServerConfig{}, node)
			c := livekit.NewRoomServiceProtobufClient(srv.URL, srv.Client())
			_, err := c.GetParticipant(withBearer(t, serviceToken(t, grantFor("GetParticipant"))), &livekit.RoomParticipantIdentity{Room: "r1", Identity: "alice"})
			var te twirp.Error
			if !errors.As(err, &te) || te.Code() != tc.code || !strings.Contains(te.Msg(), tc.msg) {
				t.Fatalf("err = %v, want %s containing %q", err, tc.code, tc.msg)
			}
			if strings.Contains(te.Msg(), "boom") {
				t.Error("internal error text leaked to the client")
			}
		})
	}
}

func TestRoomServiceValidation(t *testing.T) {
	node := newFakeNode()
	srv := startServer(t, ServerConfig{}, node)
	c := livekit.NewRoomServiceProtobufClient(srv.URL, srv.Client())
	all := withBearer(t, serviceToken(t, &auth.VideoGrant{RoomCreate: true, RoomAdmin: true, Room: "r1"}))
	tests := []struct {
		name string
		call func() error
	}{
		{"create without name", func() error { _, err := c.CreateRoom(all, &livekit.CreateRoomRequest{}); return err }},
		{"create with long name", func() error {
			_, err := c.CreateRoom(all, &livekit.CreateRoomRequest{Name: strings.Repeat("x", 257)})
			return err
		}},
		{"delete without room", func() error { _, err := c.DeleteRoom(all, &livekit.DeleteRoomRequest{}); return err }},
		{"admin call without room", func() error {
			_, err := c.ListParticipants(all, &livekit.ListParticipantsRequest{})
			return err
		}},
		{"get without identity", func() error {
			_, err := c.GetParticipant(all, &livekit.RoomParticipantIdentity{Room: "r1"})
			return err
		}},
		{"mute without track", func() error {
			_, err := c.MutePublishedTrack(all, &livekit.MuteRoomTrackRequest{Room: "r1", Identity: "a"})
			return err
		}},
	}
	for _, tc := range tests {
		if got := twirpCode(tc.call()); got != twirp.InvalidArgument {
			t.Errorf("%s: code %q", tc.name, got)
		}
	}
	if len(node.calls) != 0 {
		t.Errorf("invalid requests reached the node: %v", node.calls)
	}
}

// TestRoomServiceNodeJSON sends what livekit-server-sdk (node) sends: camelCase JSON.
func TestRoomServiceNodeJSON(t *testing.T) {
	srv := startServer(t, ServerConfig{}, newFakeNode())
	body := `{"room":"r1","identity":"alice","trackSid":"TR_9","muted":true}`
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/twirp/livekit.RoomService/MutePublishedTrack", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	req.Header.Set("Authorization", "Bearer "+serviceToken(t, grantFor("MutePublishedTrack")))
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(out), `"sid":"TR_9"`) {
		t.Fatalf("%d %s", res.StatusCode, out)
	}
}

// TestRoomServiceBadTokenBody: a token that does not verify gets a Twirp JSON error, HTTP 401.
func TestRoomServiceBadTokenBody(t *testing.T) {
	srv := startServer(t, ServerConfig{}, newFakeNode())
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/twirp/livekit.RoomService/ListRooms", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Basic Zm9vOmJhcg==")
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 401 || res.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(out), `"code":"unauthenticated"`) {
		t.Fatalf("%d %s %s", res.StatusCode, res.Header.Get("Content-Type"), out)
	}
}
