package conformance

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/twitchtv/twirp"
)

// twirpCode returns the Twirp error code of err ("" when err is not one).
func twirpCode(err error) twirp.ErrorCode {
	var te twirp.Error
	if errors.As(err, &te) {
		return te.Code()
	}
	return ""
}

// TestRoomServiceCRUD: create, re-create, list, update metadata and delete a
// room through the SDK's RoomServiceClient; missing rooms give not_found.
func TestRoomServiceCRUD(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	rc := roomClient()

	created, err := rc.CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "crud", EmptyTimeout: 120, MaxParticipants: 7, Metadata: "m1"})
	if err != nil {
		t.Fatalf("CreateRoom: %v", err)
	}
	if created.Name != "crud" || !strings.HasPrefix(created.Sid, "RM_") || created.EmptyTimeout != 120 || created.MaxParticipants != 7 || created.Metadata != "m1" {
		t.Fatalf("CreateRoom returned %v", created)
	}
	again, err := rc.CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "crud"})
	if err != nil || again.Sid != created.Sid {
		t.Fatalf("CreateRoom on an existing name: %v, %v; want the existing room %s", again, err, created.Sid)
	}
	if _, err := rc.CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "crud-other"}); err != nil {
		t.Fatalf("CreateRoom crud-other: %v", err)
	}

	all, err := rc.ListRooms(ctx, &livekit.ListRoomsRequest{})
	if err != nil {
		t.Fatalf("ListRooms: %v", err)
	}
	names := map[string]bool{}
	for _, r := range all.Rooms {
		names[r.Name] = true
	}
	if !names["crud"] || !names["crud-other"] {
		t.Fatalf("ListRooms = %v, want crud and crud-other", names)
	}
	one, err := rc.ListRooms(ctx, &livekit.ListRoomsRequest{Names: []string{"crud"}})
	if err != nil || len(one.Rooms) != 1 || one.Rooms[0].Sid != created.Sid {
		t.Fatalf("ListRooms(names=[crud]) = %v, %v", one, err)
	}

	upd, err := rc.UpdateRoomMetadata(ctx, &livekit.UpdateRoomMetadataRequest{Room: "crud", Metadata: "m2"})
	if err != nil || upd.Metadata != "m2" {
		t.Fatalf("UpdateRoomMetadata = %v, %v", upd, err)
	}
	parts, err := rc.ListParticipants(ctx, &livekit.ListParticipantsRequest{Room: "crud"})
	if err != nil || len(parts.Participants) != 0 {
		t.Fatalf("ListParticipants(empty room) = %v, %v", parts, err)
	}
	if _, err := rc.GetParticipant(ctx, &livekit.RoomParticipantIdentity{Room: "crud", Identity: "nobody"}); twirpCode(err) != twirp.NotFound {
		t.Fatalf("GetParticipant(nobody) error = %v, want not_found", err)
	}

	for _, name := range []string{"crud", "crud-other"} {
		if _, err := rc.DeleteRoom(ctx, &livekit.DeleteRoomRequest{Room: name}); err != nil {
			t.Fatalf("DeleteRoom(%s): %v", name, err)
		}
	}
	left, err := rc.ListRooms(ctx, &livekit.ListRoomsRequest{Names: []string{"crud", "crud-other"}})
	if err != nil || len(left.Rooms) != 0 {
		t.Fatalf("ListRooms after delete = %v, %v", left, err)
	}
	if _, err := rc.DeleteRoom(ctx, &livekit.DeleteRoomRequest{Room: "crud"}); twirpCode(err) != twirp.NotFound {
		t.Fatalf("DeleteRoom(missing) error = %v, want not_found", err)
	}
}

// TestRoomServiceRefused: a wrong secret is refused as unauthenticated and
// changes nothing.
func TestRoomServiceRefused(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	bad := lksdk.NewRoomServiceClient(httpURL, apiKey, "not-the-secret")
	if _, err := bad.CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "refused"}); twirpCode(err) != twirp.Unauthenticated {
		t.Fatalf("CreateRoom with a wrong secret: error %v, want unauthenticated", err)
	}
	if _, err := bad.ListRooms(ctx, &livekit.ListRoomsRequest{}); twirpCode(err) != twirp.Unauthenticated {
		t.Fatalf("ListRooms with a wrong secret: error %v, want unauthenticated", err)
	}
	unknown := lksdk.NewRoomServiceClient(httpURL, "no-such-key", apiSecret)
	if _, err := unknown.ListRooms(ctx, &livekit.ListRoomsRequest{}); twirpCode(err) != twirp.Unauthenticated {
		t.Fatalf("ListRooms with an unknown key: error %v, want unauthenticated", err)
	}
	rooms, err := roomClient().ListRooms(ctx, &livekit.ListRoomsRequest{Names: []string{"refused"}})
	if err != nil || len(rooms.Rooms) != 0 {
		t.Fatalf("after refused CreateRoom: ListRooms = %v, %v", rooms, err)
	}
	// Joining with a wrong secret is refused at the upgrade.
	_, err = lksdk.ConnectToRoom(wsURL, lksdk.ConnectInfo{APIKey: apiKey, APISecret: "wrong", RoomName: "refused", ParticipantIdentity: "mallory"},
		lksdk.NewRoomCallback(), lksdk.WithConnectTimeout(5*time.Second))
	if err == nil {
		t.Fatal("ConnectToRoom with a wrong secret succeeded")
	}
	t.Logf("join with a wrong secret refused: %v", err)
}
