package scenarios

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twitchtv/twirp"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport/auth"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// Create, list, delete rooms and list participants with a devkey token, over real HTTP, in both
// Twirp encodings.
func TestRoomAPICRUD(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for name, rs := range map[string]livekit.RoomService{
		"protobuf": node.RoomService(testkit.AdminToken(t, "lobby")),
		"json":     node.RoomServiceJSON(testkit.AdminToken(t, "lobby")),
	} {
		t.Run(name, func(t *testing.T) {
			room, err := rs.CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "lobby", EmptyTimeout: 60, MaxParticipants: 5, Metadata: "hello"})
			if err != nil {
				t.Fatalf("CreateRoom: %v", err)
			}
			if !strings.HasPrefix(room.Sid, "RM_") || room.Name != "lobby" || room.EmptyTimeout != 60 || room.MaxParticipants != 5 || room.Metadata != "hello" || room.CreationTime == 0 {
				t.Fatalf("CreateRoom returned %v", room)
			}
			again, err := rs.CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "lobby"})
			if err != nil || again.Sid != room.Sid {
				t.Fatalf("CreateRoom on an existing name = %v, %v; want the same room", again, err)
			}
			if _, err := rs.CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "other"}); err != nil {
				t.Fatal(err)
			}
			list, err := rs.ListRooms(ctx, &livekit.ListRoomsRequest{})
			if err != nil || len(list.Rooms) != 2 {
				t.Fatalf("ListRooms = %v, %v; want 2 rooms", list, err)
			}
			filtered, err := rs.ListRooms(ctx, &livekit.ListRoomsRequest{Names: []string{"lobby", "nope"}})
			if err != nil || len(filtered.Rooms) != 1 || filtered.Rooms[0].Sid != room.Sid {
				t.Fatalf("ListRooms(names) = %v, %v", filtered, err)
			}

			alice := join(ctx, t, node, "lobby", "alice", lkclient.Options{})
			parts, err := rs.ListParticipants(ctx, &livekit.ListParticipantsRequest{Room: "lobby"})
			if err != nil || len(parts.Participants) != 1 || parts.Participants[0].Identity != "alice" {
				t.Fatalf("ListParticipants = %v, %v", parts, err)
			}
			p, err := rs.GetParticipant(ctx, &livekit.RoomParticipantIdentity{Room: "lobby", Identity: "alice"})
			if err != nil || p.Sid != alice.SID() {
				t.Fatalf("GetParticipant = %v, %v", p, err)
			}
			if _, err := rs.GetParticipant(ctx, &livekit.RoomParticipantIdentity{Room: "lobby", Identity: "ghost"}); twirpCode(err) != twirp.NotFound {
				t.Fatalf("GetParticipant(ghost) = %v, want not_found", err)
			}

			if _, err := rs.DeleteRoom(ctx, &livekit.DeleteRoomRequest{Room: "lobby"}); err != nil {
				t.Fatalf("DeleteRoom: %v", err)
			}
			leave, err := alice.WaitDone(ctx)
			if err != nil || leave.GetReason() != livekit.DisconnectReason_ROOM_DELETED {
				t.Fatalf("alice got leave %v (%v), want ROOM_DELETED", leave, err)
			}
			if _, err := rs.DeleteRoom(ctx, &livekit.DeleteRoomRequest{Room: "lobby"}); twirpCode(err) != twirp.NotFound {
				t.Fatalf("second DeleteRoom = %v, want not_found", err)
			}
			if _, err := rs.DeleteRoom(ctx, &livekit.DeleteRoomRequest{Room: "other"}); err != nil {
				t.Fatal(err)
			}
			list, err = rs.ListRooms(ctx, &livekit.ListRoomsRequest{})
			if err != nil || len(list.Rooms) != 0 {
				t.Fatalf("ListRooms after delete = %v, %v", list, err)
			}
		})
	}
}

// Refused calls: no token and a wrong secret are HTTP 401; a roomJoin-only token cannot create
// rooms; an expired token is refused; admin of another room cannot list this one.
func TestRoomAPIRefusesBadTokens(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	mint := func(secret string, g *auth.VideoGrant, validFor time.Duration, notBefore time.Time) string {
		tok := auth.NewAccessToken(testkit.APIKey, secret).SetVideoGrant(g).SetValidFor(validFor)
		if !notBefore.IsZero() {
			tok.SetNotBefore(notBefore)
		}
		s, err := tok.ToJWT()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	create := &auth.VideoGrant{RoomCreate: true}
	cases := []struct {
		name       string
		token      string
		wantStatus int
		wantCode   twirp.ErrorCode
	}{
		{"no token", "", http.StatusUnauthorized, twirp.Unauthenticated},
		{"wrong secret", mint("not-the-secret", create, time.Hour, time.Time{}), http.StatusUnauthorized, twirp.Unauthenticated},
		{"garbage", "not.a.jwt", http.StatusUnauthorized, twirp.Unauthenticated},
		{"join-only token", testkit.Token(t, "x", "alice", nil), http.StatusUnauthorized, twirp.Unauthenticated}, // LiveKit: a missing grant is unauthenticated too
		{"expired", mint(testkit.APISecret, create, -2*time.Hour, time.Now().Add(-3*time.Hour)), http.StatusUnauthorized, twirp.Unauthenticated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := node.RoomService(c.token).CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "x"})
			if code := twirpCode(err); code != c.wantCode {
				t.Fatalf("CreateRoom error = %v, want %s", err, c.wantCode)
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, node.URL+"/twirp/livekit.RoomService/CreateRoom", strings.NewReader(`{"name":"x"}`))
			req.Header.Set("Content-Type", "application/json")
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != c.wantStatus {
				t.Fatalf("HTTP status %d (%s), want %d", res.StatusCode, body, c.wantStatus)
			}
		})
	}
	if _, err := node.RoomService(testkit.AdminToken(t, "a")).ListParticipants(ctx, &livekit.ListParticipantsRequest{Room: "b"}); twirpCode(err) != twirp.Unauthenticated {
		t.Fatalf("admin of room a listing room b = %v, want unauthenticated (LiveKit's answer to a missing grant)", err)
	}
	rooms, err := node.ListRooms(ctx, nil)
	if err != nil || len(rooms) != 0 {
		t.Fatalf("a refused call created a room: %v %v", rooms, err)
	}
}

// /debug/actors shows /node/rooms/<name> appearing on CreateRoom and vanishing on DeleteRoom,
// and the HTML page is served.
func TestDebugActorsFollowsRooms(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rs := node.RoomService(testkit.AdminToken(t, "dbg"))
	tree := func() map[string]actors.ActorInfo {
		res, err := http.Get(node.URL + "/debug/actors")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var list []actors.ActorInfo
		if err := json.NewDecoder(res.Body).Decode(&list); err != nil {
			t.Fatalf("decoding /debug/actors: %v", err)
		}
		out := map[string]actors.ActorInfo{}
		for _, a := range list {
			out[a.Path] = a
		}
		return out
	}
	if _, ok := tree()["/node"]; !ok {
		t.Fatal("/debug/actors does not list /node")
	}
	if _, err := rs.CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "dbg"}); err != nil {
		t.Fatal(err)
	}
	room, ok := tree()["/node/rooms/dbg"]
	if !ok || room.Kind != "room" {
		t.Fatalf("after CreateRoom the tree has %v", tree())
	}
	join(ctx, t, node, "dbg", "alice", lkclient.Options{})
	if p, ok := tree()["/node/rooms/dbg/alice"]; !ok || p.Kind != "participant" {
		t.Fatalf("participant missing from tree: %v", tree())
	}
	if _, err := rs.DeleteRoom(ctx, &livekit.DeleteRoomRequest{Room: "dbg"}); err != nil {
		t.Fatal(err)
	}
	for path := range tree() {
		if strings.HasPrefix(path, "/node/rooms/") {
			t.Fatalf("after DeleteRoom the tree still has %s", path)
		}
	}
	res, err := http.Get(node.URL + "/debug/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(page), "/debug/actors") {
		t.Fatalf("/debug/ = %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

// A panic inside one room's actor closes that room only: its participant is told, the node and
// the other room keep answering and forwarding.
func TestRoomPanicClosesOnlyThatRoom(t *testing.T) {
	node, faults := startFaultyNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	victim := join(ctx, t, node, "doomed", "alice", lkclient.Options{})
	bystander := join(ctx, t, node, "fine", "bob", lkclient.Options{})
	carol := join(ctx, t, node, "fine", "carol", lkclient.Options{})

	if err := faults.panicAt("/node/rooms/doomed"); err != nil {
		t.Fatal(err)
	}
	if _, err := victim.WaitDone(ctx); err != nil {
		t.Fatalf("alice was not disconnected when her room failed: %v", err)
	}
	if err := waitUntil(ctx, func() bool { return !node.HasActor("/node/rooms/doomed") }); err != nil {
		t.Fatal("the failed room's actors are still alive")
	}
	rooms, err := node.RoomService(testkit.AdminToken(t, "fine")).ListRooms(ctx, &livekit.ListRoomsRequest{})
	if err != nil || len(rooms.Rooms) != 1 || rooms.Rooms[0].Name != "fine" {
		t.Fatalf("ListRooms after the panic = %v, %v", rooms, err)
	}
	if err := bystander.PublishData(ctx, []byte("still here"), lkclient.DataOptions{Reliable: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.WaitData(ctx, func(d *lkclient.ReceivedData) bool { return string(d.Payload) == "still here" }); err != nil {
		t.Fatalf("the other room stopped relaying: %v", err)
	}
	// The node itself still creates rooms.
	join(ctx, t, node, "doomed", "alice2", lkclient.Options{})
}

func waitUntil(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

func twirpCode(err error) twirp.ErrorCode {
	var te twirp.Error
	if errors.As(err, &te) {
		return te.Code()
	}
	if err == nil {
		return twirp.NoError
	}
	return twirp.Unknown
}
