package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/actor-sfu/livekit-server/testkit"
)

// target is where the load goes: a node process we started, or a server given by -url.
type target struct {
	url            string // ws://host:port
	apiKey, secret string
	pid            int // 0: CPU and RSS unknown
	cmd            *exec.Cmd
	logFile        *os.File
}

// buildServer compiles pkg (./cmd/livekit-server) into dir and returns the binary's path.
func buildServer(ctx context.Context, pkg, dir string) (string, error) {
	bin := filepath.Join(dir, "livekit-server")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %w", pkg, err)
	}
	return bin, nil
}

// startBinaryNode runs the livekit-server binary in dev mode on free loopback ports.
func startBinaryNode(ctx context.Context, bin, logPath string) (*target, error) {
	port, err := testkit.FreePort("tcp")
	if err != nil {
		return nil, err
	}
	udp, err := testkit.FreePort("udp")
	if err != nil {
		return nil, err
	}
	args := []string{"--dev", "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--udp-port", strconv.Itoa(udp), "--log-level", "warn"}
	cmd := exec.Command(bin, args...)
	t := &target{url: fmt.Sprintf("ws://127.0.0.1:%d", port), apiKey: testkit.APIKey, secret: testkit.APISecret, cmd: cmd}
	if err := t.start(logPath); err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, fmt.Sprintf("http://127.0.0.1:%d/", port)); err != nil {
		t.stop()
		return nil, err
	}
	return t, nil
}

// startSelfNode re-runs this executable with -serve-node: the node of testkit.Start in its
// own process, which can write a CPU profile of the measurement window. fanoutThreshold is
// media.Config.FanoutThreshold (0: default).
func startSelfNode(ctx context.Context, profilePath string, fanoutThreshold int, logPath string) (*target, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("own executable: %w", err)
	}
	args := []string{"-serve-node", "-fanout-threshold", strconv.Itoa(fanoutThreshold)}
	if profilePath != "" {
		args = append(args, "-cpuprofile", profilePath)
	}
	cmd := exec.Command(exe, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("node stdout: %w", err)
	}
	t := &target{apiKey: testkit.APIKey, secret: testkit.APISecret, cmd: cmd}
	if err := t.start(logPath); err != nil {
		return nil, err
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				ready <- u
			}
		}
	}()
	select {
	case t.url = <-ready:
		return t, nil
	case <-time.After(30 * time.Second):
	case <-ctx.Done():
	}
	t.stop()
	return nil, errors.New("self node did not report READY")
}

func (t *target) start(logPath string) error {
	f, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("node log: %w", err)
	}
	t.logFile = f
	t.cmd.Stderr = f
	if err := t.cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start node: %w", err)
	}
	t.pid = t.cmd.Process.Pid
	return nil
}

// signal sends sig to the node process we started (no-op for -url targets).
func (t *target) signal(sig os.Signal) {
	if t.cmd != nil && t.cmd.Process != nil {
		_ = t.cmd.Process.Signal(sig)
	}
}

// stop sends SIGTERM to a node we started and waits for it (SIGKILL after 20 s).
func (t *target) stop() {
	if t.cmd == nil || t.cmd.Process == nil {
		return
	}
	_ = t.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- t.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = t.cmd.Process.Kill()
		<-done
	}
	if t.logFile != nil {
		t.logFile.Close()
	}
}

// waitHTTP polls url until the server answers anything.
func waitHTTP(ctx context.Context, url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", url, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("node at %s did not answer within 30s", url)
}

// serveNode is the child side of startSelfNode: start the node, print READY <url>, profile
// between SIGUSR1 and SIGUSR2, stop on SIGTERM.
func serveNode(profilePath string, fanoutThreshold int) int {
	opts := testkit.Options{LogLevel: slog.LevelWarn}
	opts.Actors.Media.FanoutThreshold = fanoutThreshold
	node, err := testkit.Start(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "serve-node:", err)
		return 1
	}
	fmt.Printf("READY %s\n", node.WSURL)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt, syscall.SIGUSR1, syscall.SIGUSR2)
	var prof *os.File
	status := 0
	stopProfile := func() {
		if prof == nil {
			return
		}
		pprof.StopCPUProfile()
		if err := prof.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "serve-node: closing profile:", err)
			status = 1
		}
		prof = nil
	}
loop:
	for sig := range sigs {
		switch sig {
		case syscall.SIGUSR1:
			if profilePath == "" || prof != nil {
				continue
			}
			f, err := os.Create(profilePath)
			if err != nil {
				fmt.Fprintln(os.Stderr, "serve-node: profile:", err)
				continue
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				fmt.Fprintln(os.Stderr, "serve-node: profile:", err)
				f.Close()
				continue
			}
			prof = f
		case syscall.SIGUSR2:
			stopProfile()
		default:
			break loop
		}
	}
	stopProfile()
	node.Stop()
	return status
}
