package conformance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	protoLogger "github.com/livekit/protocol/logger"
	lksdk "github.com/livekit/server-sdk-go/v2"
)

// Dev credentials the node is started with.
const (
	apiKey    = "devkey"
	apiSecret = "secret"
	httpPort  = "7880"
	udpPort   = "7882"
)

// Environment handed from the parent process to the child inside the namespace.
const (
	envChild = "LKCONF_CHILD"   // "1" in the child
	envBin   = "LKCONF_BIN"     // node binary
	envDir   = "LKCONF_WORKDIR" // scratch directory (node log)
)

// Endpoints of the node inside the namespace.
var (
	wsURL   = "ws://" + nodeIP + ":" + httpPort
	httpURL = "http://" + nodeIP + ":" + httpPort
)

// TestMain runs in two roles. As the parent (go test's process) it builds the
// node, creates the namespace, re-runs this test binary inside it with the same
// flags and removes the namespace afterwards. As the child it starts the node
// at nodeIP and runs the tests.
func TestMain(m *testing.M) {
	if os.Getenv(envChild) == "1" {
		os.Exit(childMain(m))
	}
	os.Exit(parentMain())
}

func parentMain() int {
	dir, err := os.MkdirTemp("", "lkconf-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	bin := filepath.Join(dir, "livekit-server")
	build := exec.Command("go", "build", "-o", bin, "./cmd/livekit-server")
	build.Dir = filepath.Join("..", "..")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	start := time.Now()
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "conformance: building the node:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "conformance: built node in %v\n", time.Since(start).Round(time.Millisecond))

	ns, err := newNetns()
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		return 1
	}
	defer ns.delete()

	child := ns.command(os.Args[0], os.Args[1:]...)
	child.Env = append(os.Environ(), envChild+"=1", envBin+"="+bin, envDir+"="+dir)
	child.Stdout, child.Stderr, child.Stdin = os.Stdout, os.Stderr, nil
	if err := child.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "conformance: starting the test child:", err)
		return 1
	}
	// Forward interrupts so the child stops its node; the namespace is deleted
	// by the deferred call once the child is gone.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		for s := range sig {
			_ = child.Process.Signal(s)
		}
	}()
	if err := child.Wait(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() > 0 {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "conformance: test child:", err)
		return 1
	}
	return 0
}

func childMain(m *testing.M) int {
	logPath := filepath.Join(os.Getenv(envDir), "node.log")
	logf, err := os.Create(logPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		return 1
	}
	defer logf.Close()
	node := exec.Command(os.Getenv(envBin),
		"--keys", apiKey+": "+apiSecret,
		"--bind", nodeIP, "--node-ip", nodeIP,
		"--port", httpPort, "--udp-port", udpPort,
		"--log-level", "info",
	)
	node.Stdout, node.Stderr = logf, logf
	node.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := node.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "conformance: starting the node:", err)
		return 1
	}
	exited := make(chan struct{})
	go func() { _ = node.Wait(); close(exited) }()
	stop := func() {
		_ = node.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = node.Process.Kill()
			<-exited
		}
	}

	if err := waitHealthy(exited); err != nil {
		stop()
		fmt.Fprintln(os.Stderr, "conformance:", err)
		dumpLog(logPath)
		return 1
	}
	// The SDK logs at info through the standard logger by default; keep its
	// warnings and errors (LKCONF_SDK_LOG=debug|info for more).
	level := os.Getenv("LKCONF_SDK_LOG")
	if level == "" {
		level = "warn"
	}
	if l, err := protoLogger.NewZapLogger(&protoLogger.Config{Level: level}); err == nil {
		lksdk.SetLogger(l)
	}
	code := m.Run()
	stop()
	if code != 0 {
		dumpLog(logPath)
	}
	return code
}

// waitHealthy polls GET / until the node answers 200.
func waitHealthy(exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, httpURL+"/", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("the node exited during start-up")
		case <-ctx.Done():
			return errors.New("the node did not answer GET / within 20s")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// dumpLog prints the end of the node's log after a failure.
func dumpLog(path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 150 {
		lines = lines[len(lines)-150:]
	}
	fmt.Fprintf(os.Stderr, "---- last %d lines of the node log ----\n%s\n----\n", len(lines), strings.Join(lines, "\n"))
}
