package scenarios

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v3"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport"
	"github.com/actor-sfu/livekit-server/transport/auth"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// Limits of the node the bad-input suite runs against: small enough to reach from a test.
const (
	badMaxFrame    = 64 << 10
	badMaxMetadata = 8 << 10
	badSignalRate  = 20
	badSignalBurst = 60
)

// healthyRoom is the bystanders of the bad-input suite: alice publishes video and sends data, bob
// receives both. After every bad input, check proves the room did not notice.
type healthyRoom struct {
	node       *testkit.Node
	alice, bob *lkclient.Client
	rt         *lkclient.RemoteTrack
	seq        atomic.Int64
}

func startHealthyRoom(ctx context.Context, t *testing.T, node *testkit.Node, room string) *healthyRoom {
	t.Helper()
	alice := join(ctx, t, node, room, "alice", lkclient.Options{})
	bob := join(ctx, t, node, room, "bob", lkclient.Options{})
	cam, _ := publish(ctx, t, alice, webrtc.RTPCodecTypeVideo, 0)
	rt, err := bob.WaitSubscribed(ctx, cam.SID())
	if err != nil {
		t.Fatal(err)
	}
	return &healthyRoom{node: node, alice: alice, bob: bob, rt: rt}
}

// check fails the test unless alice and bob are still connected, bob still receives alice's
// video, and a data packet from alice reaches bob.
func (h *healthyRoom) check(ctx context.Context, t *testing.T) {
	t.Helper()
	for _, c := range []*lkclient.Client{h.alice, h.bob} {
		select {
		case <-c.Done():
			t.Fatalf("%s was disconnected: %v", c.Identity(), c.Err())
		default:
		}
	}
	before := h.rt.Stats().Packets
	if err := h.rt.WaitPackets(ctx, before+15); err != nil {
		t.Fatalf("alice's video stopped reaching bob: %v", err)
	}
	payload := fmt.Sprintf("still-here-%d", h.seq.Add(1))
	if err := h.alice.PublishData(ctx, []byte(payload), lkclient.DataOptions{Reliable: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.bob.WaitData(ctx, func(d *lkclient.ReceivedData) bool { return string(d.Payload) == payload }); err != nil {
		t.Fatalf("alice's data stopped reaching bob: %v", err)
	}
}

// closeOf returns the close frame a client's session ended with.
func closeOf(ctx context.Context, t *testing.T, c *lkclient.Client) *websocket.CloseError {
	t.Helper()
	if _, err := c.WaitDone(ctx); err != nil {
		t.Fatalf("the server did not close %s's connection: %v", c.Identity(), err)
	}
	var ce *websocket.CloseError
	if !errors.As(c.Err(), &ce) {
		t.Fatalf("%s's session ended without a close frame: %v", c.Identity(), c.Err())
	}
	return ce
}

// refusal waits for a request_response with the given reason whose message contains text.
func refusal(ctx context.Context, t *testing.T, c *lkclient.Client, reason livekit.RequestResponse_Reason, text string) *livekit.RequestResponse {
	t.Helper()
	res, err := c.WaitSignal(ctx, func(r *livekit.SignalResponse) bool {
		rr := r.GetRequestResponse()
		return rr != nil && rr.GetReason() == reason && strings.Contains(rr.GetMessage(), text)
	})
	if err != nil {
		t.Fatalf("%s got no request_response %s %q: %v", c.Identity(), reason, text, err)
	}
	return res.GetRequestResponse()
}

// mintRaw signs arbitrary claims, for tokens the builder refuses to make.
func mintRaw(t *testing.T, method jwt.SigningMethod, claims jwt.MapClaims, secret string) string {
	t.Helper()
	var key any = []byte(secret)
	if method == jwt.SigningMethodNone {
		key = jwt.UnsafeAllowNoneSignatureType
	}
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func joinClaims(room, identity string, exp, nbf time.Time) jwt.MapClaims {
	c := jwt.MapClaims{"iss": testkit.APIKey, "video": map[string]any{"roomJoin": true, "room": room}, "exp": exp.Unix(), "nbf": nbf.Unix()}
	if identity != "" {
		c["sub"] = identity
	}
	return c
}

// Every kind of bad input gets a clear answer — a close frame with code and reason, a
// request_response, or an HTTP status with a text — and the room and its other participants do
// not notice: after each case bob still receives alice's video and data.
func TestBadInputIsRefusedAndIsolated(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{
		// A short grace: participants whose socket closes without media leave quickly.
		Actors: actors.Config{Limits: actors.Limits{MaxMetadataSize: badMaxMetadata}, Session: actors.SessionConfig{DisconnectGrace: 200 * time.Millisecond}},
		Server: transport.ServerConfig{MaxSignalMessageSize: badMaxFrame, SignalRateLimit: badSignalRate, SignalRateBurst: badSignalBurst},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const room = "bad"
	h := startHealthyRoom(ctx, t, node, room)

	// mallory joins the same room; she subscribes to nothing so that no server offer is in flight
	// when a case starts.
	mallory := func(t *testing.T, grant *auth.VideoGrant) *lkclient.Client {
		t.Helper()
		c, err := testkit.Join(ctx, node.WSURL, testkit.Token(t, room, "mallory", grant), lkclient.Options{NoAutoSubscribe: true})
		if err != nil {
			t.Fatalf("mallory joins: %v", err)
		}
		t.Cleanup(c.Close)
		return c
	}
	no := false

	signalCases := []struct {
		name  string
		grant *auth.VideoGrant
		act   func(t *testing.T, m *lkclient.Client)
	}{
		{"truncated protobuf", nil, func(t *testing.T, m *lkclient.Client) {
			b, _ := proto.Marshal(&livekit.SignalRequest{Message: &livekit.SignalRequest_Offer{Offer: &livekit.SessionDescription{Type: "offer", Sdp: "v=0"}}})
			_ = m.SendRaw(websocket.BinaryMessage, b[:len(b)-3])
			if ce := closeOf(ctx, t, m); ce.Code != websocket.CloseUnsupportedData || ce.Text != "malformed signal request" {
				t.Fatalf("close = %d %q, want 1003 malformed signal request", ce.Code, ce.Text)
			}
		}},
		{"malformed JSON text frame", nil, func(t *testing.T, m *lkclient.Client) {
			_ = m.SendRaw(websocket.TextMessage, []byte(`{"offer":{"sdp":`))
			if ce := closeOf(ctx, t, m); ce.Code != websocket.CloseUnsupportedData {
				t.Fatalf("close = %d %q, want 1003", ce.Code, ce.Text)
			}
		}},
		{"unknown oneof", nil, func(t *testing.T, m *lkclient.Client) {
			// Field 99 (varint 1): a request variant from a newer protocol.
			_ = m.SendRaw(websocket.BinaryMessage, []byte{0x98, 0x06, 0x01})
			refusal(ctx, t, m, livekit.RequestResponse_UNSUPPORTED_TYPE, "unsupported signal request")
		}},
		{"oversized frame", nil, func(t *testing.T, m *lkclient.Client) {
			b, _ := proto.Marshal(&livekit.SignalRequest{Message: &livekit.SignalRequest_Offer{Offer: &livekit.SessionDescription{Type: "offer", Sdp: strings.Repeat("a", badMaxFrame)}}})
			_ = m.SendRaw(websocket.BinaryMessage, b)
			ce := closeOf(ctx, t, m)
			if ce.Code != websocket.CloseMessageTooBig || ce.Text != fmt.Sprintf("signal message exceeds %d bytes", badMaxFrame) {
				t.Fatalf("close = %d %q, want 1009 with the limit", ce.Code, ce.Text)
			}
		}},
		{"answer without offer", nil, func(t *testing.T, m *lkclient.Client) {
			_ = m.SendRequest(&livekit.SignalRequest{Message: &livekit.SignalRequest_Answer{Answer: &livekit.SessionDescription{Type: "answer", Sdp: m.Subscriber().LocalDescription().SDP}}})
			refusal(ctx, t, m, livekit.RequestResponse_INVALID_REQUEST, "answer without a pending subscriber offer")
		}},
		{"garbage SDP", nil, func(t *testing.T, m *lkclient.Client) {
			_ = m.SendRequest(&livekit.SignalRequest{Message: &livekit.SignalRequest_Offer{Offer: &livekit.SessionDescription{Type: "offer", Sdp: "this is not SDP", Id: 7}}})
			refusal(ctx, t, m, livekit.RequestResponse_INVALID_REQUEST, "offer 7 rejected: invalid SDP")
		}},
		{"SDP with no media", nil, func(t *testing.T, m *lkclient.Client) {
			sdp := "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
			_ = m.SendRequest(&livekit.SignalRequest{Message: &livekit.SignalRequest_Offer{Offer: &livekit.SessionDescription{Type: "offer", Sdp: sdp, Id: 8}}})
			refusal(ctx, t, m, livekit.RequestResponse_INVALID_REQUEST, "SDP has no media sections")
		}},
		{"trickle for unknown target", nil, func(t *testing.T, m *lkclient.Client) {
			_ = m.SendRequest(&livekit.SignalRequest{Message: &livekit.SignalRequest_Trickle{Trickle: &livekit.TrickleRequest{
				CandidateInit: `{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host"}`, Target: livekit.SignalTarget(7),
			}}})
			rr := refusal(ctx, t, m, livekit.RequestResponse_INVALID_REQUEST, "unknown target")
			if rr.GetTrickle() == nil {
				t.Fatal("the refusal does not name the trickle request")
			}
		}},
		{"add_track with duplicate cid", nil, func(t *testing.T, m *lkclient.Client) {
			add := &livekit.AddTrackRequest{Cid: "dup-cid", Type: livekit.TrackType_AUDIO, Source: livekit.TrackSource_MICROPHONE}
			for range 2 {
				_ = m.SendRequest(&livekit.SignalRequest{Message: &livekit.SignalRequest_AddTrack{AddTrack: add}})
			}
			if _, err := m.WaitSignal(ctx, func(r *livekit.SignalResponse) bool { return r.GetTrackPublished().GetCid() == "dup-cid" }); err != nil {
				t.Fatal("the first add_track was not answered")
			}
			rr := refusal(ctx, t, m, livekit.RequestResponse_DUPLICATE_NAME, "already in use")
			if rr.GetAddTrack().GetCid() != "dup-cid" {
				t.Fatal("the refusal does not name the add_track request")
			}
		}},
		{"publish without canPublish", &auth.VideoGrant{CanPublish: &no}, func(t *testing.T, m *lkclient.Client) {
			_, err := m.PublishTrack(ctx, lkclient.TrackOptions{Kind: webrtc.RTPCodecTypeVideo, Width: 320, Height: 240})
			var re *lkclient.RequestError
			if !errors.As(err, &re) || re.Response.GetReason() != livekit.RequestResponse_NOT_ALLOWED {
				t.Fatalf("PublishTrack = %v, want a NOT_ALLOWED refusal", err)
			}
		}},
		{"subscribe without canSubscribe", &auth.VideoGrant{CanSubscribe: &no}, func(t *testing.T, m *lkclient.Client) {
			if m.JoinResponse().GetSubscriberPrimary() {
				t.Error("a participant that may not subscribe was told subscriber_primary")
			}
			_ = m.SendRequest(&livekit.SignalRequest{Message: &livekit.SignalRequest_Subscription{Subscription: &livekit.UpdateSubscription{
				Subscribe: true, TrackSids: []string{h.rt.TrackSID},
			}}})
			refusal(ctx, t, m, livekit.RequestResponse_NOT_ALLOWED, "not allowed to subscribe")
		}},
		{"data without canPublishData", &auth.VideoGrant{CanPublishData: &no}, func(t *testing.T, m *lkclient.Client) {
			if err := m.PublishData(ctx, []byte("forbidden"), lkclient.DataOptions{Reliable: true}); err != nil {
				t.Fatal(err)
			}
			refusal(ctx, t, m, livekit.RequestResponse_NOT_ALLOWED, "not allowed to publish data")
			h.check(ctx, t) // a later packet from alice arrives; mallory's never does
			for _, d := range h.bob.Data() {
				if string(d.Payload) == "forbidden" {
					t.Fatal("bob received data from a participant without canPublishData")
				}
			}
		}},
		{"flood of pings", nil, func(t *testing.T, m *lkclient.Client) {
			for i := range 10 * badSignalBurst {
				if m.SendRequest(&livekit.SignalRequest{Message: &livekit.SignalRequest_PingReq{PingReq: &livekit.Ping{Timestamp: int64(i)}}}) != nil {
					break
				}
			}
			if ce := closeOf(ctx, t, m); ce.Code != websocket.ClosePolicyViolation || ce.Text != "signal rate limit exceeded" {
				t.Fatalf("close = %d %q, want 1008 signal rate limit exceeded", ce.Code, ce.Text)
			}
		}},
	}
	for _, c := range signalCases {
		t.Run(c.name, func(t *testing.T) {
			m := mallory(t, c.grant)
			c.act(t, m)
			h.check(ctx, t)
			m.Close()
			if err := waitUntil(ctx, func() bool { return !node.HasActor("/node/rooms/" + room + "/mallory") }); err != nil {
				t.Fatal("mallory's actor outlived her connection")
			}
		})
	}

	// An offer sent before the JoinResponse was read: the node joins during the upgrade, so there
	// is no "before join" on the server. The join still comes first, then the answer.
	t.Run("offer before join", func(t *testing.T) {
		pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		if _, err := pc.CreateDataChannel("_reliable", nil); err != nil {
			t.Fatal(err)
		}
		offer, err := pc.CreateOffer(nil)
		if err != nil {
			t.Fatal(err)
		}
		ws, _, err := websocket.DefaultDialer.DialContext(ctx, node.WSURL+"/rtc?access_token="+testkit.Token(t, room, "early", nil), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		b, _ := proto.Marshal(&livekit.SignalRequest{Message: &livekit.SignalRequest_Offer{Offer: &livekit.SessionDescription{Type: "offer", Sdp: offer.SDP, Id: 1}}})
		if err := ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
			t.Fatal(err)
		}
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		var kinds []string
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("reading: %v (got %v)", err, kinds)
			}
			res := &livekit.SignalResponse{}
			if err := proto.Unmarshal(data, res); err != nil {
				t.Fatal(err)
			}
			kinds = append(kinds, fmt.Sprintf("%T", res.GetMessage()))
			if res.GetAnswer() != nil {
				break
			}
		}
		if kinds[0] != "*livekit.SignalResponse_Join" {
			t.Fatalf("frames = %v, want join first", kinds)
		}
		h.check(ctx, t)
		// Without signal and media, the session leaves after the grace period.
		ws.Close()
		if err := waitUntil(ctx, func() bool { return !node.HasActor("/node/rooms/" + room + "/early") }); err != nil {
			t.Fatal("early's session outlived its grace period")
		}
	})

	// Refusals at the upgrade: an HTTP status and LiveKit's text, and no participant created.
	now := time.Now()
	big := strings.Repeat("x", 10000)
	tok := func(identity string, mod func(*auth.AccessToken)) string {
		at := auth.NewAccessToken(testkit.APIKey, testkit.APISecret).SetIdentity(identity).
			SetVideoGrant(&auth.VideoGrant{RoomJoin: true, Room: room}).SetValidFor(time.Hour)
		if mod != nil {
			mod(at)
		}
		s, err := at.ToJWT()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	upgradeCases := []struct {
		name   string
		token  string
		status int
		body   string
	}{
		{"expired token", mintRaw(t, jwt.SigningMethodHS256, joinClaims(room, "eve", now.Add(-time.Hour), now.Add(-2*time.Hour)), testkit.APISecret), 401, "invalid authorization token: token is expired"},
		{"not-yet-valid token", mintRaw(t, jwt.SigningMethodHS256, joinClaims(room, "eve", now.Add(2*time.Hour), now.Add(time.Hour)), testkit.APISecret), 401, "invalid authorization token: token is not valid yet"},
		{"wrong signature", mintRaw(t, jwt.SigningMethodHS256, joinClaims(room, "eve", now.Add(time.Hour), now), "not-the-secret"), 401, "invalid authorization token: signature is invalid"},
		{"alg none", mintRaw(t, jwt.SigningMethodNone, joinClaims(room, "eve", now.Add(time.Hour), now), ""), 401, "invalid authorization token"},
		{"missing sub", mintRaw(t, jwt.SigningMethodHS256, joinClaims(room, "", now.Add(time.Hour), now), testkit.APISecret), 400, "identity cannot be empty"},
		{"10,000-character identity", tok(big, nil), 400, "identity is longer than 256 bytes"},
		{"10,000-character name", tok("eve", func(a *auth.AccessToken) { a.SetName(big) }), 400, "name is longer than 256 bytes"},
		{"10,000-character metadata", tok("eve", func(a *auth.AccessToken) { a.SetMetadata(big) }), 400, fmt.Sprintf("metadata is 10000 bytes, limit %d", badMaxMetadata)},
		{"no token", "", 401, "permissions denied"},
	}
	for _, c := range upgradeCases {
		t.Run(c.name, func(t *testing.T) {
			before, err := node.ListParticipants(ctx, room)
			if err != nil {
				t.Fatal(err)
			}
			_, err = testkit.Join(ctx, node.WSURL, c.token, lkclient.Options{BearerHeader: c.token != ""})
			var he *lkclient.HTTPError
			if !errors.As(err, &he) || he.StatusCode != c.status || !strings.HasPrefix(he.Body, c.body) {
				t.Fatalf("join = %v, want %d %q", err, c.status, c.body)
			}
			// No participant appeared; one an earlier case disconnected may still be leaving, so
			// compare with who was there, not with a count.
			after, err := node.ListParticipants(ctx, room)
			if err != nil {
				t.Fatal(err)
			}
			known := map[string]bool{}
			for _, p := range before {
				known[p.Identity] = true
			}
			for _, p := range after {
				if !known[p.Identity] {
					t.Fatalf("a refused join left participant %q in the room", p.Identity)
				}
			}
			h.check(ctx, t)
		})
	}

	// A token for another room joins that room, never this one; an admin token for another room
	// cannot act on this one.
	t.Run("token for another room", func(t *testing.T) {
		eve := join(ctx, t, node, "elsewhere", "eve", lkclient.Options{})
		if eve.Room().GetName() != "elsewhere" || len(eve.Participants()) != 0 {
			t.Fatalf("eve landed in %q with %d others", eve.Room().GetName(), len(eve.Participants()))
		}
		_, err := node.RoomService(testkit.AdminToken(t, "elsewhere")).RemoveParticipant(ctx, &livekit.RoomParticipantIdentity{Room: room, Identity: "bob"})
		if code := twirpCode(err); code != "unauthenticated" {
			t.Fatalf("RemoveParticipant with another room's admin token = %v, want unauthenticated (LiveKit's answer to a missing grant)", err)
		}
		h.check(ctx, t)
		if h.bob.Participant("eve") != nil {
			t.Fatal("bob sees a participant of another room")
		}
	})

	// A hidden participant is in the room (the Room API lists it) but nobody else sees it: not in
	// JoinResponses, not in updates, not when it leaves.
	t.Run("hidden participant", func(t *testing.T) {
		ghost := join(ctx, t, node, room, "ghost", lkclient.Options{})
		_ = ghost
		tok := testkit.Token(t, room, "ghost2", &auth.VideoGrant{Hidden: true})
		hidden, err := testkit.Join(ctx, node.WSURL, tok, lkclient.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if hidden.Participant("alice") == nil {
			t.Error("a hidden participant does not see the others")
		}
		late := join(ctx, t, node, room, "late", lkclient.Options{})
		parts, err := node.ListParticipants(ctx, room)
		if err != nil {
			t.Fatal(err)
		}
		listed := false
		for _, p := range parts {
			listed = listed || p.Identity == "ghost2"
		}
		if !listed {
			t.Error("the Room API does not list the hidden participant")
		}
		hidden.Close()
		ghost.Close()
		for _, c := range []*lkclient.Client{h.bob, late} {
			if err := c.WaitParticipantGone(ctx, "ghost"); err != nil {
				t.Fatalf("%s did not see ghost leave", c.Identity())
			}
			for _, s := range c.Signals() {
				for _, p := range append(s.GetUpdate().GetParticipants(), s.GetJoin().GetOtherParticipants()...) {
					if p.Identity == "ghost2" {
						t.Fatalf("%s was told about the hidden participant: %v", c.Identity(), p)
					}
				}
			}
		}
		late.Close()
		h.check(ctx, t)
	})

	// A room at its max_participants refuses the next join with 503; its members stay.
	t.Run("room over max_participants", func(t *testing.T) {
		rs := node.RoomService(testkit.AdminToken(t, "small"))
		if _, err := rs.CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "small", MaxParticipants: 1}); err != nil {
			t.Fatal(err)
		}
		first := join(ctx, t, node, "small", "first", lkclient.Options{})
		_, err := testkit.Join(ctx, node.WSURL, testkit.Token(t, "small", "second", nil), lkclient.Options{})
		var he *lkclient.HTTPError
		if !errors.As(err, &he) || he.StatusCode != http.StatusServiceUnavailable || he.Body != "room is full" {
			t.Fatalf("join of a full room = %v, want 503 room is full", err)
		}
		select {
		case <-first.Done():
			t.Fatal("the member of the full room was disconnected")
		default:
		}
		h.check(ctx, t)
	})
}
