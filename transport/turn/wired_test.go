package turn

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v2"
	"github.com/pion/webrtc/v3"
	"go.uber.org/goleak"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/actors/media"
	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// TestNodeMintsTURNPerParticipant is the wiring a node does (cmd/livekit-server): a Provider
// with the node's key pair, IP and media port feeds actors.Config.ICEServersFor. Over the real
// signalling edge each participant's JoinResponse carries the embedded server's turn: URLs with
// credentials minted for its own session, which the server accepts; relay-only pion clients
// using them then publish and subscribe through the node (alice over TURN/UDP, bob over
// TURN/TCP and TURN/TLS).
func TestNodeMintsTURNPerParticipant(t *testing.T) {
	defer goleak.VerifyNone(t)
	mediaPort := freeUDPPort(t)
	p, err := NewProvider(ProviderConfig{
		TURN: testConfig(),
		TURNOptions: Options{
			Keys: keyMap{testkit.APIKey: testkit.APISecret}, APIKey: testkit.APIKey, APISecret: testkit.APISecret,
			NodeIPs: []string{"127.0.0.1"}, MediaPorts: []PortRange{{mediaPort, mediaPort}},
			EphemeralPorts: true, Log: testLog(t),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close() // after the node stopped (deferred below), before goleak looks
	n := testkit.StartNode(t, testkit.Options{Actors: actors.Config{
		Media:         media.Config{UDPPort: mediaPort},
		ICEServersFor: p.ICEServers,
	}})
	defer n.Stop() // now rather than at Cleanup, so that goleak sees it all gone

	// Over the wire: what a LiveKit client is told.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var users []string
	for _, identity := range []string{"wire1", "wire2"} {
		c, err := testkit.Join(ctx, n.WSURL, testkit.Token(t, "turn", identity, nil), lkclient.Options{NoWaitConnected: true})
		if err != nil {
			t.Fatalf("%s joins: %v", identity, err)
		}
		servers := c.JoinResponse().GetIceServers()
		if len(servers) != 1 || len(servers[0].GetUrls()) != 3 {
			c.Close()
			t.Fatalf("%s: ice_servers %v, want one embedded entry with udp, tcp and tls URLs", identity, servers)
		}
		s := servers[0]
		cl, ok := parseUsername(s.GetUsername())
		if !ok || cl.sid != c.SID() || cl.apiKey != testkit.APIKey || !verifyPassword(keyMap{testkit.APIKey: testkit.APISecret}, cl, s.GetCredential()) {
			t.Errorf("%s: credentials %q/%q are not minted for its session %s", identity, s.GetUsername(), s.GetCredential(), c.SID())
		}
		allocateWith(t, p.Embedded, s)
		users = append(users, s.GetUsername())
		c.Close()
	}
	if users[0] == users[1] {
		t.Error("two participants got the same TURN username")
	}

	// Relay-only clients through the credentials their own JoinResponse carried.
	bob := joinThroughRelay(t, n.Node, "bob", "?transport=tcp") // turn:…tcp and turns:…tcp
	defer bob.close()
	alice := joinThroughRelay(t, n.Node, "alice", "?transport=udp")
	defer alice.close()
	alice.publish(t)
	waitPayload(t, bob.audio, "audio from alice", 15*time.Second)
	for name, pc := range map[string]*webrtc.PeerConnection{"alice's publisher PC": alice.pub, "bob's subscriber PC": bob.sub} {
		if typ := selectedLocalType(pc); typ != webrtc.ICECandidateTypeRelay {
			t.Errorf("%s: selected local candidate %v, want relay", name, typ)
		}
	}
	if p.Embedded.AllocationCount() < 2 || openConns(p.Embedded) == 0 {
		t.Fatalf("TURN server: %d allocations, %d TCP/TLS connections; want both participants on it",
			p.Embedded.AllocationCount(), openConns(p.Embedded))
	}
}

// allocateWith makes a TURN/UDP allocation with an ICEServer's credentials and releases it.
func allocateWith(t *testing.T, srv *Server, s *livekit.ICEServer) {
	t.Helper()
	udp, _, _ := srv.Ports()
	var url string
	for _, u := range s.GetUrls() {
		if strings.HasSuffix(u, ":"+strconv.Itoa(udp)+"?transport=udp") {
			url = u
		}
	}
	if url == "" {
		t.Fatalf("no TURN/UDP URL for port %d in %v", udp, s.GetUrls())
	}
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cl, err := pionturn.NewClient(&pionturn.ClientConfig{
		TURNServerAddr: "127.0.0.1:" + strconv.Itoa(udp), Conn: conn, Username: s.GetUsername(), Password: s.GetCredential(),
		Realm: Realm, RTO: 50 * time.Millisecond, LoggerFactory: slogFactory{log: testLog(t)},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := cl.Allocate()
	if err != nil {
		t.Fatalf("TURN server refused the JoinResponse's credentials: %v", err)
	}
	_ = relay.Close()
}
