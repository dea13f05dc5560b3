// Package cliflow runs the seed's original command-line flow with the built binaries, exactly as a
// new user types it:
//
//	livekit-server --dev
//	livekit-cli create-room
//	livekit-cli join --audio x.ogg --video y.ivf --room-id RM_…
//
// and checks that a peer joining 10 s later (past the end of the 3-second files) still receives
// both tracks.
package cliflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport/lkclient/lkmedia"
)

const (
	testdata = "../testdata"
	testIVF  = testdata + "/vp8-320x240-15fps-3s.ivf"
	testOgg  = testdata + "/opus-48k-mono-3s.ogg"

	// lateJoin is how long after the publisher the recorder joins: well past the files' 3 s.
	lateJoin = 10 * time.Second
	// recordFor is how long the recorder stays.
	recordFor = 6 * time.Second
)

func TestOriginalFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both binaries and runs for about 20 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	bin := buildBinaries(ctx, t)
	ivf, ogg := absPath(t, testIVF), absPath(t, testOgg)

	// ./bin/livekit-server --dev, on free loopback ports so that it runs beside anything else.
	httpPort, udpPort := freePort(t, "tcp"), freePort(t, "udp")
	srv := start(t, "livekit-server", filepath.Join(bin, "livekit-server"), nil,
		"--dev", "--bind", "127.0.0.1", "--port", strconv.Itoa(httpPort), "--udp-port", strconv.Itoa(udpPort))
	url := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	waitHTTP(ctx, t, srv, url)
	// The CLI's defaults (devkey/secret) match --dev; only the address differs from the flow's.
	cliEnv := []string{"LIVEKIT_URL=" + url}
	cli := filepath.Join(bin, "livekit-cli")

	// ./bin/livekit-cli create-room — no flags.
	create := start(t, "create-room", cli, cliEnv, "create-room")
	if code := create.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("create-room: exit %d\nstdout: %s\nstderr: %s", code, create.stdout, create.stderr)
	}
	var room struct {
		Sid          string `json:"sid"`
		Name         string `json:"name"`
		CreationTime string `json:"creation_time"`
	}
	if err := json.Unmarshal([]byte(create.stdout.String()), &room); err != nil {
		t.Fatalf("create-room's stdout is not the room's JSON alone: %v\n%s", err, create.stdout)
	}
	if !strings.HasPrefix(room.Sid, "RM_") || room.Name == "" || room.CreationTime == "" {
		t.Fatalf("create-room printed %+v:\n%s", room, create.stdout)
	}
	t.Logf("create-room: %s (%s)", room.Name, room.Sid)

	// ./bin/livekit-cli join --audio x.ogg --video y.ivf --room-id RM_… — no --loop, no --identity.
	pub := start(t, "publisher", cli, cliEnv, "join", "--audio", ogg, "--video", ivf, "--room-id", room.Sid)
	waitOutput(ctx, t, pub, func(stderr string) bool { return strings.Count(stderr, "publishing ") == 2 })
	joinedAt := time.Now()
	t.Logf("publisher is publishing both files; the recorder joins in %s", lateJoin)

	select {
	case <-pub.done:
		t.Fatalf("the publisher left by itself: exit %d\nstdout: %s\nstderr: %s", pub.code, pub.stdout, pub.stderr)
	case <-time.After(time.Until(joinedAt.Add(lateJoin))):
	}

	// A peer that joins while the publisher is in the room, after the files' first pass.
	out := t.TempDir()
	rec := start(t, "recorder", cli, cliEnv, "join", "--room-id", room.Sid, "--out", out,
		"--duration", recordFor.String())
	if code := rec.wait(t, recordFor+30*time.Second); code != 0 {
		t.Fatalf("recorder: exit %d\nstdout: %s\nstderr: %s", code, rec.stdout, rec.stderr)
	}
	t.Logf("recorder:\n%s", rec.stdout)

	// Ctrl-C (SIGTERM) leaves cleanly, exit 0, with the totals on stdout.
	if code := pub.stop(t); code != 0 {
		t.Errorf("publisher after SIGTERM: exit %d\nstderr: %s", code, pub.stderr)
	}
	if n := strings.Count(pub.stdout.String(), "sent     TR_"); n != 2 {
		t.Errorf("publisher stdout names %d sent tracks, want 2:\n%s", n, pub.stdout)
	}

	checkVideo(t, out, ivf)
	checkAudio(t, out, ogg)

	if code := srv.stop(t); code != 0 {
		t.Errorf("livekit-server after SIGTERM: exit %d", code)
	}
}

// checkVideo: the recorder wrote one IVF of VP8 frames, with a keyframe, all from the source file.
func checkVideo(t *testing.T, dir, src string) {
	t.Helper()
	path := onlyFile(t, dir, "*.ivf")
	if path == "" {
		return
	}
	// The publisher was given no --identity: it joined as a generated cli-….
	if !strings.HasPrefix(filepath.Base(path), "cli-") {
		t.Errorf("recorded %s; want the publisher's generated identity cli-… in the name", filepath.Base(path))
	}
	info, frames, err := lkmedia.LoadIVF(path)
	if err != nil {
		t.Errorf("recorded IVF: %v", err)
		return
	}
	_, srcFrames, err := lkmedia.LoadIVF(src)
	if err != nil {
		t.Fatal(err)
	}
	keyframes := 0
	for _, f := range frames {
		if lkmedia.IsVP8Keyframe(f.Data) {
			keyframes++
		}
	}
	// 15 fps for 6 s is 90 frames; ask for a second's worth, to leave room for a loaded machine.
	if info.FourCC != "VP80" || len(frames) < 15 || keyframes == 0 {
		t.Errorf("recorded IVF %s: fourcc %q, %d frames, %d keyframes; want VP80, at least 15 frames and a keyframe",
			filepath.Base(path), info.FourCC, len(frames), keyframes)
	}
	if bad := notFrom(srcFrames, frames); bad != "" {
		t.Errorf("recorded VP8: %s", bad)
	}
	t.Logf("recorded %d VP8 frames (%d keyframes)", len(frames), keyframes)
}

// checkAudio: the recorder wrote one Ogg of Opus packets, all from the source file.
func checkAudio(t *testing.T, dir, src string) {
	t.Helper()
	path := onlyFile(t, dir, "*.ogg")
	if path == "" {
		return
	}
	_, packets, err := lkmedia.LoadOgg(path)
	if err != nil {
		t.Errorf("recorded Ogg: %v", err)
		return
	}
	_, srcPackets, err := lkmedia.LoadOgg(src)
	if err != nil {
		t.Fatal(err)
	}
	// 50 packets a second for 6 s is 300.
	if len(packets) < 50 {
		t.Errorf("recorded Ogg %s: %d Opus packets, want at least 50", filepath.Base(path), len(packets))
	}
	if bad := notFrom(srcPackets, packets); bad != "" {
		t.Errorf("recorded Opus: %s", bad)
	}
	t.Logf("recorded %d Opus packets", len(packets))
}

// notFrom returns "" when every frame of got is one of src's, else what is wrong.
func notFrom(src, got []lkmedia.MediaFrame) string {
	known := make(map[string]bool, len(src))
	for _, f := range src {
		known[string(f.Data)] = true
	}
	for i, f := range got {
		if !known[string(f.Data)] {
			return fmt.Sprintf("frame %d of %d (%d bytes) is not in the source file", i, len(got), len(f.Data))
		}
	}
	return ""
}

func onlyFile(t *testing.T, dir, pattern string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, pattern))
	if len(m) != 1 {
		entries, _ := os.ReadDir(dir)
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("recorder wrote %v; want exactly one %s", names, pattern)
		return ""
	}
	return m[0]
}

// buildBinaries builds livekit-server and livekit-cli from this module into a temporary
// directory.
func buildBinaries(ctx context.Context, t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go tool to build the binaries: %v", err)
	}
	bin := t.TempDir()
	// A cold build on a busy 2-core machine (CI runs other packages beside this one) is slow.
	bctx, cancel := context.WithTimeout(ctx, 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(bctx, goTool, "build", "-o", bin+string(filepath.Separator),
		"./cmd/livekit-server", "./cmd/livekit-cli")
	cmd.Dir = absPath(t, "../..")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built livekit-server and livekit-cli in %s", time.Since(start).Round(100*time.Millisecond))
	return bin
}

func absPath(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(rel)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// freePort returns a free loopback port of network ("tcp" or "udp").
func freePort(t *testing.T, network string) int {
	t.Helper()
	port, err := testkit.FreePort(network)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// proc is a started process; done closes when it has exited, with its exit code in code.
type proc struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr *testkit.SyncBuffer
	done           chan struct{}
	code           int
}

// start runs path with args and the environment plus extraEnv (the LIVEKIT_ variables of the
// caller's environment removed, so that the CLI's own defaults apply). The process is killed by
// its PID at the end of the test if it is still running, and its stderr logged if the test failed.
func start(t *testing.T, name, path string, extraEnv []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, stdout: &testkit.SyncBuffer{}, stderr: &testkit.SyncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LIVEKIT_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Env = append(p.cmd.Env, extraEnv...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		err := p.cmd.Wait()
		p.code = 0
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			p.code = ee.ExitCode()
		case err != nil:
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s (%s) stderr, last part:\n%s", name, strings.Join(args, " "), tail(p.stderr.String(), 4000))
		}
	})
	return p
}

// wait waits up to d for the process to exit and returns its exit code; past d it kills it and
// fails the test.
func (p *proc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(d):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%s still running after %s: killed", p.name, d)
		return -1
	}
}

// stop sends SIGTERM (what Ctrl-C does) and waits for the exit code.
func (p *proc) stop(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		t.Errorf("%s had exited before it was stopped: exit %d", p.name, p.code)
		return p.code
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM %s: %v", p.name, err)
	}
	return p.wait(t, 20*time.Second)
}

// waitHTTP waits until the node answers HTTP at url.
func waitHTTP(ctx context.Context, t *testing.T, srv *proc, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/", nil)
		if res, err := client.Do(req); err == nil {
			res.Body.Close()
			return
		}
		select {
		case <-srv.done:
			t.Fatalf("livekit-server exited (code %d) before it served HTTP:\n%s", srv.code, srv.stderr)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("livekit-server does not answer at %s after 30 s", url)
		}
	}
}

// waitOutput waits until ready(stderr) holds for the process, which must keep running.
func waitOutput(ctx context.Context, t *testing.T, p *proc, ready func(stderr string) bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for !ready(p.stderr.String()) {
		select {
		case <-p.done:
			t.Fatalf("%s exited (code %d)\nstdout: %s\nstderr: %s", p.name, p.code, p.stdout, p.stderr)
		case <-deadline:
			t.Fatalf("%s not ready after 30 s:\n%s", p.name, p.stderr)
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
