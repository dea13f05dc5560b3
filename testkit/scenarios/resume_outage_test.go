package scenarios

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/transport/v2"
	"github.com/pion/transport/v2/stdnet"
	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// gatedNet is the host network for one client's ICE agents, except that every UDP socket they
// open drops all packets, both ways, while down is set: a network outage for that client.
type gatedNet struct {
	*stdnet.Net
	down *atomic.Bool
}

func (n gatedNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return &gatedUDP{UDPConn: c, down: n.down}, nil
}

// gatedUDP is one socket of a gatedNet.
type gatedUDP struct {
	transport.UDPConn
	down *atomic.Bool
}

func (g *gatedUDP) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := g.UDPConn.ReadFrom(b)
		if err != nil || !g.down.Load() {
			return n, addr, err
		}
	}
}

func (g *gatedUDP) WriteTo(b []byte, addr net.Addr) (int, error) {
	if g.down.Load() {
		return len(b), nil
	}
	return g.UDPConn.WriteTo(b, addr)
}

// A five-second outage: every media packet between alice and the node is dropped, and her
// signalling socket is cut as it starts. She resumes with the same sid; the ICE restart completes
// once the network is back; media flows both ways again, and bob never hears that she left.
func TestResumeAfterNetworkOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("outage test")
	}
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	host, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	alice := join(ctx, t, node, "outage", "alice", lkclient.Options{
		AutoResume:             true,
		ConnectTimeout:         20 * time.Second,
		ConfigureSettingEngine: func(se *webrtc.SettingEngine) { se.SetNet(gatedNet{Net: host, down: &down}) },
	})
	bob := join(ctx, t, node, "outage", "bob", lkclient.Options{})
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
	within(t, 5*time.Second, "media before the outage", func(ctx context.Context) error {
		err := waitUntil(ctx, func() bool { return bobGot.frames() > 30 && aliceGot.frames() > 30 })
		if err != nil {
			return fmt.Errorf("bob %d frames, alice %d: %w", bobGot.frames(), aliceGot.frames(), err)
		}
		return nil
	})

	down.Store(true)
	alice.CutSignal()
	time.Sleep(5 * time.Second)
	stalled := bobGot.frames()
	down.Store(false)

	within(t, 20*time.Second, "alice resuming", func(ctx context.Context) error {
		return alice.WaitFor(ctx, func() bool { return alice.Resumes() == 1 })
	})
	within(t, 10*time.Second, "media after the outage", func(ctx context.Context) error {
		return waitUntil(ctx, func() bool { return bobGot.frames() > stalled+60 && aliceGot.frames() > 60 })
	})
	if p, err := node.GetParticipant(ctx, "outage", "alice"); err != nil || p.Sid != alice.SID() {
		t.Errorf("alice on the node = %v, %v; want sid %s", p, err, alice.SID())
	}
	if n := watchDisconnects(bob, "alice")(); n != 0 {
		t.Errorf("bob saw %d DISCONNECTED updates about alice", n)
	}
	if alice.Err() != nil || bob.Participant("alice").GetState() == livekit.ParticipantInfo_DISCONNECTED {
		t.Errorf("alice: err %v, bob's view %v", alice.Err(), bob.Participant("alice"))
	}
}

// A client that vanishes for good (its media blackholed, its socket cut, never resuming) is kept
// only for the grace period after its media goes down: then it leaves once, the others see one
// DISCONNECTED update, and participant_left says CONNECTION_TIMEOUT.
func TestVanishedClientLeavesAfterGrace(t *testing.T) {
	if testing.Short() {
		t.Skip("outage test")
	}
	const grace = time.Second
	events := &eventLog{}
	node := testkit.StartNode(t, testkit.Options{Actors: actors.Config{Events: events.sink, Session: actors.SessionConfig{DisconnectGrace: grace}}})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	host, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	alice := join(ctx, t, node, "vanish", "alice", lkclient.Options{
		ConfigureSettingEngine: func(se *webrtc.SettingEngine) { se.SetNet(gatedNet{Net: host, down: &down}) },
	})
	bob := join(ctx, t, node, "vanish", "bob", lkclient.Options{})
	if _, err := bob.WaitParticipant(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	down.Store(true)
	alice.CutSignal()
	start := time.Now()
	within(t, 20*time.Second, "bob seeing alice leave", func(ctx context.Context) error { return bob.WaitParticipantGone(ctx, "alice") })
	// pion calls a PeerConnection disconnected after 5 s without traffic; the grace runs from there.
	if el := time.Since(start); el < grace {
		t.Errorf("alice left %v after vanishing, before the grace period of %v", el, grace)
	}
	time.Sleep(500 * time.Millisecond)
	if n := watchDisconnects(bob, "alice")(); n != 1 {
		t.Errorf("bob saw %d DISCONNECTED updates about alice, want 1", n)
	}
	if n := events.count(actors.EventParticipantLeft, "alice"); n != 1 {
		t.Errorf("%d participant_left events, want 1", n)
	}
	if r := events.find(actors.EventParticipantLeft, "alice").GetParticipant().GetDisconnectReason(); r != livekit.DisconnectReason_CONNECTION_TIMEOUT {
		t.Errorf("participant_left reason %s, want CONNECTION_TIMEOUT", r)
	}
}

// Media lost while the signal is up: when the node's PeerConnection fails it asks the client to
// resume (leave{CONNECTION_TIMEOUT, RESUME}, not DISCONNECT) and closes the socket; the client
// resumes with the same sid once the network is back, and media flows again.
func TestTransportFailureAsksResume(t *testing.T) {
	if testing.Short() {
		t.Skip("outage test: pion takes about 30 s to call a PeerConnection failed")
	}
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	host, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	alice := join(ctx, t, node, "pcfail", "alice", lkclient.Options{
		AutoResume: true, ConnectTimeout: 20 * time.Second,
		ConfigureSettingEngine: func(se *webrtc.SettingEngine) { se.SetNet(gatedNet{Net: host, down: &down}) },
	})
	bob := join(ctx, t, node, "pcfail", "bob", lkclient.Options{})
	mic, _ := publish(ctx, t, bob, webrtc.RTPCodecTypeAudio, 0)
	toAlice, err := alice.WaitSubscribed(ctx, mic.SID())
	if err != nil {
		t.Fatal(err)
	}
	got := collect(toAlice)
	down.Store(true)
	within(t, 60*time.Second, "leave{RESUME} after the PeerConnection failed", func(ctx context.Context) error {
		_, err := alice.WaitSignal(ctx, func(s *livekit.SignalResponse) bool { return s.GetLeave() != nil })
		return err
	})
	down.Store(false)
	var leave *livekit.LeaveRequest
	for _, s := range alice.Signals() {
		if l := s.GetLeave(); l != nil && leave == nil {
			leave = l
		}
	}
	if leave.GetReason() != livekit.DisconnectReason_CONNECTION_TIMEOUT || leave.GetAction() != livekit.LeaveRequest_RESUME {
		t.Fatalf("leave = %v, want CONNECTION_TIMEOUT, RESUME", leave)
	}
	within(t, 20*time.Second, "alice resuming", func(ctx context.Context) error {
		return alice.WaitFor(ctx, func() bool { return alice.Resumes() >= 1 })
	})
	before := got.frames()
	within(t, 10*time.Second, "media after the resume", func(ctx context.Context) error {
		return waitUntil(ctx, func() bool { return got.frames() > before+30 })
	})
	if p, err := node.GetParticipant(ctx, "pcfail", "alice"); err != nil || p.Sid != alice.SID() {
		t.Errorf("alice on the node = %v, %v; want sid %s", p, err, alice.SID())
	}
	if n := watchDisconnects(bob, "alice")(); n != 0 {
		t.Errorf("bob saw %d DISCONNECTED updates about alice", n)
	}
}
