package main

import (
	"bytes"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/actor-sfu/livekit-server/transport"
	"github.com/actor-sfu/livekit-server/transport/auth"
)

// generate-keys prints LiveKit's two lines; the key is "API" + 12 characters, the secret long
// enough for HS256 without the short-secret alarm, and two runs never repeat.
func TestGenerateKeys(t *testing.T) {
	line := regexp.MustCompile(`^API Key:  (API[0-9A-Za-z]{12})\nAPI Secret:  ([0-9A-Za-z]{44})\n$`)
	seen := map[string]bool{}
	for range 2 {
		var out bytes.Buffer
		if code := run([]string{"generate-keys"}, env(nil), &out, io.Discard); code != 0 {
			t.Fatalf("exit %d", code)
		}
		m := line.FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("output %q is not LiveKit's format", out.String())
		}
		if seen[m[1]] || seen[m[2]] {
			t.Fatalf("repeated key or secret: %q", out.String())
		}
		seen[m[1]], seen[m[2]] = true, true
		if len(m[2]) < minSecretLength {
			t.Errorf("secret %d bytes", len(m[2]))
		}
	}
}

// create-join-token prints "Token: <jwt>" signed with the configured key, granting roomJoin on
// --room to --identity; --recorder makes a hidden subscriber-only recorder.
func TestCreateJoinToken(t *testing.T) {
	keys := auth.KeyProvider{"APIk": "create-join-token-secret-0123456789abcdef"}
	v := auth.NewVerifier(keys)
	for _, recorder := range []bool{false, true} {
		args := []string{"create-join-token", "--room", "r1", "--identity", "rec", "--keys", "APIk: create-join-token-secret-0123456789abcdef"}
		if recorder {
			args = append(args, "--recorder")
		}
		var out, errOut bytes.Buffer
		if code := run(args, env(nil), &out, &errOut); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
		tok, ok := strings.CutPrefix(strings.TrimSpace(out.String()), "Token: ")
		if !ok {
			t.Fatalf("output %q", out.String())
		}
		g, err := v.Verify(tok)
		if err != nil {
			t.Fatal(err)
		}
		if g.Identity != "rec" || !g.Video.RoomJoin || g.Video.Room != "r1" || g.Video.Hidden != recorder || g.Video.Recorder != recorder {
			t.Errorf("recorder=%v: grants %+v %+v", recorder, g, g.Video)
		}
		if recorder && (g.Video.CanPublish == nil || *g.Video.CanPublish) {
			t.Errorf("recorder may publish: %+v", g.Video)
		}
	}
	if code := run([]string{"create-join-token", "--room", "r1", "--keys", "a: b"}, env(nil), io.Discard, io.Discard); code != 2 {
		t.Errorf("without --identity: exit %d, want 2", code)
	}
}

// ports prints LiveKit's "TCP Ports" / "UDP Ports" lists for the configuration, keys or not.
func TestPorts(t *testing.T) {
	var out bytes.Buffer
	body := "port: 7990\nrtc:\n  udp_port: 7992\n  tcp_port: 7991\nprometheus:\n  port: 6789\n"
	if code := run([]string{"ports", "--config-body", body}, env(nil), &out, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	want := "TCP Ports\n7990 - HTTP service\n7991 - ICE/TCP\n6789 - Prometheus metrics\nUDP Ports\n7992 - ICE/UDP\n"
	if out.String() != want {
		t.Errorf("ports printed\n%s\nwant\n%s", out.String(), want)
	}
	out.Reset()
	body = "rtc:\n  udp_port: 7882\n  tcp_port: 7881\nturn:\n  enabled: true\n  udp_port: 3478\n  tcp_port: 3479\n  tls_port: 5349\n  domain: t.example.com\n  external_tls: true\n"
	if code := run([]string{"ports", "--config-body", body}, env(nil), &out, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	want = "TCP Ports\n7880 - HTTP service\n7881 - ICE/TCP\n3479 - TURN/TCP\n5349 - TURN/TLS\nUDP Ports\n7882 - ICE/UDP\n3478 - TURN/UDP\n30000-40000 - TURN relay\n"
	if out.String() != want {
		t.Errorf("ports with turn: printed\n%s\nwant\n%s", out.String(), want)
	}
	// A config whose webhook names one of its keys still answers: the placeholder is used only
	// when there are no keys at all.
	withHooks := "keys:\n  APIk: some-long-secret-some-long-secret-00\nwebhook:\n  api_key: APIk\n  urls: [http://127.0.0.1:9/h]\n"
	var errOut bytes.Buffer
	if code := run([]string{"ports"}, env(map[string]string{"LIVEKIT_CONFIG": withHooks}), io.Discard, &errOut); code != 0 {
		t.Errorf("ports with webhook config: exit %d: %s", code, errOut.String())
	}
}

// Outside --dev the debug pages are off unless --debug-pages (then behind a token); --dev keeps
// them public. (/metrics staying off the main port is checked by the config-file test.)
func TestDebugPlacement(t *testing.T) {
	keys := map[string]string{"LIVEKIT_KEYS": "k: some-long-secret-some-long-secret-00"}
	for _, c := range []struct {
		args []string
		want transport.DebugAccess
	}{
		{nil, transport.DebugOff},
		{[]string{"--debug-pages"}, transport.DebugToken},
		{[]string{"--dev"}, transport.DebugPublic},
		{[]string{"--dev", "--debug-pages=false"}, transport.DebugOff},
	} {
		ld, err := loadConfig(c.args, env(keys), files(nil), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if got := ld.cfg.serverConfig().Debug; got != c.want {
			t.Errorf("%v: debug %v, want %v", c.args, got, c.want)
		}
	}
}
