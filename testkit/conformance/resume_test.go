package conformance

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
)

// sigProxy forwards TCP connections to the node's HTTP port and can cut every connection it
// carries at once, as a network failure of the signalling path would. Media does not go through
// it: ICE reaches the node's UDP port directly.
type sigProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func startProxy(t *testing.T) *sigProxy {
	t.Helper()
	ln, err := net.Listen("tcp", nodeIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	p := &sigProxy{ln: ln}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() { _ = ln.Close(); p.cut(); p.wg.Wait() })
	return p
}

func (p *sigProxy) url() string { return "ws://" + p.ln.Addr().String() }

func (p *sigProxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", nodeIP+":"+httpPort)
		if err != nil {
			_ = in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

func (p *sigProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
}

// cut closes every connection the proxy carries, both ends.
func (p *sigProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

// TestSignalCutResumes: alice's signalling socket (through a proxy) is cut while she receives
// bob's video. server-sdk-go resumes: OnReconnected fires, her sid is unchanged, bob never sees
// her disconnect, and the frames she reassembles keep matching the published clip.
func TestSignalCutResumes(t *testing.T) {
	vclip, err := loadIVF(ivfPath)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startProxy(t)
	sub := newSubscriber(1<<30, 1<<30)
	cb := sub.callback(vclip, nil)
	var reconnecting, reconnected, disconnected atomic.Int32
	cb.OnReconnecting = func() { reconnecting.Add(1) }
	cb.OnReconnected = func() { reconnected.Add(1) }
	cb.OnDisconnected = func() { disconnected.Add(1) }
	alice, err := lksdk.ConnectToRoom(proxy.url(), lksdk.ConnectInfo{
		APIKey: apiKey, APISecret: apiSecret, RoomName: "sdk-resume", ParticipantIdentity: "alice", ParticipantName: "alice",
	}, cb, lksdk.WithConnectTimeout(15*time.Second))
	if err != nil {
		t.Fatalf("alice: ConnectToRoom: %v", err)
	}
	t.Cleanup(alice.Disconnect)
	var bobSawLeave atomic.Int32
	bobCB := lksdk.NewRoomCallback()
	bobCB.OnParticipantDisconnected = func(rp *lksdk.RemoteParticipant) {
		if rp.Identity() == "alice" {
			bobSawLeave.Add(1)
		}
	}
	bob := join(t, "sdk-resume", "bob", bobCB)
	publishClips(t, bob, false)
	eventually(t, 10*time.Second, "alice receiving bob's video", func() bool { m, _, _, _ := sub.video.snapshot(); return m > 30 })

	sid := alice.LocalParticipant.SID()
	proxy.cut()
	eventually(t, 20*time.Second, "alice resuming", func() bool { return reconnected.Load() > 0 })
	if got := alice.LocalParticipant.SID(); got != sid {
		t.Errorf("sid after the resume = %s, want %s (a full reconnect, not a resume)", got, sid)
	}
	before, _, _, _ := sub.video.snapshot()
	eventually(t, 10*time.Second, "video after the resume", func() bool { m, _, _, _ := sub.video.snapshot(); return m > before+30 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	parts, err := roomClient().ListParticipants(ctx, &livekit.ListParticipantsRequest{Room: "sdk-resume"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts.Participants {
		if p.Identity == "alice" && p.Sid != sid {
			t.Errorf("the node lists alice as %s, want %s", p.Sid, sid)
		}
	}
	if n := bobSawLeave.Load(); n != 0 {
		t.Errorf("bob saw alice disconnect %d times", n)
	}
	if _, _, corrupt, _ := sub.video.snapshot(); corrupt > 0 {
		t.Errorf("%d frames differ from the clip", corrupt)
	}
	if disconnected.Load() != 0 {
		t.Error("alice's room reported a disconnect")
	}
}
