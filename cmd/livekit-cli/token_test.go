package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twitchtv/twirp"

	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport/auth"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// token runs create-token and returns the JWT it printed.
func token(t *testing.T, node *testkit.Node, args ...string) string {
	t.Helper()
	r := mustCLI(testCtx(t, 5*time.Second), t, node, append([]string{"create-token"}, args...)...)
	tok := strings.TrimSuffix(r.stdout, "\n")
	if strings.Count(tok, ".") != 2 || strings.ContainsAny(tok, " \n") {
		t.Fatalf("create-token printed %q, want one JWT", r.stdout)
	}
	return tok
}

func TestCreateToken(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	node := testkit.StartNode(t, testkit.Options{})

	// --create --list: the node accepts it for CreateRoom and ListRooms, not for admin calls.
	svc := node.RoomService(token(t, node, "--create", "--list"))
	if _, err := svc.CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "tok"}); err != nil {
		t.Fatalf("CreateRoom with --create token: %v", err)
	}
	rooms, err := svc.ListRooms(ctx, &livekit.ListRoomsRequest{})
	if err != nil || len(rooms.GetRooms()) != 1 {
		t.Fatalf("ListRooms with --list token: %v, %v", rooms, err)
	}
	_, err = svc.ListParticipants(ctx, &livekit.ListParticipantsRequest{Room: "tok"})
	if te := (twirp.Error)(nil); !errors.As(err, &te) || te.Code() != twirp.Unauthenticated || te.Msg() != "permissions denied" {
		t.Errorf("ListParticipants without roomAdmin: %v, want unauthenticated: permissions denied (LiveKit's answer)", err)
	}

	// --admin --room: admin calls on that room only.
	admin := node.RoomService(token(t, node, "--admin", "--room", "tok"))
	if _, err := admin.ListParticipants(ctx, &livekit.ListParticipantsRequest{Room: "tok"}); err != nil {
		t.Errorf("ListParticipants with --admin token: %v", err)
	}
	if _, err := admin.ListParticipants(ctx, &livekit.ListParticipantsRequest{Room: "other"}); err == nil {
		t.Error("--admin --room tok was accepted for room other")
	}

	// --join with permissions, identity, name, metadata and attributes.
	tok := token(t, node, "--join", "--room", "tok", "--identity", "bob", "--name", "Bob", "--metadata", "md",
		"--attributes", "k=v", "--can-publish=false", "--valid-for", "10m")
	bob, err := testkit.Join(ctx, node.URL, tok, lkclient.Options{})
	if err != nil {
		t.Fatalf("bob joins with create-token's token: %v", err)
	}
	defer bob.Close()
	p := bob.LocalParticipant()
	if p.GetIdentity() != "bob" || p.GetName() != "Bob" || p.GetMetadata() != "md" || p.GetAttributes()["k"] != "v" ||
		p.GetPermission().GetCanPublish() || !p.GetPermission().GetCanSubscribe() {
		t.Errorf("bob joined as %v", p)
	}

	// A token signed with another secret is refused by the node.
	bad := mustCLI(ctx, t, node, "create-token", "--list", "--api-secret", "other").stdout
	if _, err := node.RoomService(strings.TrimSpace(bad)).ListRooms(ctx, &livekit.ListRoomsRequest{}); err == nil {
		t.Error("a token signed with the wrong secret was accepted")
	}
}

// TestCreateTokenClaims decodes a token with the node's verifier.
func TestCreateTokenClaims(t *testing.T) {
	var out, errOut strings.Builder
	code := run(testCtx(t, 5*time.Second), []string{"--api-key", "k1", "--api-secret", "s1", "create-token",
		"--join", "--room", "r", "--identity", "id", "--sources", "camera,microphone", "--hidden"}, &out, &errOut)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	v := auth.NewVerifier(auth.KeyProvider{"k1": "s1"})
	g, err := v.Verify(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if g.Identity != "id" || g.APIKey != "k1" || g.Video == nil || !g.Video.RoomJoin || g.Video.Room != "r" ||
		!g.Video.Hidden || len(g.Video.CanPublishSources) != 2 || g.Video.RoomAdmin || g.Video.RoomCreate {
		t.Errorf("claims %+v video %+v", g, g.Video)
	}
}
