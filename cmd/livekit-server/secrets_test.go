package main

import (
	"io"
	"strings"
	"testing"
)

// TestAPISecretChecks: an empty secret stops the node; a short one outside --dev is reported at
// error level; --dev's well-known key is not.
func TestAPISecretChecks(t *testing.T) {
	long := strings.Repeat("s", minSecretLength)
	fs := files(map[string]string{
		"empty.yaml": "keys:\n  k1: \"\"\n",
		"null.yaml":  "keys:\n  k1:\n",
		"long.yaml":  "keys:\n  k1: " + long + "\n",
	})
	tests := []struct {
		name    string
		args    []string
		wantErr string
		alarms  []string // keys expected to be named, in order
	}{
		{name: "empty secret in the file", args: []string{"--config", "empty.yaml"}, wantErr: `API key "k1" has an empty secret`},
		{name: "null secret in the file", args: []string{"--config", "null.yaml"}, wantErr: `API key "k1" has an empty secret`},
		{name: "long secret", args: []string{"--config", "long.yaml"}},
		{name: "short secrets", args: []string{"--keys", "b: tiny, a: " + long[1:]}, alarms: []string{`"a"`, `"b"`}},
		{name: "dev key", args: []string{"--dev"}},
		{name: "short key under --dev", args: []string{"--dev", "--keys", "k: short"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ld, err := loadConfig(tc.args, env(nil), fs, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ld.alarms) != len(tc.alarms) {
				t.Fatalf("alarms %q, want ones naming %q", ld.alarms, tc.alarms)
			}
			for i, key := range tc.alarms {
				if !strings.Contains(ld.alarms[i], key) || strings.Contains(ld.alarms[i], "tiny") || strings.Contains(ld.alarms[i], long[1:]) {
					t.Errorf("alarm %q does not name %s (or shows a secret)", ld.alarms[i], key)
				}
			}
		})
	}
}

// TestRunRefusesEmptySecret: the command exits 2 and says why.
func TestRunRefusesEmptySecret(t *testing.T) {
	var stderr strings.Builder
	code := run(nil, env(map[string]string{"LIVEKIT_CONFIG": "keys:\n  k1: \"\"\n"}), io.Discard, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "empty secret") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}

// --dev on a non-loopback bind address is run, but said loudly; on loopback it is not.
func TestDevKeyOnReachableBindIsAlarmed(t *testing.T) {
	for _, tc := range []struct {
		bind  string
		alarm bool
	}{{"127.0.0.1", false}, {"0.0.0.0", true}, {"10.1.2.3", true}} {
		ld, err := loadConfig([]string{"--dev", "--bind", tc.bind}, env(nil), files(nil), io.Discard)
		if err != nil {
			t.Fatalf("--bind %s: %v", tc.bind, err)
		}
		got := false
		for _, a := range ld.alarms {
			got = got || strings.Contains(a, "devkey")
		}
		if got != tc.alarm {
			t.Errorf("--dev --bind %s: alarms %q, want a devkey alarm: %v", tc.bind, ld.alarms, tc.alarm)
		}
	}
}
