package main

import (
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// key_file / --key-file replace keys:, LIVEKIT_KEYS and --keys still win over it, and a file
// others could read is refused without its secrets in the error.
func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // umask may have narrowed it
			t.Fatal(err)
		}
		return p
	}
	good := write("keys.yaml", "APIfile1: file-secret-one\nAPIfile2: 'file-secret-two'\n", 0o600)
	readable := write("open.yaml", "APIopen: open-secret-value\n", 0o644)
	groupOnly := write("group.yaml", "APIgroup: group-secret-value\n", 0o640)
	empty := write("empty.yaml", "# no keys\n", 0o600)
	notMap := write("list.yaml", "- APIx: very-secret-value\n", 0o600)
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		want    map[string]string
		wantErr string
	}{
		{name: "yaml key_file replaces keys", env: map[string]string{"LIVEKIT_CONFIG": "keys:\n  inline: inline-secret\nkey_file: " + good + "\n"},
			want: map[string]string{"APIfile1": "file-secret-one", "APIfile2": "file-secret-two"}},
		{name: "--key-file", args: []string{"--key-file", good}, want: map[string]string{"APIfile1": "file-secret-one", "APIfile2": "file-secret-two"}},
		{name: "--keys wins", args: []string{"--key-file", good, "--keys", "flag: flag-secret"}, want: map[string]string{"flag": "flag-secret"}},
		{name: "LIVEKIT_KEYS wins", args: []string{"--key-file", good}, env: map[string]string{"LIVEKIT_KEYS": "env: env-secret"}, want: map[string]string{"env": "env-secret"}},
		{name: "world readable", args: []string{"--key-file", readable}, wantErr: "mode 0644"},
		{name: "group readable", args: []string{"--key-file", groupOnly}, wantErr: "mode 0640"},
		{name: "missing", args: []string{"--key-file", filepath.Join(dir, "nope.yaml")}, wantErr: "no such file"},
		{name: "no keys", args: []string{"--key-file", empty}, wantErr: "holds no keys"},
		{name: "not a mapping", args: []string{"--key-file", notMap}, wantErr: "not a YAML mapping"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ld, err := loadConfig(c.args, env(c.env), os.ReadFile, io.Discard)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want %q", err, c.wantErr)
				}
				if strings.Contains(err.Error(), "secret-value") {
					t.Errorf("error shows a secret: %v", err)
				}
				if strings.Contains(c.wantErr, "mode") && !errors.Is(err, errKeyFilePermissions) {
					t.Errorf("err %v is not errKeyFilePermissions", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(ld.keys, c.want) {
				t.Errorf("keys %v, want %v", ld.keys, c.want)
			}
		})
	}
}

// The config body comes from --config-body, else LIVEKIT_CONFIG, else --config, as LiveKit picks;
// NODE_IP and UDP_PORT set rtc.node_ip and rtc.udp_port unless the flags are given.
func TestConfigSourcesAndEnv(t *testing.T) {
	fs := files(map[string]string{"file.yaml": "port: 7001\nkeys:\n  f: file-secret\n"})
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		port    int
		nodeIP  string
		udp     int
		src     string
		wantErr string
	}{
		{name: "file", args: []string{"--config", "file.yaml"}, port: 7001, udp: 7882, src: "file.yaml"},
		{name: "env body wins over file", args: []string{"--config", "file.yaml"}, env: map[string]string{"LIVEKIT_CONFIG": "port: 7002\nkeys:\n  e: env-secret\n"}, port: 7002, udp: 7882, src: "LIVEKIT_CONFIG"},
		{name: "flag body wins over env", args: []string{"--config-body", "port: 7003\nkeys:\n  b: body-secret\n"}, env: map[string]string{"LIVEKIT_CONFIG": "port: 7002\n"}, port: 7003, udp: 7882, src: "--config-body"},
		{name: "NODE_IP and UDP_PORT", args: []string{"--config", "file.yaml"}, env: map[string]string{"NODE_IP": "192.0.2.7", "UDP_PORT": "9999"}, port: 7001, nodeIP: "192.0.2.7", udp: 9999, src: "file.yaml"},
		{name: "flags beat env", args: []string{"--config", "file.yaml", "--node-ip", "192.0.2.8", "--udp-port", "9998"}, env: map[string]string{"NODE_IP": "192.0.2.7", "UDP_PORT": "9999"}, port: 7001, nodeIP: "192.0.2.8", udp: 9998, src: "file.yaml"},
		{name: "UDP_PORT range", args: []string{"--config", "file.yaml"}, env: map[string]string{"UDP_PORT": "50000-60000"}, port: 7001, udp: 50000, src: "file.yaml"},
		{name: "UDP_PORT bad range", args: []string{"--config", "file.yaml"}, env: map[string]string{"UDP_PORT": "60000-50000"}, wantErr: "UDP_PORT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ld, err := loadConfig(c.args, env(c.env), fs, io.Discard)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ld.cfg.Port != c.port || ld.cfg.RTC.NodeIP != c.nodeIP || ld.cfg.RTC.UDPPort.Start != c.udp || ld.configSrc != c.src {
				t.Errorf("port %d node_ip %q udp %d from %q, want %d %q %d %q", ld.cfg.Port, ld.cfg.RTC.NodeIP, ld.cfg.RTC.UDPPort.Start, ld.configSrc, c.port, c.nodeIP, c.udp, c.src)
			}
		})
	}
}

// prometheus.port wins over prometheus_port, and neither may take the main port.
func TestPrometheusKeys(t *testing.T) {
	for _, c := range []struct {
		yaml    string
		want    int
		wantErr string
	}{
		{yaml: "prometheus_port: 6789\n", want: 6789},
		{yaml: "prometheus_port: 6789\nprometheus:\n  port: 6790\n  username: u\n  password: p\n", want: 6790},
		{yaml: "prometheus_port: 7880\n", wantErr: "main port"},
		{yaml: "prometheus:\n  port: 6790\n  password: p\n", wantErr: "needs prometheus.username"},
		{yaml: "debug_handler:\n  port: 70000\n", wantErr: "out of range"},
	} {
		ld, err := loadConfig(nil, env(map[string]string{"LIVEKIT_CONFIG": c.yaml + "keys:\n  k: some-secret\n"}), files(nil), io.Discard)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%q: err %v, want %q", c.yaml, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", c.yaml, err)
		}
		if got := ld.cfg.metricsPort(); got != c.want {
			t.Errorf("%q: metrics port %d, want %d", c.yaml, got, c.want)
		}
		if len(ld.warnings) != 0 {
			t.Errorf("%q: warnings %v", c.yaml, ld.warnings)
		}
	}
}
