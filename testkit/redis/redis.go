// Package redis starts Debian's redis-server for tests: one process on a free loopback port, no
// persistence (a restart comes back empty, like a lost Redis), stopped by PID at cleanup.
package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Binary is where Debian's redis-server package installs the server.
const Binary = "/usr/bin/redis-server"

// Server is a running (or stopped, between Stop and Start) redis-server.
type Server struct {
	// Port is the loopback port; it stays the same across Stop and Start.
	Port int

	t testing.TB
	// args returns the command line for a start with dir as the working directory.
	args func(dir string) ([]string, error)

	mu     sync.Mutex
	cmd    *exec.Cmd
	waitCh chan error
	log    *syncBuffer
}

// Start launches redis-server on a free loopback port and waits until it answers PING. It skips
// the test when redis-server is not installed, and stops the server at cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := binary()
	if bin == "" {
		t.Skip("redis-server is not installed (apt-get install -y redis-server); skipping cluster test")
	}
	var lastErr error
	for range 3 { // the free port may be taken before the server binds it
		port, err := freePort()
		if err != nil {
			t.Fatalf("redis: %v", err)
		}
		s := &Server{Port: port, t: t, args: serverArgs(port)}
		if lastErr = s.start(); lastErr == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("redis: %v", lastErr)
	return nil
}

func serverArgs(port int) func(string) ([]string, error) {
	return func(dir string) ([]string, error) {
		return []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir}, nil
	}
}

// StartSentinel launches a Redis Sentinel (redis-server --sentinel) on a free loopback port that
// monitors master under masterName with a quorum of one, stopped at cleanup.
func StartSentinel(t testing.TB, master *Server, masterName string) *Server {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatalf("redis sentinel: %v", err)
	}
	s := &Server{Port: port, t: t, args: func(dir string) ([]string, error) {
		// Sentinel rewrites its config file, so it lives in the start's own directory.
		conf := filepath.Join(dir, "sentinel.conf")
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s 127.0.0.1 %d 1\n",
			port, dir, masterName, master.Port)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			return nil, fmt.Errorf("sentinel config: %w", err)
		}
		return []string{conf, "--sentinel"}, nil
	}}
	if err := s.start(); err != nil {
		t.Fatalf("redis sentinel: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartCluster launches a one-node Redis Cluster (cluster mode on, all 16384 slots on this node)
// on a free loopback port, for clients of the cluster shape: multi-key commands across slots fail
// there exactly as on a many-node cluster.
func StartCluster(t testing.TB) *Server {
	t.Helper()
	if binary() == "" {
		t.Skip("redis-server is not installed (apt-get install -y redis-server); skipping cluster test")
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("redis cluster: %v", err)
	}
	plain := serverArgs(port)
	s := &Server{Port: port, t: t, args: func(dir string) ([]string, error) {
		args, err := plain(dir)
		return append(args, "--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, "nodes.conf")), err
	}}
	if err := s.start(); err != nil {
		t.Fatalf("redis cluster: %v", err)
	}
	t.Cleanup(s.Stop)
	c := goredis.NewClient(&goredis.Options{Addr: s.Addr()})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ClusterAddSlotsRange(ctx, 0, 16383).Err(); err != nil {
		t.Fatalf("redis cluster: assign slots: %v", err)
	}
	for {
		info, err := c.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return s
		}
		if ctx.Err() != nil {
			t.Fatalf("redis cluster: state not ok: %q %v", info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func binary() string {
	if _, err := os.Stat(Binary); err == nil {
		return Binary
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	return ""
}

// Addr is host:port for a client.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// Client returns a go-redis client for the server, closed at cleanup.
func (s *Server) Client() *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: s.Addr()})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Restart stops the server and starts it again on the same port, empty.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("redis restart: %v", err)
	}
}

// StartAgain starts a stopped server on its port.
func (s *Server) StartAgain() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("redis start: %v", err)
	}
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("redis-server already running")
	}
	log := &syncBuffer{}
	args, err := s.args(s.t.TempDir())
	if err != nil {
		return err
	}
	cmd := exec.Command(binary(), args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	c := goredis.NewClient(&goredis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			s.cmd, s.log = cmd, log
			s.waitCh = exited
			return nil
		}
		select {
		case werr := <-exited:
			return fmt.Errorf("redis-server on port %d exited (%v): %s", s.Port, werr, log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on port %d did not answer PING: %w", s.Port, err)
		}
	}
}

// Stop kills the server by PID and waits for it to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.waitCh
	s.cmd = nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free tcp port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// syncBuffer collects the server's output for error messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
