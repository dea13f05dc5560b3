package transport

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/twitchtv/twirp"

	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/transport/auth"
)

func TestCheckNames(t *testing.T) {
	cfg := ServerConfig{MaxRoomNameLength: 4, MaxIdentityLength: 5, MaxNameLength: 6}.withDefaults()
	tests := []struct {
		name    string
		checks  []nameCheck
		wantMsg string // "" means accepted
		wantArg string
	}{
		{"all within limits", []nameCheck{{identityName, "alice", true}, {roomName, "room", true}, {displayName, "Alice!", false}}, "", ""},
		{"optional name may be empty", []nameCheck{{displayName, "", false}}, "", ""},
		{"empty identity", []nameCheck{{identityName, "", true}}, "identity cannot be empty", "identity"},
		{"empty room", []nameCheck{{roomName, "", true}}, "no room name", "room"},
		{"room at the limit", []nameCheck{{roomName, "abcd", true}}, "", ""},
		{"room over the limit", []nameCheck{{roomName, "abcde", true}}, "room name is longer than 4 bytes", "room"},
		{"identity over the limit", []nameCheck{{identityName, "abcdef", true}}, "identity is longer than 5 bytes", "identity"},
		{"name held to the name limit, not the identity limit", []nameCheck{{displayName, "abcdef", false}}, "", ""},
		{"name over the name limit", []nameCheck{{displayName, "abcdefg", false}}, "name is longer than 6 bytes", "name"},
		{"lengths are bytes, not runes", []nameCheck{{roomName, "ééé", true}}, "room name is longer than 4 bytes", "room"},
		{"a missing value wins over an earlier long one", []nameCheck{{identityName, "abcdefgh", true}, {roomName, "", true}}, "no room name", "room"},
		{"lengths in the order given", []nameCheck{{identityName, "abcdefgh", true}, {roomName, "abcdefgh", true}}, "identity is longer than 5 bytes", "identity"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ne := cfg.checkNames(tc.checks...)
			if tc.wantMsg == "" {
				if ne != nil {
					t.Fatalf("refused: %v", ne)
				}
				if err := cfg.checkNamesTwirp(tc.checks...); err != nil {
					t.Fatalf("twirp refused: %v", err)
				}
				return
			}
			if ne == nil || ne.Error() != tc.wantMsg {
				t.Fatalf("got %v, want %q", ne, tc.wantMsg)
			}
			var te twirp.Error
			if !errors.As(cfg.checkNamesTwirp(tc.checks...), &te) || te.Code() != twirp.InvalidArgument || te.Meta("argument") != tc.wantArg {
				t.Fatalf("twirp error %v, want invalid_argument on %q", te, tc.wantArg)
			}
		})
	}
}

// TestUpdateParticipantNameLimit: a new name is held to the name limit (not the identity limit)
// before the request reaches the node.
func TestUpdateParticipantNameLimit(t *testing.T) {
	node := newFakeNode()
	srv := startServer(t, ServerConfig{MaxIdentityLength: 10, MaxNameLength: 20}, node)
	c := livekit.NewRoomServiceProtobufClient(srv.URL, srv.Client())
	ctx := withBearer(t, serviceToken(t, &auth.VideoGrant{RoomAdmin: true, Room: "r1"}))
	update := func(name string) error {
		_, err := c.UpdateParticipant(ctx, &livekit.UpdateParticipantRequest{Room: "r1", Identity: "alice", Name: name})
		return err
	}
	if err := update(strings.Repeat("n", 15)); err != nil {
		t.Fatalf("name over the identity limit but within the name limit refused: %v", err)
	}
	err := update(strings.Repeat("n", 21))
	var te twirp.Error
	if !errors.As(err, &te) || te.Code() != twirp.InvalidArgument || te.Meta("argument") != "name" || !strings.Contains(te.Msg(), "20 bytes") {
		t.Fatalf("name over the name limit: %v", err)
	}
	node.mu.Lock()
	defer node.mu.Unlock()
	if len(node.calls) != 1 {
		t.Fatalf("node calls %v, want exactly the accepted update", node.calls)
	}
}

// Client-supplied text quoted in a log line is clipped on a rune boundary and says what it cut.
func TestClipForLog(t *testing.T) {
	if got := clipForLog("short"); got != "short" {
		t.Errorf("clipForLog(short) = %q", got)
	}
	long := strings.Repeat("é", 150) // 300 bytes
	got := clipForLog(long)
	if !utf8.ValidString(got) || len(got) > maxLoggedInput+32 || !strings.HasSuffix(got, "(100 more bytes)") {
		t.Errorf("clipForLog(300 bytes of é) = %q (%d bytes)", got, len(got))
	}
}
