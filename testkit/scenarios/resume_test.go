package scenarios

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport"
	"github.com/actor-sfu/livekit-server/transport/auth"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// eventLog records the node's lifecycle events (what webhooks would carry).
type eventLog struct {
	mu     sync.Mutex
	events []*livekit.WebhookEvent
}

func (l *eventLog) sink(e *livekit.WebhookEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

// count returns how many events of that name concern identity.
func (l *eventLog) count(event, identity string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Event == event && e.GetParticipant().GetIdentity() == identity {
			n++
		}
	}
	return n
}

// find returns the first event of that name about identity, or nil.
func (l *eventLog) find(event, identity string) *livekit.WebhookEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if e.Event == event && e.GetParticipant().GetIdentity() == identity {
			return e
		}
	}
	return nil
}

// frames is how many distinct intact frames the collector has seen.
func (c *collector) frames() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

// watchDisconnects counts the DISCONNECTED updates c receives about identity.
func watchDisconnects(c *lkclient.Client, identity string) func() int {
	return func() int {
		n := 0
		for _, s := range c.Signals() {
			for _, p := range s.GetUpdate().GetParticipants() {
				if p.GetIdentity() == identity && p.GetState() == livekit.ParticipantInfo_DISCONNECTED {
					n++
				}
			}
		}
		return n
	}
}

// A client whose signalling TCP connection is cut resumes the same session: same sid, its media
// keeps flowing both ways with every frame intact, the others hear nothing of it (no DISCONNECTED
// update, no participant_left or second participant_joined event), the first frame on the new
// socket is ReconnectResponse with the last reliable data sequence, followed by a participant
// snapshot and room_update; and reliable data it re-sends is not delivered twice.
func TestResumeAfterSignalCut(t *testing.T) {
	events := &eventLog{}
	node := testkit.StartNode(t, testkit.Options{Actors: actors.Config{Events: events.sink}})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	alice := join(ctx, t, node, "resume", "alice", lkclient.Options{AutoResume: true})
	bob := join(ctx, t, node, "resume", "bob", lkclient.Options{})
	if alice.JoinResponse().GetClientConfiguration().GetResumeConnection() != livekit.ClientConfigSetting_ENABLED {
		t.Error("JoinResponse does not enable resume")
	}
	cam, _ := publish(ctx, t, alice, webrtc.RTPCodecTypeVideo, 0)
	mic, _ := publish(ctx, t, bob, webrtc.RTPCodecTypeAudio, 0)
	toBob, err := bob.WaitSubscribed(ctx, cam.SID())
	if err != nil {
		t.Fatal(err)
	}
	toAlice, err := alice.WaitSubscribed(ctx, mic.SID())
	if err != nil {
		t.Fatal(err)
	}
	bobGot, aliceGot := collect(toBob), collect(toAlice)
	sendData(ctx, t, alice, 1, 2, 3)
	waitData(ctx, t, bob, 3)

	within(t, 5*time.Second, "media before the cut", func(ctx context.Context) error {
		return waitUntil(ctx, func() bool { return bobGot.frames() > 30 && aliceGot.frames() > 30 })
	})
	sid := alice.SID()
	alice.CutSignal()
	within(t, 10*time.Second, "alice resuming", func(ctx context.Context) error {
		return alice.WaitFor(ctx, func() bool { return alice.Resumes() == 1 })
	})
	if _, err := alice.WaitSignal(ctx, func(s *livekit.SignalResponse) bool { return s.GetRoomUpdate() != nil }); err != nil {
		t.Fatal(err)
	}
	checkResumeFrames(t, alice, sid)
	if rr := alice.ReconnectResponse(); rr.GetLastMessageSeq() != 3 {
		t.Errorf("ReconnectResponse.last_message_seq = %d, want 3", rr.GetLastMessageSeq())
	}
	// Replayed packets (sequence ≤ 3) are dropped; new ones arrive.
	sendData(ctx, t, alice, 2, 3, 4)
	waitData(ctx, t, bob, 4)

	before, beforeA := bobGot.frames(), aliceGot.frames()
	within(t, 5*time.Second, "media after the resume", func(ctx context.Context) error {
		return waitUntil(ctx, func() bool { return bobGot.frames() > before+60 && aliceGot.frames() > beforeA+60 })
	})
	time.Sleep(300 * time.Millisecond) // late DISCONNECTED updates or stray data would show by now
	if got := len(bob.Data()); got != 4 {
		t.Errorf("bob received %d reliable packets, want 4 (1, 2, 3, 4; replays dropped)", got)
	}
	if n := watchDisconnects(bob, "alice")(); n != 0 {
		t.Errorf("bob saw %d DISCONNECTED updates about alice", n)
	}
	if n := events.count(actors.EventParticipantLeft, "alice"); n != 0 {
		t.Errorf("%d participant_left events for a resume", n)
	}
	if n := events.count(actors.EventParticipantJoined, "alice"); n != 1 {
		t.Errorf("%d participant_joined events for alice, want 1", n)
	}
	parts, err := node.ListParticipants(ctx, "resume")
	if err != nil || len(parts) != 2 {
		t.Fatalf("participants = %v, %v", parts, err)
	}
	for _, p := range parts {
		if p.Identity == "alice" && p.Sid != sid {
			t.Errorf("alice's sid changed from %s to %s", sid, p.Sid)
		}
	}
	if bobGot.corrupt > 0 || aliceGot.corrupt > 0 {
		t.Errorf("corrupt frames: bob %d, alice %d", bobGot.corrupt, aliceGot.corrupt)
	}
}

// checkResumeFrames checks what the node sent on the resumed socket: ReconnectResponse first,
// then a snapshot naming alice with her old sid, then room_update, and an ICE-restart offer.
func checkResumeFrames(t *testing.T, c *lkclient.Client, sid string) {
	t.Helper()
	sigs := c.Signals()
	at := -1
	for i, s := range sigs {
		if s.GetReconnect() != nil {
			at = i
		}
	}
	if at < 0 {
		t.Fatal("no ReconnectResponse recorded")
	}
	rest := sigs[at+1:]
	if len(rest) > 0 && isDepartures(rest[0]) {
		rest = rest[1:]
	}
	if len(rest) < 2 || rest[0].GetUpdate() == nil || rest[1].GetRoomUpdate() == nil {
		t.Fatalf("after ReconnectResponse: %v, want update then room_update", rest)
	}
	self := false
	for _, p := range rest[0].GetUpdate().GetParticipants() {
		self = self || (p.GetSid() == sid && p.GetState() != livekit.ParticipantInfo_DISCONNECTED)
	}
	if !self {
		t.Errorf("snapshot %v does not name the resumed participant %s", rest[0].GetUpdate(), sid)
	}
	offer := false
	for _, s := range rest {
		offer = offer || s.GetOffer() != nil
	}
	if !offer {
		t.Error("no subscriber ICE-restart offer after the resume")
	}
}

// sendData sends reliable packets with the given sequence numbers.
func sendData(ctx context.Context, t *testing.T, c *lkclient.Client, seqs ...uint32) {
	t.Helper()
	for _, seq := range seqs {
		pkt := lkclient.NewUserPacket([]byte(fmt.Sprintf("msg-%d", seq)), lkclient.DataOptions{Reliable: true})
		pkt.Sequence = seq
		if err := c.PublishDataPacket(ctx, pkt); err != nil {
			t.Fatalf("sending data %d: %v", seq, err)
		}
	}
}

// waitData waits until c has received n data packets.
func waitData(ctx context.Context, t *testing.T, c *lkclient.Client, n int) {
	t.Helper()
	if err := c.WaitFor(ctx, func() bool { return len(c.Data()) >= n }); err != nil {
		t.Fatalf("%s received %d data packets, want %d: %v", c.Identity(), len(c.Data()), n, err)
	}
}

// dialResume tries a resume over a raw WebSocket and returns the first frame, or the HTTP status
// of a refused upgrade.
func dialResume(ctx context.Context, node *testkit.Node, token, sid string) (*livekit.SignalResponse, int, error) {
	u, err := lkclient.RTCURL(node.WSURL, token, lkclient.Options{ExtraQuery: map[string][]string{"reconnect": {"1"}, "sid": {sid}}})
	if err != nil {
		return nil, 0, err
	}
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx, u, nil)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
			return nil, resp.StatusCode, nil
		}
		return nil, 0, err
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	mt, data, err := ws.ReadMessage()
	if err != nil {
		return nil, http.StatusSwitchingProtocols, err
	}
	first, err := lkclient.DecodeResponse(mt, data)
	if err != nil {
		return nil, http.StatusSwitchingProtocols, err
	}
	if _, _, err := ws.ReadMessage(); err == nil {
		return first, http.StatusSwitchingProtocols, fmt.Errorf("a second frame after %v", first)
	}
	return first, http.StatusSwitchingProtocols, nil
}

// expiredToken is a join token that expired more than the verifier's leeway ago.
func expiredToken(t *testing.T, room, identity string) string {
	t.Helper()
	tok, err := auth.NewAccessToken(testkit.APIKey, testkit.APISecret).SetIdentity(identity).
		SetVideoGrant(&auth.VideoGrant{RoomJoin: true, Room: room}).SetValidFor(-2 * auth.DefaultLeeway).ToJWT()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Resumes that cannot succeed are refused clearly: a wrong sid, another identity's sid, an
// unknown room each get leave{STATE_MISMATCH, RECONNECT} as the only frame after the upgrade; an
// expired token gets 401. A thousand of them leave no goroutines or heap behind, and the real
// sessions are untouched: no leave, media still flowing.
func TestResumeRefusals(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test")
	}
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	alice := join(ctx, t, node, "refuse", "alice", lkclient.Options{})
	bob := join(ctx, t, node, "refuse", "bob", lkclient.Options{})
	cam, _ := publish(ctx, t, alice, webrtc.RTPCodecTypeVideo, 0)
	rt, err := bob.WaitSubscribed(ctx, cam.SID())
	if err != nil {
		t.Fatal(err)
	}
	got := collect(rt)
	attempts := []struct {
		name, token, sid string
		status           int
	}{
		{"wrong sid", testkit.Token(t, "refuse", "alice", nil), "PA_nonexistent", http.StatusSwitchingProtocols},
		{"another identity's sid", testkit.Token(t, "refuse", "mallory", nil), alice.SID(), http.StatusSwitchingProtocols},
		{"bob's sid with alice's token", testkit.Token(t, "refuse", "alice", nil), bob.SID(), http.StatusSwitchingProtocols},
		{"unknown room", testkit.Token(t, "nowhere", "alice", nil), alice.SID(), http.StatusSwitchingProtocols},
		{"expired token", expiredToken(t, "refuse", "alice"), alice.SID(), http.StatusUnauthorized},
	}
	try := func(i int) {
		a := attempts[i%len(attempts)]
		first, status, err := dialResume(ctx, node, a.token, a.sid)
		if err != nil || status != a.status {
			t.Fatalf("%s: status %d, err %v; want %d", a.name, status, err, a.status)
		}
		if status == http.StatusSwitchingProtocols {
			l := first.GetLeave()
			if l.GetReason() != livekit.DisconnectReason_STATE_MISMATCH || l.GetAction() != livekit.LeaveRequest_RECONNECT {
				t.Fatalf("%s: first frame %v, want leave{STATE_MISMATCH, RECONNECT}", a.name, first)
			}
		}
	}
	for i := range 50 { // warm up
		try(i)
	}
	g0, h0 := settledUsage()
	for i := range 1000 {
		try(i)
	}
	var g1 int
	var h1 uint64
	_ = waitUntil(ctx, func() bool { g1, h1 = settledUsage(); return g1 <= g0+5 })
	t.Logf("goroutines %d → %d, heap %d KiB → %d KiB", g0, g1, h0>>10, h1>>10)
	if g1 > g0+5 {
		t.Errorf("goroutines grew from %d to %d", g0, g1)
	}
	if h1 > h0+8<<20 {
		t.Errorf("heap grew from %d KiB to %d KiB", h0>>10, h1>>10)
	}
	for _, c := range []*lkclient.Client{alice, bob} {
		if c.Err() != nil || c.LeaveRequest() != nil {
			t.Errorf("%s was disturbed: err %v, leave %v", c.Identity(), c.Err(), c.LeaveRequest())
		}
	}
	before := got.frames()
	within(t, 3*time.Second, "media still flowing", func(ctx context.Context) error {
		return waitUntil(ctx, func() bool { return got.frames() > before+30 })
	})
}

// A participant whose edge gave up waiting for the join (the room admitted it, but its reply
// never reached the edge) is not left behind: without a signalling connection and without media
// it leaves after the grace period, and participant_left is emitted once, with
// CONNECTION_TIMEOUT.
func TestGhostParticipantEnded(t *testing.T) {
	events := &eventLog{}
	lostReply := func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
			if fmt.Sprintf("%T", env.Message) == "*actors.joinRoom" && c.Self().Id != "node" {
				env = &actor.MessageEnvelope{Header: env.Header, Message: env.Message} // the room's reply goes nowhere
			}
			next(c, env)
		}
	}
	node := testkit.StartNode(t, testkit.Options{
		Actors: actors.Config{Events: events.sink, ReceiverMiddleware: []actor.ReceiverMiddleware{lostReply},
			Session: actors.SessionConfig{DisconnectGrace: 300 * time.Millisecond}},
		Server: transport.ServerConfig{JoinTimeout: 300 * time.Millisecond},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := testkit.Join(ctx, node.WSURL, testkit.Token(t, "ghost", "ghost", nil), lkclient.Options{})
	var he *lkclient.HTTPError
	if !errors.As(err, &he) || he.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("join = %v, want 503 (edge timeout)", err)
	}
	// The ghost never became ACTIVE, so it is never announced as joined; its end is reported once,
	// as a connection that was aborted, after the grace period.
	within(t, 3*time.Second, "the ghost ending", func(ctx context.Context) error {
		return waitUntil(ctx, func() bool { return events.count(actors.EventParticipantConnectionAborted, "ghost") == 1 })
	})
	if r := events.find(actors.EventParticipantConnectionAborted, "ghost").GetParticipant().GetDisconnectReason(); r != livekit.DisconnectReason_CONNECTION_TIMEOUT {
		t.Errorf("ghost ended with %s, want CONNECTION_TIMEOUT", r)
	}
	time.Sleep(500 * time.Millisecond)
	if n := events.count(actors.EventParticipantConnectionAborted, "ghost"); n != 1 {
		t.Errorf("%d participant_connection_aborted events, want 1", n)
	}
	if n := events.count(actors.EventParticipantJoined, "ghost") + events.count(actors.EventParticipantLeft, "ghost"); n != 0 {
		t.Errorf("%d participant_joined/left events for a participant that never connected, want 0", n)
	}
	if parts, err := node.ListParticipants(ctx, "ghost"); err == nil && len(parts) != 0 {
		t.Errorf("the ghost is still listed: %v", parts)
	}
}

// isDepartures reports whether s is a ParticipantUpdate of DISCONNECTED entries only.
func isDepartures(s *livekit.SignalResponse) bool {
	ps := s.GetUpdate().GetParticipants()
	for _, p := range ps {
		if p.GetState() != livekit.ParticipantInfo_DISCONNECTED {
			return false
		}
	}
	return len(ps) > 0
}

// A resumed client learns who left while it was away: before the snapshot (which only lists who
// is there) comes an update with the recent departures, state DISCONNECTED.
func TestResumeReportsDepartures(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	alice := join(ctx, t, node, "departures", "alice", lkclient.Options{})
	carol := join(ctx, t, node, "departures", "carol", lkclient.Options{})
	carolSID := carol.SID()
	if err := carol.Leave(); err != nil {
		t.Fatal(err)
	}
	if err := alice.WaitParticipantGone(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	if err := alice.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	// Wait for the room_update that ends the resume's snapshot: one sent before the resume (the
	// room's counts changed when carol left) does not count.
	var sigs []*livekit.SignalResponse
	if err := waitUntil(ctx, func() bool {
		sigs = alice.Signals()
		seenReconnect := false
		for _, s := range sigs {
			seenReconnect = seenReconnect || s.GetReconnect() != nil
			if seenReconnect && s.GetRoomUpdate() != nil {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("no room_update after the ReconnectResponse: %v", err)
	}
	for i, s := range sigs {
		if s.GetReconnect() == nil {
			continue
		}
		if i+1 >= len(sigs) || !isDepartures(sigs[i+1]) || sigs[i+1].GetUpdate().GetParticipants()[0].GetSid() != carolSID {
			t.Fatalf("after ReconnectResponse: %v, want carol's departure first", sigs[i+1:])
		}
		return
	}
	t.Fatal("no ReconnectResponse recorded")
}
