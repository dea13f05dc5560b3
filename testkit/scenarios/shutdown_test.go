package scenarios

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// freePorts returns a free loopback TCP port and a free loopback UDP port.
func freePorts(t *testing.T) (tcp, udp int) {
	t.Helper()
	tcp, err := testkit.FreePort("tcp")
	if err != nil {
		t.Fatal(err)
	}
	if udp, err = testkit.FreePort("udp"); err != nil {
		t.Fatal(err)
	}
	return tcp, udp
}

// buildServer compiles cmd/livekit-server into a temporary directory.
func buildServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "livekit-server")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/actor-sfu/livekit-server/cmd/livekit-server").CombinedOutput()
	if err != nil {
		t.Fatalf("building livekit-server: %v\n%s", err, out)
	}
	return bin
}

// SIGTERM to a real livekit-server process: every participant gets leave{SERVER_SHUTDOWN}, the
// node closes every PeerConnection, the log is complete, and the process exits 0 within its
// drain time.
func TestSIGTERMDrainsAndExitsZero(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server binary")
	}
	bin := buildServer(t)
	port, udp := freePorts(t)
	const drain = 5 * time.Second
	var logs testkit.SyncBuffer
	cmd := exec.Command(bin, "--dev", "--port", fmt.Sprint(port), "--udp-port", fmt.Sprint(udp), "--drain-timeout", drain.String())
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var exitErr error
	exited := make(chan struct{})
	go func() { exitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitUntil(ctx, func() bool {
		res, err := http.Get(base + "/")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}); err != nil {
		t.Fatalf("server never answered: %v\n%s", err, logs.String())
	}

	var clients []*lkclient.Client
	for _, id := range []string{"alice", "bob", "carol"} {
		c, err := testkit.Join(ctx, "ws://"+fmt.Sprint("127.0.0.1:", port), testkit.Token(t, "shut", id, nil), lkclient.Options{})
		if err != nil {
			t.Fatalf("%s joins: %v\n%s", id, err, logs.String())
		}
		t.Cleanup(c.Close)
		clients = append(clients, c)
	}
	cam, _ := publish(ctx, t, clients[0], webrtc.RTPCodecTypeVideo, 0)
	rt, err := clients[1].WaitSubscribed(ctx, cam.SID())
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.WaitPackets(ctx, 10); err != nil {
		t.Fatal(err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		leave, err := c.WaitDone(ctx)
		if err != nil {
			t.Fatalf("%s was not disconnected", c.Identity())
		}
		if leave.GetReason() != livekit.DisconnectReason_SERVER_SHUTDOWN {
			t.Errorf("%s's leave = %v (session ended with %v), want SERVER_SHUTDOWN", c.Identity(), leave, c.Err())
		}
	}
	waitCtx, cancelWait := context.WithTimeout(ctx, drain+5*time.Second)
	defer cancelWait()
	select {
	case <-exited:
		if exitErr != nil {
			t.Fatalf("exit: %v\n%s", exitErr, logs.String())
		}
	case <-waitCtx.Done():
		t.Fatalf("the server did not exit within its drain time\n%s", logs.String())
	}

	out := logs.String()
	if n := strings.Count(out, "peer connections closed"); n != len(clients) {
		t.Errorf("%d participants closed their peer connections, want %d", n, len(clients))
	}
	for _, bad := range []string{"did not close cleanly", "did not all close", "level=ERROR"} {
		if strings.Contains(out, bad) {
			t.Errorf("shutdown log contains %q", bad)
		}
	}
	if !strings.Contains(out, "msg=stopped") {
		t.Errorf("the log does not end with the stop line:\n%s", out)
	}
}
