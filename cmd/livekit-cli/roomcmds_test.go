package main

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// decode parses command output printed with printJSON.
func decode[M proto.Message](t testing.TB, out string, m M) M {
	t.Helper()
	if err := protojson.Unmarshal([]byte(out), m); err != nil {
		t.Fatalf("decoding %T from %q: %v", m, out, err)
	}
	return m
}

// parseCreateRoom reads create-room's output: the room as JSON alone on stdout (so that it pipes
// into jq) and the join token line on stderr.
func parseCreateRoom(t testing.TB, r result) (*livekit.Room, string) {
	t.Helper()
	_, last, ok := strings.Cut(r.stderr, "join token (")
	if !ok {
		t.Fatalf("no join token line in stderr %q", r.stderr)
	}
	_, tok, ok := strings.Cut(strings.TrimSpace(last), "): ")
	if !ok {
		t.Fatalf("bad join token line %q", last)
	}
	return decode(t, r.stdout, &livekit.Room{}), strings.TrimSpace(tok)
}

func TestRoomCommands(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	node := testkit.StartNode(t, testkit.Options{})

	// create-room prints the room and a join token, which lets alice in.
	r := mustCLI(ctx, t, node, "create-room", "--name", "r1", "--empty-timeout", "5m", "--max-participants", "7",
		"--metadata", "hello", "--identity", "alice")
	room, tok := parseCreateRoom(t, r)
	if room.GetName() != "r1" || !strings.HasPrefix(room.GetSid(), "RM_") || room.GetEmptyTimeout() != 300 ||
		room.GetMaxParticipants() != 7 || room.GetMetadata() != "hello" || room.GetCreationTime() == 0 {
		t.Fatalf("create-room printed %v", room)
	}
	if !strings.Contains(r.stdout, `"creation_time"`) {
		t.Errorf("create-room output lacks creation_time (proto names): %s", r.stdout)
	}
	alice, err := testkit.Join(ctx, node.URL, tok, lkclient.Options{})
	if err != nil {
		t.Fatalf("alice joins with create-room's token: %v", err)
	}
	defer alice.Close()
	if alice.Identity() != "alice" || alice.Room().GetSid() != room.GetSid() {
		t.Fatalf("alice joined as %q in %v", alice.Identity(), alice.Room())
	}

	t.Run("list-rooms", func(t *testing.T) {
		res := decode(t, mustCLI(ctx, t, node, "list-rooms").stdout, &livekit.ListRoomsResponse{})
		if len(res.GetRooms()) != 1 || res.GetRooms()[0].GetSid() != room.GetSid() {
			t.Errorf("list-rooms = %v", res)
		}
		res = decode(t, mustCLI(ctx, t, node, "list-rooms", "--names", "nope,other").stdout, &livekit.ListRoomsResponse{})
		if len(res.GetRooms()) != 0 {
			t.Errorf("list-rooms --names nope,other = %v", res)
		}
	})

	t.Run("list-participants", func(t *testing.T) {
		res := decode(t, mustCLI(ctx, t, node, "list-participants", "--room", "r1").stdout, &livekit.ListParticipantsResponse{})
		if len(res.GetParticipants()) != 1 || res.GetParticipants()[0].GetIdentity() != "alice" {
			t.Errorf("list-participants = %v", res)
		}
	})

	t.Run("get-participant", func(t *testing.T) {
		p := decode(t, mustCLI(ctx, t, node, "get-participant", "--room", "r1", "--identity", "alice").stdout, &livekit.ParticipantInfo{})
		if p.GetSid() != alice.SID() {
			t.Errorf("get-participant = %v, want sid %s", p, alice.SID())
		}
		r := cli(ctx, t, node, "get-participant", "--room", "r1", "--identity", "nobody")
		if r.code != exitError || r.stderr != "livekit-cli: get-participant: not_found: participant does not exist\n" {
			t.Errorf("unknown participant: exit %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("update-metadata", func(t *testing.T) {
		rm := decode(t, mustCLI(ctx, t, node, "update-metadata", "--room", "r1", "--metadata", "room-md").stdout, &livekit.Room{})
		if rm.GetMetadata() != "room-md" {
			t.Errorf("room metadata = %q", rm.GetMetadata())
		}
		p := decode(t, mustCLI(ctx, t, node, "update-metadata", "--room", "r1", "--identity", "alice", "--metadata", "p-md").stdout,
			&livekit.ParticipantInfo{})
		if p.GetMetadata() != "p-md" {
			t.Errorf("participant metadata = %q", p.GetMetadata())
		}
		if err := alice.WaitFor(ctx, func() bool { return alice.LocalParticipant().GetMetadata() == "p-md" }); err != nil {
			t.Errorf("alice never saw her new metadata: %v", err)
		}
	})

	t.Run("update-participant", func(t *testing.T) {
		p := decode(t, mustCLI(ctx, t, node, "update-participant", "--room", "r1", "--identity", "alice",
			"--name", "Alice", "--attributes", "team=blue", "--can-publish-data=false").stdout, &livekit.ParticipantInfo{})
		perm := p.GetPermission()
		if p.GetName() != "Alice" || p.GetAttributes()["team"] != "blue" || perm.GetCanPublishData() ||
			!perm.GetCanPublish() || !perm.GetCanSubscribe() {
			t.Errorf("update-participant = %v", p)
		}
	})

	t.Run("mute-track", func(t *testing.T) {
		lt, err := alice.PublishTrack(ctx, lkclient.TrackOptions{Codec: "audio/opus", Name: "mic"})
		if err != nil {
			t.Fatalf("alice publishes: %v", err)
		}
		tr := decode(t, mustCLI(ctx, t, node, "mute-track", "--room", "r1", "--identity", "alice", "--track", lt.SID()).stdout,
			&livekit.TrackInfo{})
		if tr.GetSid() != lt.SID() || !tr.GetMuted() {
			t.Errorf("mute-track = %v", tr)
		}
		if err := alice.WaitFor(ctx, lt.Muted); err != nil {
			t.Errorf("alice's track never muted: %v", err)
		}
		// Like LiveKit, the node refuses remote unmute unless configured to allow it.
		r := cli(ctx, t, node, "mute-track", "--room", "r1", "--identity", "alice", "--track", lt.SID(), "--muted=false")
		if r.code != exitError || !strings.HasPrefix(r.stderr, "livekit-cli: mute-track: failed_precondition: ") {
			t.Errorf("remote unmute: exit %d, stderr %q", r.code, r.stderr)
		}
		r = cli(ctx, t, node, "mute-track", "--room", "r1", "--identity", "alice", "--track", "TR_nope")
		if r.code != exitError || !strings.Contains(r.stderr, "not_found") {
			t.Errorf("unknown track: exit %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("send-data", func(t *testing.T) {
		r := mustCLI(ctx, t, node, "send-data", "--room", "r1", "--data", "ping", "--topic", "cli")
		if r.stdout != "sent 4 bytes to room r1\n" {
			t.Errorf("send-data printed %q", r.stdout)
		}
		d, err := alice.WaitData(ctx, func(d *lkclient.ReceivedData) bool { return d.Topic == "cli" })
		if err != nil {
			t.Fatalf("alice got no data: %v", err)
		}
		if string(d.Payload) != "ping" || !d.Reliable() {
			t.Errorf("alice got %q reliable=%v", d.Payload, d.Reliable())
		}
	})

	t.Run("refused with a bad secret", func(t *testing.T) {
		for _, args := range [][]string{
			{"list-rooms"},
			{"create-room", "--name", "r2"},
			{"delete-room", "--room", "r1"},
			{"list-participants", "--room", "r1"},
			{"get-participant", "--room", "r1", "--identity", "alice"},
			{"remove-participant", "--room", "r1", "--identity", "alice"},
			{"mute-track", "--room", "r1", "--identity", "alice", "--track", "TR_x"},
			{"update-metadata", "--room", "r1", "--metadata", "x"},
			{"update-participant", "--room", "r1", "--identity", "alice", "--name", "x"},
			{"send-data", "--room", "r1", "--data", "x"},
		} {
			r := cli(ctx, t, node, append(args, "--api-secret", "wrong")...)
			want := "livekit-cli: " + args[0] + ": unauthenticated: invalid authorization token"
			if r.code != exitError || !strings.HasPrefix(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("%s with a bad secret: exit %d, stderr %q; want exit 1 and %q…", args[0], r.code, r.stderr, want)
			}
		}
		r := cli(ctx, t, node, "list-rooms", "--api-key", "otherkey")
		if want := "livekit-cli: list-rooms: unauthenticated: invalid API key\n"; r.code != exitError || r.stderr != want {
			t.Errorf("unknown API key: exit %d, stderr %q, want %q", r.code, r.stderr, want)
		}
		// Nothing was changed by the refused calls.
		res := decode(t, mustCLI(ctx, t, node, "list-participants", "--room", "r1").stdout, &livekit.ListParticipantsResponse{})
		if len(res.GetParticipants()) != 1 || res.GetParticipants()[0].GetName() != "Alice" {
			t.Errorf("after refused calls: %v", res)
		}
	})

	t.Run("remove-participant", func(t *testing.T) {
		r := mustCLI(ctx, t, node, "remove-participant", "--room", "r1", "--identity", "alice")
		if r.stdout != "removed alice from room r1\n" {
			t.Errorf("remove-participant printed %q", r.stdout)
		}
		if _, err := alice.WaitDone(ctx); err != nil {
			t.Fatalf("alice was not disconnected: %v", err)
		}
	})

	t.Run("delete-room", func(t *testing.T) {
		r := mustCLI(ctx, t, node, "delete-room", "--room", "r1")
		if r.stdout != "deleted room r1\n" {
			t.Errorf("delete-room printed %q", r.stdout)
		}
		res := decode(t, mustCLI(ctx, t, node, "list-rooms").stdout, &livekit.ListRoomsResponse{})
		if len(res.GetRooms()) != 0 {
			t.Errorf("rooms after delete-room: %v", res)
		}
		r = cli(ctx, t, node, "delete-room", "--room", "r1")
		if r.code != exitError || r.stderr != "livekit-cli: delete-room: not_found: requested room does not exist\n" {
			t.Errorf("deleting again: exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

// TestGlobalFlagsFromEnv checks LIVEKIT_URL / LIVEKIT_API_KEY / LIVEKIT_API_SECRET.
func TestGlobalFlagsFromEnv(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	node := testkit.StartNode(t, testkit.Options{})
	t.Setenv("LIVEKIT_URL", node.URL)
	t.Setenv("LIVEKIT_API_KEY", testkit.APIKey)
	t.Setenv("LIVEKIT_API_SECRET", "wrong")
	var out, errOut strings.Builder
	if code := run(ctx, []string{"list-rooms"}, &out, &errOut); code != exitError ||
		!strings.Contains(errOut.String(), "unauthenticated") {
		t.Errorf("secret from env: exit %d, stderr %q", code, errOut.String())
	}
	out.Reset()
	errOut.Reset()
	// A flag wins over the environment, given before or after the command.
	for _, args := range [][]string{
		{"--api-secret", testkit.APISecret, "list-rooms"},
		{"list-rooms", "--api-secret", testkit.APISecret},
	} {
		if code := run(ctx, args, &out, &errOut); code != exitOK {
			t.Errorf("%q: exit %d, stderr %q", args, code, errOut.String())
		}
	}
}

// TestCreateRoomWithoutName checks the original flow's first step: create-room with no flags
// creates a room with a generated name and prints it as JSON alone on stdout.
func TestCreateRoomWithoutName(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	node := testkit.StartNode(t, testkit.Options{})
	names := map[string]bool{}
	for range 2 {
		r := mustCLI(ctx, t, node, "create-room")
		room, tok := parseCreateRoom(t, r)
		name := room.GetName()
		if len(name) != len("room-")+8 || !strings.HasPrefix(name, "room-") || !strings.HasPrefix(room.GetSid(), "RM_") ||
			room.GetCreationTime() == 0 || tok == "" {
			t.Fatalf("create-room printed %v (token %q)", room, tok)
		}
		names[name] = true
	}
	if len(names) != 2 {
		t.Errorf("two create-room calls gave the names %v, want two different ones", names)
	}
	res := decode(t, mustCLI(ctx, t, node, "list-rooms").stdout, &livekit.ListRoomsResponse{})
	if len(res.GetRooms()) != 2 {
		t.Errorf("list-rooms after two create-room = %v", res)
	}
}
