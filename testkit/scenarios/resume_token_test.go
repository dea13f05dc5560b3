package scenarios

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport/auth"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// refreshTokens returns the refresh tokens c has received, oldest first.
func refreshTokens(c *lkclient.Client) []string {
	var out []string
	for _, s := range c.Signals() {
		if tok := s.GetRefreshToken(); tok != "" {
			out = append(out, tok)
		}
	}
	return out
}

// shortToken is a join token that the verifier accepts for about two more seconds only (its exp
// lies just inside the 60 s leeway).
func shortToken(t *testing.T, room, identity string) (string, time.Time) {
	t.Helper()
	validFor := -auth.DefaultLeeway + 2*time.Second
	tok, err := auth.NewAccessToken(testkit.APIKey, testkit.APISecret).SetIdentity(identity).SetName(identity).
		SetVideoGrant(&auth.VideoGrant{RoomJoin: true, Room: room}).SetValidFor(validFor).ToJWT()
	if err != nil {
		t.Fatal(err)
	}
	return tok, time.Now().Add(2 * time.Second)
}

// The node sends refresh_token right after the join and then every TokenRefreshInterval, and
// again when the Room API changes the participant; the token carries the changed permission and
// metadata and lives at least ten minutes. After the original token has expired, a resume and a
// full reconnect with the refreshed token both succeed, and the changed permission survives both.
func TestRefreshTokenOutlivesOriginal(t *testing.T) {
	const interval = 400 * time.Millisecond
	node := testkit.StartNode(t, testkit.Options{Actors: actors.Config{Session: actors.SessionConfig{TokenRefreshInterval: interval}}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	orig, origExpires := shortToken(t, "refresh", "alice")
	alice, err := testkit.Join(ctx, node.WSURL, orig, lkclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { alice.Close() }()
	within(t, interval/2, "the first refresh token", func(ctx context.Context) error {
		return alice.WaitFor(ctx, func() bool { return len(refreshTokens(alice)) >= 1 })
	})
	within(t, 3*interval, "two periodic refresh tokens", func(ctx context.Context) error {
		return alice.WaitFor(ctx, func() bool { return len(refreshTokens(alice)) >= 3 })
	})
	verifier := auth.NewVerifier(auth.KeyProvider{testkit.APIKey: testkit.APISecret})
	g, err := verifier.Verify(alice.RefreshToken())
	if err != nil {
		t.Fatalf("refresh token does not verify: %v", err)
	}
	if g.Identity != "alice" || g.Name != "alice" || g.Video.Room != "refresh" || !g.Video.RoomJoin || time.Until(g.Expires) < 9*time.Minute {
		t.Errorf("refresh token grants %+v (video %+v), expires in %v", g, g.Video, time.Until(g.Expires))
	}

	rs := node.RoomService(testkit.AdminToken(t, "refresh"))
	perm := &livekit.ParticipantPermission{CanSubscribe: true, CanPublish: true, CanPublishData: false}
	if _, err := rs.UpdateParticipant(ctx, &livekit.UpdateParticipantRequest{Room: "refresh", Identity: "alice", Metadata: "m1", Permission: perm}); err != nil {
		t.Fatal(err)
	}
	within(t, interval/2, "a refresh token with the new permission", func(ctx context.Context) error {
		return alice.WaitFor(ctx, func() bool {
			g, err := verifier.Verify(alice.RefreshToken())
			return err == nil && g.Metadata == "m1" && !g.Video.GetCanPublishData() && g.Video.GetCanPublish()
		})
	})

	time.Sleep(time.Until(origExpires) + 200*time.Millisecond)
	if _, status, _ := dialResume(ctx, node, orig, alice.SID()); status != http.StatusUnauthorized {
		t.Fatalf("the original token still works (status %d); the test proves nothing", status)
	}
	if err := alice.Resume(ctx); err != nil {
		t.Fatalf("resume with the refreshed token: %v", err)
	}
	if p, err := node.GetParticipant(ctx, "refresh", "alice"); err != nil || p.Permission.GetCanPublishData() || p.Metadata != "m1" {
		t.Errorf("after the resume alice is %v, %v; want canPublishData off, metadata m1", p, err)
	}

	refreshed := alice.RefreshToken()
	alice.Close()
	again, err := testkit.Join(ctx, node.WSURL, refreshed, lkclient.Options{})
	if err != nil {
		t.Fatalf("full reconnect with the refreshed token: %v", err)
	}
	defer again.Close()
	if p := again.JoinResponse().GetParticipant(); p.GetPermission().GetCanPublishData() || p.GetMetadata() != "m1" || !p.GetPermission().GetCanPublish() {
		t.Errorf("after a full reconnect alice is %v; want the permission and metadata set through the Room API", p)
	}
}

// A client that sends nothing and answers no WebSocket ping for ping_timeout is treated as gone:
// the node closes its socket and, with no media either, it leaves after the grace period. A quiet
// client that answers pings (server-sdk-go sends no signal pings) stays.
func TestPingTimeoutEnforced(t *testing.T) {
	const timeout = 2 * time.Second
	node := testkit.StartNode(t, testkit.Options{Actors: actors.Config{
		PingInterval: 500 * time.Millisecond, PingTimeout: timeout,
		Session: actors.SessionConfig{DisconnectGrace: 300 * time.Millisecond},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	quiet := join(ctx, t, node, "ping", "quiet", lkclient.Options{})

	u, err := lkclient.RTCURL(node.WSURL, testkit.Token(t, "ping", "mute", nil), lkclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetPingHandler(func(string) error { return nil }) // reads pings, never answers
	start := time.Now()
	closed := make(chan error, 1)
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				closed <- err
				return
			}
		}
	}()
	select {
	case <-closed:
		if el := time.Since(start); el < timeout-200*time.Millisecond || el > timeout+2*time.Second {
			t.Errorf("silent client cut after %v, want about %v", el, timeout)
		}
	case <-time.After(timeout + 3*time.Second):
		t.Fatal("the node never cut the silent client")
	}
	within(t, 2*time.Second, "the silent participant leaving", func(ctx context.Context) error {
		return quiet.WaitParticipantGone(ctx, "mute")
	})
	time.Sleep(timeout)
	if quiet.Err() != nil {
		t.Errorf("the quiet client that answers pings was cut: %v", quiet.Err())
	}
	if _, err := node.GetParticipant(ctx, "ping", "quiet"); err != nil {
		t.Errorf("the quiet client is gone: %v", err)
	}
}

// SyncState is reconciled: naming the tracks the session has is fine; naming a track it does not
// have means the state cannot be kept, and the client is told leave{STATE_MISMATCH, RECONNECT}.
func TestSyncStateMismatchAsksFullReconnect(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	alice := join(ctx, t, node, "sync", "alice", lkclient.Options{})
	cam, _ := publish(ctx, t, alice, webrtc.RTPCodecTypeVideo, 0)
	sync := func(tracks ...*livekit.TrackInfo) {
		s := &livekit.SyncState{Subscription: &livekit.UpdateSubscription{}}
		for _, ti := range tracks {
			s.PublishTracks = append(s.PublishTracks, &livekit.TrackPublishedResponse{Cid: "c", Track: ti})
		}
		if err := alice.SendRequest(&livekit.SignalRequest{Message: &livekit.SignalRequest_SyncState{SyncState: s}}); err != nil {
			t.Fatal(err)
		}
	}
	sync(cam.Info())
	time.Sleep(300 * time.Millisecond)
	if alice.LeaveRequest() != nil {
		t.Fatalf("a matching SyncState was refused: %v", alice.LeaveRequest())
	}
	sync(cam.Info(), &livekit.TrackInfo{Sid: "TR_unknown"})
	leave, err := alice.WaitDone(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if leave.GetReason() != livekit.DisconnectReason_STATE_MISMATCH || leave.GetAction() != livekit.LeaveRequest_RECONNECT {
		t.Errorf("leave = %v, want STATE_MISMATCH, RECONNECT", leave)
	}
}
