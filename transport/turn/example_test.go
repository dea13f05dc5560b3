package turn_test

import (
	"fmt"
	"log/slog"

	"github.com/actor-sfu/livekit-server/transport/turn"
)

// keys is the node's API key provider (auth.KeyProvider in the node).
type keys map[string]string

func (k keys) Secret(key string) (string, bool) { s, ok := k[key]; return s, ok }

// How a node wires TURN: the `turn:` section, rtc.turn_servers and
// rtc.stun_servers become one Provider, started with the node and asked
// for a participant's list at every join and resume.
func ExampleNewProvider() {
	p, err := turn.NewProvider(turn.ProviderConfig{
		TURN: turn.Config{
			Enabled: true, UDPPort: 3478, TCPPort: 3479,
			BindAddresses:            []string{"127.0.0.1"},
			AllowRestrictedPeerCIDRs: []string{"127.0.0.1/32"}, // the node below is on loopback
		},
		TURNOptions: turn.Options{
			Keys: keys{"devkey": "secret"}, APIKey: "devkey", APISecret: "secret",
			NodeIPs:        []string{"127.0.0.1"},          // rtc.node_ip or the discovered external IP
			MediaPorts:     []turn.PortRange{{7882, 7882}}, // rtc.udp_port
			EphemeralPorts: true,                           // example only: free ports
			Log:            slog.New(slog.DiscardHandler),
		},
		TURNServers: []turn.ExternalConfig{{Host: "turn.example.com", Port: 443, Protocol: "tls", Secret: "shared"}},
		STUNServers: []string{"stun.example.com:3478"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	for _, s := range p.ICEServers("PA_alice", false) {
		fmt.Println(len(s.Urls), "URL(s), credentials:", s.Username != "")
	}
	// Output:
	// 2 URL(s), credentials: true
	// 1 URL(s), credentials: true
	// 1 URL(s), credentials: false
}
