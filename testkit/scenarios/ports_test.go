package scenarios

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/actors/media"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// A range of muxed UDP ports (rtc.udp_port "a-b") carries a 20-participant room, and the
// PeerConnections are spread over every port of the range.
func TestMuxedUDPPortRangeCarriesTwentyParticipants(t *testing.T) {
	if testing.Short() {
		t.Skip("20 participants")
	}
	const ports = 4
	var node *testkit.Node
	var first int
	for attempt := 0; ; attempt++ {
		first = 20000 + rand.IntN(40000)
		n, err := testkit.Start(testkit.Options{Actors: actors.Config{Media: media.Config{UDPPort: first, UDPPortEnd: first + ports - 1}}})
		if err == nil {
			node = n
			break
		}
		if attempt == 10 {
			t.Fatalf("no free range of %d UDP ports: %v", ports, err)
		}
	}
	t.Cleanup(node.Stop)
	used := roomOfTwenty(t, node, first, first+ports-1)
	seen := map[int]int{}
	for _, p := range used {
		seen[p]++
	}
	if len(seen) != ports {
		t.Fatalf("PeerConnections used ports %v, want all %d ports of %d-%d", seen, ports, first, first+ports-1)
	}
	t.Logf("%d PeerConnections over ports %v", len(used), seen)
}

// rtc.port_range_start/end: every PeerConnection gets its own UDP port from the range, and the
// range carries a 20-participant room.
func TestEphemeralPortRangeCarriesTwentyParticipants(t *testing.T) {
	if testing.Short() {
		t.Skip("20 participants")
	}
	start := 20000 + rand.IntN(40000)
	end := start + 99
	node := testkit.StartNode(t, testkit.Options{Actors: actors.Config{Media: media.Config{PortRangeStart: start, PortRangeEnd: end}}})
	used := roomOfTwenty(t, node, start, end)
	seen := map[int]bool{}
	for _, p := range used {
		if seen[p] {
			t.Fatalf("port %d serves two PeerConnections: %v", p, used)
		}
		seen[p] = true
	}
	t.Logf("%d PeerConnections on %d ports of %d-%d", len(used), len(seen), start, end)
}

// roomOfTwenty runs one publisher and nineteen subscribers that all receive its video, and
// returns the node-side UDP port of every PeerConnection (from /debug's ICE paths), each of
// which must lie in lo..hi.
func roomOfTwenty(t *testing.T, node *testkit.Node, lo, hi int) []int {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const subscribers = 19
	subs := make([]*lkclient.Client, subscribers)
	for i := range subs {
		subs[i] = join(ctx, t, node, "ports", fmt.Sprintf("sub-%02d", i), lkclient.Options{})
	}
	pub := join(ctx, t, node, "ports", "pub", lkclient.Options{})
	cam, sent := publish(ctx, t, pub, webrtc.RTPCodecTypeVideo, 120)
	collectors := make([]*collector, subscribers)
	for i, s := range subs {
		rt, err := s.WaitSubscribed(ctx, cam.SID())
		if err != nil {
			t.Fatalf("%s never got the track: %v", s.Identity(), err)
		}
		collectors[i] = collect(rt)
	}
	last := <-sent - 1
	settle()
	for i, c := range collectors {
		c.requireDelivery(t, subs[i].Identity(), last)
	}
	return pathPorts(t, node, lo, hi)
}

// pathPorts reads the ICE path of every participant's PeerConnections from the debug view and
// returns their local ports; it fails the test when one is outside lo..hi or not UDP, and
// when fewer than the 21 PeerConnections every participant needs (20 subscriber PCs, the
// publisher's publisher PC) have one.
func pathPorts(t *testing.T, node *testkit.Node, lo, hi int) []int {
	t.Helper()
	var ports []int
	for _, a := range node.Tree() {
		for _, key := range []string{"publisherPath", "subscriberPath"} {
			s, ok := a.Stats[key].(string)
			if !ok {
				continue
			}
			f := strings.Fields(s) // transport type addr <-> type addr
			if len(f) != 6 || f[0] != "udp" {
				t.Fatalf("%s %s = %q, want a UDP path", a.Path, key, s)
			}
			_, port, err := net.SplitHostPort(f[2])
			p, _ := strconv.Atoi(port)
			if err != nil || p < lo || p > hi {
				t.Fatalf("%s %s = %q: local port outside %d-%d", a.Path, key, s, lo, hi)
			}
			ports = append(ports, p)
		}
	}
	if len(ports) < 21 {
		t.Fatalf("only %d PeerConnections report an ICE path, want at least 21", len(ports))
	}
	return ports
}
