package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/testkit/synth"
	"github.com/actor-sfu/livekit-server/transport/auth"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// netnsClientEnv carries the WebSocket URL and token to the client re-executed inside the
// network namespace (TestNetnsSubscriber).
const netnsClientEnv = "LK_NETNS_CLIENT"

// A LiveKit config with node_ip 10.x, ips.includes [10.x/32] and enable_loopback_candidate
// serves a client that reaches the node only at 10.x (from inside a network namespace joined
// by a veth pair) and, with loopback candidates as well, a client on loopback.
func TestNodeIPWithLoopbackCandidateServesBoth(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for ip netns")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command")
	}
	hostIP, hostIP6, nsName := setupNetns(t)
	port, udpPort := freePort(t, "tcp"), freePort(t, "udp")
	body := fmt.Sprintf("port: %d\nbind_addresses: [127.0.0.1, %s]\nkeys:\n  %s: %s\nrtc:\n  udp_port: %d\n  tcp_port: 0\n"+
		"  node_ip: %s\n  enable_loopback_candidate: true\n  ips:\n    includes: [%s/32, %s/128]\n",
		port, hostIP, e2eKey, e2eSecret, udpPort, hostIP, hostIP, hostIP6)
	ld, err := loadConfig([]string{"--config-body", body}, env(nil), files(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stopNode := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, func() {}, ld, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	defer func() {
		stopNode()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	waitHealthy(t, fmt.Sprintf("http://127.0.0.1:%d", port))

	tctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	alice, err := testkit.Join(tctx, fmt.Sprintf("ws://127.0.0.1:%d", port), netnsToken(t, "alice"), lkclient.Options{})
	if err != nil {
		t.Fatalf("loopback client joins: %v", err)
	}
	defer alice.Close()
	cam, err := alice.PublishTrack(tctx, lkclient.TrackOptions{Kind: webrtc.RTPCodecTypeVideo, Width: 320, Height: 240})
	if err != nil {
		t.Fatal(err)
	}
	pubCtx, stopPub := context.WithCancel(tctx)
	sent := make(chan struct{})
	go func() { defer close(sent); _, _ = synth.Publish(pubCtx, cam, synth.Options{}) }()
	defer func() { stopPub(); <-sent }()
	// The node advertises its loopback candidate (unmapped) beside node_ip.
	var remotes []string
	for _, st := range alice.Publisher().GetStats() {
		if c, ok := st.(webrtc.ICECandidateStats); ok && c.Type == webrtc.StatsTypeRemoteCandidate {
			remotes = append(remotes, fmt.Sprintf("%s:%d", c.IP, c.Port))
		}
	}
	if want := []string{fmt.Sprintf("127.0.0.1:%d", udpPort), fmt.Sprintf("%s:%d", hostIP, udpPort)}; !slices.Contains(remotes, want[0]) || !slices.Contains(remotes, want[1]) {
		t.Errorf("node candidates %v, want %v", remotes, want)
	}

	// One client in the namespace over IPv4, one over IPv6 (the node's fd13:… address,
	// advertised as it is: node_ip maps IPv4 candidates only).
	for i, c := range []struct{ network, want string }{{"udp4", hostIP}, {"udp6", hostIP6}} {
		cmd := exec.CommandContext(tctx, "ip", "netns", "exec", nsName, os.Args[0], "-test.run", "^TestNetnsSubscriber$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), netnsClientEnv+"="+fmt.Sprintf("ws://%s:%d", hostIP, port)+" "+netnsToken(t, fmt.Sprintf("bob%d", i))+" "+cam.SID()+" "+c.network)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "NETNS-OK remote "+c.want+" ") {
			t.Fatalf("%s client in the namespace: %v\n%s", c.network, err, out)
		}
	}
}

func netnsToken(t *testing.T, identity string) string {
	s, err := auth.NewAccessToken(e2eKey, e2eSecret).SetIdentity(identity).
		SetVideoGrant(&auth.VideoGrant{RoomJoin: true, Room: "netns"}).SetValidFor(time.Hour).ToJWT()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// setupNetns creates a namespace and a veth pair 10.213.N.1 and fd13:213:N::1 (here) /
// 10.213.N.2 and fd13:213:N::2 (there), removed when the test ends, and returns the host-side
// addresses and the namespace's name.
func setupNetns(t *testing.T) (hostIP, hostIP6, nsName string) {
	n := os.Getpid() % 250
	nsName = fmt.Sprintf("lkports%d", os.Getpid())
	hostIf, nsIf := fmt.Sprintf("lkp%da", os.Getpid()%100000), fmt.Sprintf("lkp%db", os.Getpid()%100000)
	hostIP, nsIP := fmt.Sprintf("10.213.%d.1", n), fmt.Sprintf("10.213.%d.2", n)
	hostIP6, nsIP6 := fmt.Sprintf("fd13:213:%x::1", n), fmt.Sprintf("fd13:213:%x::2", n)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Skipf("ip %s: %v %s (no netns support here)", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", nsName)
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", hostIf).Run()
		_ = exec.Command("ip", "netns", "del", nsName).Run()
	})
	run("link", "add", hostIf, "type", "veth", "peer", "name", nsIf)
	run("link", "set", nsIf, "netns", nsName)
	run("addr", "add", hostIP+"/24", "dev", hostIf)
	run("addr", "add", hostIP6+"/64", "dev", hostIf, "nodad")
	run("link", "set", hostIf, "up")
	run("-n", nsName, "addr", "add", nsIP+"/24", "dev", nsIf)
	run("-n", nsName, "addr", "add", nsIP6+"/64", "dev", nsIf, "nodad")
	run("-n", nsName, "link", "set", nsIf, "up")
	run("-n", nsName, "link", "set", "lo", "up")
	return hostIP, hostIP6, nsName
}

// TestNetnsSubscriber is the client half of TestNodeIPWithLoopbackCandidateServesBoth, run
// inside its namespace; it skips when started any other way.
func TestNetnsSubscriber(t *testing.T) {
	args := strings.Fields(os.Getenv(netnsClientEnv))
	if len(args) != 4 {
		t.Skip("runs inside TestNodeIPWithLoopbackCandidateServesBoth's namespace")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bob, err := lkclient.Join(ctx, args[0], args[1], lkclient.Options{ConfigureSettingEngine: func(se *webrtc.SettingEngine) {
		nt := webrtc.NetworkTypeUDP4
		if args[3] == "udp6" {
			nt = webrtc.NetworkTypeUDP6
		}
		se.SetNetworkTypes([]webrtc.NetworkType{nt})
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	}})
	if err != nil {
		t.Fatalf("join from the namespace: %v", err)
	}
	defer bob.Close()
	rt, err := bob.WaitSubscribed(ctx, args[2])
	if err != nil {
		t.Fatalf("never subscribed: %v", err)
	}
	if err := rt.WaitPackets(ctx, 30); err != nil {
		t.Fatalf("no packets: %v", err)
	}
	pair, err := bob.Subscriber().SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		t.Fatalf("no selected pair: %v", err)
	}
	fmt.Printf("NETNS-OK remote %s local %s\n", pair.Remote.Address, pair.Local.Address)
}
