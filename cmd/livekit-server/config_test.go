package main

import (
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

const fullYAML = `
port: 7890
bind_addresses: ["127.0.0.1"]
log_level: warn
keys:
  k1: s1
  k2: s2
rtc:
  udp_port: "7900"
  tcp_port: 7901
  node_ip: 10.1.2.3
  use_external_ip: true
  enable_loopback_candidate: false
  ips:
    includes: [10.0.0.0/8]
  stun_servers: ["stun.example.org:3478"]
  port_range_start: 50000
room:
  auto_create: false
  empty_timeout: 30
  departure_timeout: 5
  max_participants: 7
redis:
  address: localhost:6379
turn:
  enabled: true
  udp_port: 3478
`

func files(m map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		if s, ok := m[name]; ok {
			return []byte(s), nil
		}
		return nil, os.ErrNotExist
	}
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfig(t *testing.T) {
	fs := files(map[string]string{
		"full.yaml":      fullYAML,
		"keys.yaml":      "keys:\n  filekey: filesecret\n",
		"level.yaml":     "logging:\n  level: error\n  json: true\nlog_level: debug\n",
		"bad.yaml":       "port: [\n",
		"range.yaml":     "rtc:\n  udp_port: 50000-60000\n",
		"empty.yaml":     "",
		"hook.yaml":      "keys:\n  k1: s1\nwebhook:\n  api_key: k1\n  urls:\n    - http://127.0.0.1:9/hook\n",
		"hooknokey.yaml": "keys:\n  k1: s1\nwebhook:\n  api_key: other\n  urls: [http://127.0.0.1:9/hook]\n",
	})
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, ld *loaded)
	}{
		{name: "no keys is an error", args: nil, wantErr: "no API keys"},
		{name: "srtp-gcm-only flag", args: []string{"--dev", "--srtp-gcm-only"}, check: func(t *testing.T, ld *loaded) {
			if !ld.cfg.nodeConfig(version, nil).Media.SRTPGCMOnly {
				t.Error("--srtp-gcm-only did not reach the media config")
			}
		}},
		{name: "webhook section", args: []string{"--config", "hook.yaml"}, check: func(t *testing.T, ld *loaded) {
			if w := ld.cfg.Webhook; w.APIKey != "k1" || !slices.Equal(w.URLs, []string{"http://127.0.0.1:9/hook"}) {
				t.Errorf("webhook = %+v", w)
			}
			if len(ld.warnings) != 0 {
				t.Errorf("warnings %v", ld.warnings)
			}
		}},
		{name: "webhook key must be configured", args: []string{"--config", "hooknokey.yaml"}, wantErr: `webhook.api_key "other"`},
		{name: "dev defaults", args: []string{"--dev"}, check: func(t *testing.T, ld *loaded) {
			c := ld.cfg
			if c.Port != 7880 || c.RTC.UDPPort.Start != 7882 || !slices.Equal(c.BindAddresses, []string{"127.0.0.1"}) || !c.Dev {
				t.Errorf("cfg = %+v", c)
			}
			if !maps.Equal(ld.keys, map[string]string{"devkey": "secret"}) || ld.level != slog.LevelDebug || ld.json {
				t.Errorf("keys %v level %v", ld.keys, ld.level)
			}
			nc := c.nodeConfig(version, nil)
			if !nc.Media.LoopbackOnly || nc.Media.BindIP != "127.0.0.1" || nc.Media.UDPPort != 7882 || nc.Room.DisableAutoCreate || len(nc.ICEServers) != 0 {
				t.Errorf("node config = %+v", nc)
			}
			if len(ld.warnings) != 0 {
				t.Errorf("warnings %v", ld.warnings)
			}
		}},
		{name: "plain defaults with LIVEKIT_KEYS", env: map[string]string{"LIVEKIT_KEYS": "envkey: envsecret"}, check: func(t *testing.T, ld *loaded) {
			c := ld.cfg
			if c.Port != 7880 || c.RTC.UDPPort.Start != 7882 || len(c.BindAddresses) != 0 || ld.level != slog.LevelInfo || c.DrainTimeout != 10*time.Second || c.DebugPages {
				t.Errorf("cfg = %+v", c)
			}
			if !maps.Equal(ld.keys, map[string]string{"envkey": "envsecret"}) {
				t.Errorf("keys %v", ld.keys)
			}
			if got := c.listenAddrs(); !slices.Equal(got, []string{":7880"}) {
				t.Errorf("listen %v", got)
			}
			if c.nodeConfig(version, nil).Media.LoopbackOnly {
				t.Error("loopback-only outside dev")
			}
		}},
		{name: "YAML known and unknown keys", args: []string{"--config", "full.yaml"}, check: func(t *testing.T, ld *loaded) {
			c := ld.cfg
			if c.Port != 7890 || c.RTC.UDPPort.Start != 7900 || c.RTC.TCPPort != 7901 || c.RTC.NodeIP != "10.1.2.3" || ld.level != slog.LevelWarn {
				t.Errorf("cfg = %+v", c)
			}
			if !maps.Equal(ld.keys, map[string]string{"k1": "s1", "k2": "s2"}) {
				t.Errorf("keys %v", ld.keys)
			}
			nc := c.nodeConfig(version, nil)
			if !nc.Room.DisableAutoCreate || nc.Room.EmptyTimeout != 30*time.Second || nc.Room.DepartureTimeout != 5*time.Second || nc.Room.MaxParticipants != 7 {
				t.Errorf("room = %+v", nc.Room)
			}
			if len(nc.ICEServers) != 1 || nc.ICEServers[0].Urls[0] != "stun:stun.example.org:3478" {
				t.Errorf("ice = %v", nc.ICEServers)
			}
			all := strings.Join(ld.warnings, "\n")
			for _, want := range []string{"redis", "rtc.port_range_start", "use_external_ip"} {
				if !strings.Contains(all, want) {
					t.Errorf("warnings lack %q:\n%s", want, all)
				}
			}
			// One line per unknown key, each saying what behaves differently; known keys never.
			var reported []string
			for _, w := range ld.warnings {
				if key, _, ok := strings.Cut(strings.TrimPrefix(w, "config full.yaml: "), " is not supported: "); ok {
					reported = append(reported, key)
				}
			}
			if strings.Join(reported, ",") != "redis" {
				t.Errorf("unsupported keys reported %q, want redis:\n%s", reported, all)
			}
		}},
		{name: "flags override file and env", args: []string{"--config", "full.yaml", "--port", "9000", "--bind", "127.0.0.2,127.0.0.3", "--udp-port", "9001", "--node-ip", "10.9.9.9", "--keys", "flagkey: flagsecret", "--log-level", "debug", "--log-format", "json"},
			env: map[string]string{"LIVEKIT_KEYS": "envkey: envsecret"},
			check: func(t *testing.T, ld *loaded) {
				c := ld.cfg
				if c.Port != 9000 || c.RTC.UDPPort.Start != 9001 || c.RTC.NodeIP != "10.9.9.9" || !slices.Equal(c.BindAddresses, []string{"127.0.0.2", "127.0.0.3"}) {
					t.Errorf("cfg = %+v", c)
				}
				if !maps.Equal(ld.keys, map[string]string{"flagkey": "flagsecret"}) || ld.level != slog.LevelDebug || !ld.json {
					t.Errorf("keys %v level %v json %v", ld.keys, ld.level, ld.json)
				}
				if got := c.listenAddrs(); !slices.Equal(got, []string{"127.0.0.2:9000", "127.0.0.3:9000"}) {
					t.Errorf("listen %v", got)
				}
				if c.nodeConfig(version, nil).Media.BindIP != "" {
					t.Error("media bound to one of several HTTP addresses")
				}
			}},
		{name: "LIVEKIT_KEYS overrides file keys", args: []string{"--config", "keys.yaml"}, env: map[string]string{"LIVEKIT_KEYS": "envkey: envsecret"}, check: func(t *testing.T, ld *loaded) {
			if !maps.Equal(ld.keys, map[string]string{"envkey": "envsecret"}) {
				t.Errorf("keys %v", ld.keys)
			}
		}},
		{name: "file keys replace dev keys", args: []string{"--dev", "--config", "keys.yaml"}, check: func(t *testing.T, ld *loaded) {
			if !maps.Equal(ld.keys, map[string]string{"filekey": "filesecret"}) || !ld.cfg.Dev {
				t.Errorf("keys %v", ld.keys)
			}
		}},
		{name: "logging.level beats log_level", args: []string{"--dev", "--config", "level.yaml"}, check: func(t *testing.T, ld *loaded) {
			if ld.level != slog.LevelError || !ld.json {
				t.Errorf("level %v json %v", ld.level, ld.json)
			}
		}},
		{name: "LIVEKIT_CONFIG body", env: map[string]string{"LIVEKIT_CONFIG": "port: 7001\nkeys:\n  a: b\n"}, check: func(t *testing.T, ld *loaded) {
			if ld.cfg.Port != 7001 || ld.keys["a"] != "b" {
				t.Errorf("cfg %+v keys %v", ld.cfg, ld.keys)
			}
		}},
		{name: "empty file", args: []string{"--dev", "--config", "empty.yaml"}, check: func(t *testing.T, ld *loaded) {
			if ld.cfg.Port != 7880 {
				t.Errorf("port %d", ld.cfg.Port)
			}
		}},
		{name: "missing file", args: []string{"--config", "nope.yaml"}, wantErr: "reading config"},
		{name: "bad YAML", args: []string{"--dev", "--config", "bad.yaml"}, wantErr: "config bad.yaml"},
		{name: "udp_port range", args: []string{"--dev", "--config", "range.yaml"}, check: func(t *testing.T, ld *loaded) {
			if r := ld.cfg.RTC.UDPPort; r.Start != 50000 || r.End != 60000 {
				t.Errorf("udp_port = %+v, want 50000-60000", r)
			}
			if m := ld.cfg.nodeConfig(version, nil).Media; m.UDPPort != 50000 || m.UDPPortEnd != 60000 || m.PortRangeStart != 0 {
				t.Errorf("media = %+v, want muxed ports 50000-60000", m)
			}
		}},
		{name: "bad keys", args: []string{"--keys", "nocolon"}, wantErr: "--keys"},
		{name: "bad log level", args: []string{"--dev", "--log-level", "loud"}, wantErr: "log level"},
		{name: "bad log format", args: []string{"--dev", "--log-format", "xml"}, wantErr: "--log-format"},
		{name: "bad node ip", args: []string{"--dev", "--node-ip", "example.com"}, wantErr: "node_ip"},
		{name: "bad port", args: []string{"--dev", "--port", "70000"}, wantErr: "out of range"},
		{name: "stray argument", args: []string{"--dev", "extra"}, wantErr: "unexpected arguments"},
		{name: "unknown flag", args: []string{"--nope"}, wantErr: "flag provided but not defined"},
		{name: "version needs no keys", args: []string{"--version"}, check: func(t *testing.T, ld *loaded) {
			if !ld.version {
				t.Error("version not set")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ld, err := loadConfig(tc.args, env(tc.env), fs, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, ld)
		})
	}
}

func TestRunHelpAndErrors(t *testing.T) {
	if code := run([]string{"--help"}, env(nil), io.Discard, io.Discard); code != 0 {
		t.Errorf("--help exit %d", code)
	}
	if code := run([]string{"--version"}, env(nil), io.Discard, io.Discard); code != 0 {
		t.Errorf("--version exit %d", code)
	}
	if code := run(nil, env(nil), io.Discard, io.Discard); code != 2 {
		t.Errorf("no keys exit %d, want 2", code)
	}
}
