package media

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/webrtc/v3"
	"go.uber.org/goleak"
)

// freeTCPPort finds a loopback port no one listens on (ICE-TCP needs a
// fixed port in Config).
func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	return port
}

// TestICETCPIsPassiveOnly: with ICE-TCP on, the node offers a passive TCP
// candidate and never dials the passive TCP candidate a client gives it.
func TestICETCPIsPassiveOnly(t *testing.T) {
	defer goleak.VerifyNone(t)
	eng, err := NewEngine(Config{LoopbackOnly: true, TCPPort: freeTCPPort(t)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	bait, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer bait.Close()
	dialed := make(chan struct{}, 1)
	go func() {
		for {
			c, err := bait.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
			select {
			case dialed <- struct{}{}:
			default:
			}
		}
	}()

	client, err := loopbackClientAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	node, err := eng.NewPublisherPC()
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	connected := make(chan struct{})
	node.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		if s == webrtc.ICEConnectionStateConnected {
			close(connected)
		}
	})
	if _, err := client.CreateDataChannel("d", nil); err != nil {
		t.Fatal(err)
	}
	negotiate(t, client, node)
	if sdp := node.LocalDescription().SDP; !strings.Contains(sdp, "tcptype passive") {
		t.Fatalf("node offers no passive ICE-TCP candidate:\n%s", sdp)
	}
	mid := "0"
	port := strconv.Itoa(bait.Addr().(*net.TCPAddr).Port)
	if err := node.AddICECandidate(webrtc.ICECandidateInit{SDPMid: &mid,
		Candidate: "candidate:9 1 tcp 1518280447 127.0.0.1 " + port + " typ host tcptype passive"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatal("no ICE connection over UDP")
	}
	select {
	case <-dialed:
		t.Fatal("the node dialed a client's passive TCP candidate")
	case <-time.After(time.Second):
	}
	if err := node.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatal(err)
	}
}

// TestICETCPCarriesData: a client that may use TCP only reaches the node
// through its passive ICE-TCP listener, data flowing both ways.
func TestICETCPCarriesData(t *testing.T) {
	defer goleak.VerifyNone(t)
	eng, err := NewEngine(Config{LoopbackOnly: true, TCPPort: freeTCPPort(t)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	client, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	node, err := eng.NewPublisherPC()
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	node.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) { _ = dc.SendText("echo " + string(m.Data)) })
	})
	dc, err := client.CreateDataChannel("d", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	dc.OnOpen(func() { _ = dc.SendText("over tcp") })
	dc.OnMessage(func(m webrtc.DataChannelMessage) { got <- string(m.Data) })
	negotiate(t, client, node)
	select {
	case s := <-got:
		if s != "echo over tcp" {
			t.Fatalf("client got %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no echo over ICE-TCP")
	}
	pair, err := client.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local.Protocol != webrtc.ICEProtocolTCP {
		t.Fatalf("selected pair %v (%v), want TCP", pair, err)
	}
}
