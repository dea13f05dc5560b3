package transport

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/twitchtv/twirp"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/actors/media"
	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/transport/auth"
)

// TestWithRealNode drives the edge against a real actors.Node on loopback: join over /rtc, see
// the participant through the Room API and /debug/actors, then delete the room.
func TestWithRealNode(t *testing.T) {
	node, err := actors.NewNode(actors.Config{
		Logger: testLogger(),
		Media:  media.Config{LoopbackOnly: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := node.Close(ctx); err != nil {
			t.Errorf("node close: %v", err)
		}
	})
	srv := httptest.NewServer(NewServer(ServerConfig{}, node, testKeys, testLogger()))
	t.Cleanup(srv.Close)

	res, err := srv.Client().Get(srv.URL + "/rtc/validate?access_token=" + token(t, "alice", joinGrant("r1")))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "success" {
		t.Fatalf("validate: %d %s", res.StatusCode, body)
	}

	ws := dial(t, srv.URL)
	join := readBinary(t, ws).GetJoin()
	if join == nil || join.GetServerInfo().GetVersion() == "" || join.GetParticipant().GetIdentity() != "alice" || join.GetRoom().GetName() != "r1" {
		t.Fatalf("first frame: %v", join)
	}

	rs := livekit.NewRoomServiceProtobufClient(srv.URL, srv.Client())
	admin := withBearer(t, serviceToken(t, &auth.VideoGrant{RoomAdmin: true, Room: "r1", RoomList: true, RoomCreate: true}))
	rooms, err := rs.ListRooms(admin, &livekit.ListRoomsRequest{})
	if err != nil || len(rooms.GetRooms()) != 1 || rooms.GetRooms()[0].GetName() != "r1" {
		t.Fatalf("ListRooms: %v %v", rooms, err)
	}
	ps, err := rs.ListParticipants(admin, &livekit.ListParticipantsRequest{Room: "r1"})
	if err != nil || len(ps.GetParticipants()) != 1 || ps.GetParticipants()[0].GetIdentity() != "alice" {
		t.Fatalf("ListParticipants: %v %v", ps, err)
	}
	if _, err := rs.GetParticipant(admin, &livekit.RoomParticipantIdentity{Room: "r1", Identity: "bob"}); twirpCode(err) != twirp.NotFound {
		t.Errorf("GetParticipant(bob): %v", err)
	}

	res, err = srv.Client().Get(srv.URL + "/debug/actors")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), "r1") || !strings.Contains(string(body), "alice") {
		t.Errorf("/debug/actors lacks the room or participant: %s", body)
	}

	if _, err := rs.DeleteRoom(admin, &livekit.DeleteRoomRequest{Room: "r1"}); err != nil {
		t.Fatalf("DeleteRoom: %v", err)
	}
	// alice is told to leave and the socket closes.
	for {
		_, _, err := ws.ReadMessage()
		if err != nil {
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				t.Logf("socket ended with %v", err)
			}
			break
		}
	}
	if _, err := rs.DeleteRoom(admin, &livekit.DeleteRoomRequest{Room: "r1"}); twirpCode(err) != twirp.NotFound {
		t.Errorf("second DeleteRoom: %v", err)
	}
}

// TestValidateAutoCreateOffRealNode: with auto-create off on the node (and nowhere else),
// /rtc/validate answers 404 for a room that does not exist and 200 once the Room API created it.
func TestValidateAutoCreateOffRealNode(t *testing.T) {
	node, err := actors.NewNode(actors.Config{
		Logger: testLogger(),
		Media:  media.Config{LoopbackOnly: true},
		Room:   actors.RoomConfig{DisableAutoCreate: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = node.Close(ctx)
	})
	srv := httptest.NewServer(NewServer(ServerConfig{}, node, testKeys, testLogger()))
	t.Cleanup(srv.Close)
	validate := func() (int, string) {
		res, err := srv.Client().Get(srv.URL + "/rtc/validate?access_token=" + token(t, "alice", joinGrant("r1")))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res.StatusCode, string(body)
	}
	if code, body := validate(); code != 404 || body != "requested room does not exist" {
		t.Fatalf("validate before CreateRoom: %d %s", code, body)
	}
	rs := livekit.NewRoomServiceProtobufClient(srv.URL, srv.Client())
	if _, err := rs.CreateRoom(withBearer(t, serviceToken(t, &auth.VideoGrant{RoomCreate: true})), &livekit.CreateRoomRequest{Name: "r1"}); err != nil {
		t.Fatalf("CreateRoom: %v", err)
	}
	if code, body := validate(); code != 200 || body != "success" {
		t.Fatalf("validate after CreateRoom: %d %s", code, body)
	}
}
