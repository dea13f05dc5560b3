package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/actor-sfu/livekit-server/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// pion's mDNS-free ICE agents still park one global timer goroutine per process.
		goleak.IgnoreTopFunction("github.com/pion/transport/v2/deadline.(*Deadline).handler"),
	)
}

// result is what one run() produced.
type result struct {
	code           int
	stdout, stderr string
}

// cli runs the command line against node (its URL and the test credentials come first, so a
// test may override them after the command).
func cli(ctx context.Context, t testing.TB, node *testkit.Node, args ...string) result {
	t.Helper()
	full := append([]string{"--url", node.URL, "--api-key", testkit.APIKey, "--api-secret", testkit.APISecret}, args...)
	var out, errOut bytes.Buffer
	code := run(ctx, full, &out, &errOut)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// mustCLI is cli that fails the test on a non-zero exit.
func mustCLI(ctx context.Context, t testing.TB, node *testkit.Node, args ...string) result {
	t.Helper()
	r := cli(ctx, t, node, args...)
	if r.code != 0 {
		t.Fatalf("livekit-cli %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// testCtx bounds a test.
func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{"no command", nil, exitUsage, "", "usage: livekit-cli"},
		{"help", []string{"help"}, exitOK, "create-token", ""},
		{"dash h", []string{"-h"}, exitOK, "usage: livekit-cli", ""},
		{"unknown command", []string{"frobnicate"}, exitUsage, "", `unknown command "frobnicate"`},
		{"unknown global flag", []string{"--nope", "list-rooms"}, exitUsage, "", "flag provided but not defined: -nope"},
		{"command help", []string{"create-room", "-h"}, exitOK, "", "-max-participants"},
		{"positional argument", []string{"delete-room", "r1"}, exitUsage, "", `unexpected arguments ["r1"]`},
		{"missing required flag", []string{"delete-room"}, exitUsage, "", "livekit-cli: delete-room: --room is required"},
		{"bad url scheme", []string{"--url", "ftp://x", "list-rooms"}, exitUsage, "", "scheme must be"},
		{"join needs a room", []string{"join"}, exitUsage, "", "exactly one of --room and --room-id"},
		{"token needs a grant", []string{"create-token", "--identity", "a"}, exitUsage, "", "no grant"},
		{"join token needs identity", []string{"create-token", "--join", "--room", "r"}, exitUsage, "", "--identity is required"},
		{"bad seconds", []string{"create-room", "--name", "r", "--empty-timeout", "soon"}, exitUsage, "", "want seconds"},
		{"create-room needs no flag", []string{"--url", "ftp://x", "create-room"}, exitUsage, "", "scheme must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tt.args, &out, &errOut)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, errOut.String())
			}
			if !strings.Contains(out.String(), tt.inStdout) {
				t.Errorf("stdout %q does not contain %q", out.String(), tt.inStdout)
			}
			if !strings.Contains(errOut.String(), tt.inStderr) {
				t.Errorf("stderr %q does not contain %q", errOut.String(), tt.inStderr)
			}
		})
	}
}

func TestUnreachableNode(t *testing.T) {
	var out, errOut bytes.Buffer
	// Port 1 on loopback: nothing listens there.
	code := run(testCtx(t, 10*time.Second), []string{"--url", "http://127.0.0.1:1", "list-rooms"}, &out, &errOut)
	if code != exitError {
		t.Fatalf("exit %d, want %d", code, exitError)
	}
	if want := "livekit-cli: list-rooms: cannot reach the node at http://127.0.0.1:1/"; !strings.HasPrefix(errOut.String(), want) {
		t.Errorf("stderr %q, want prefix %q", errOut.String(), want)
	}
	if !strings.Contains(errOut.String(), "livekit-server --dev") {
		t.Errorf("stderr %q does not say how to start a node", errOut.String())
	}
	// join's WebSocket dial says the same.
	errOut.Reset()
	code = run(testCtx(t, 10*time.Second), []string{"--url", "http://127.0.0.1:1", "join", "--room", "r"}, &out, &errOut)
	if code != exitError || !strings.Contains(errOut.String(), "livekit-server --dev") {
		t.Errorf("join: exit %d, stderr %q; want exit 1 and how to start a node", code, errOut.String())
	}
}

// TestBadFlagIsShort: a bad flag of a command is reported in two lines (the error, then the -h
// hint), without the flag list; -h alone prints the list.
func TestBadFlagIsShort(t *testing.T) {
	for _, args := range [][]string{
		{"create-room", "--name"},
		{"join", "--nope"},
		{"join", "--room-id"},
		{"delete-room", "--room"},
		{"create-room", "--empty-timeout", "soon"},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), args, &out, &errOut)
		want := "livekit-cli: " + args[0] + ": "
		if code != exitUsage || strings.Count(errOut.String(), "\n") != 2 || !strings.HasPrefix(errOut.String(), want) ||
			strings.Contains(errOut.String(), "usage:") {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and two lines: the error, the -h hint", args, code, errOut.String())
		}
	}
}
