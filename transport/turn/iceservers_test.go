package turn

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestEmbeddedICEServers(t *testing.T) {
	defer goleak.VerifyNone(t)
	srv := startServer(t, testConfig(), nil, nil)
	defer srv.Close()
	udp, tcp, tlsPort := srv.Ports()
	all := srv.ICEServers("PA_a", false)
	if len(all) != 1 {
		t.Fatalf("%d ICEServers, want 1", len(all))
	}
	want := []string{
		"turn:127.0.0.1:" + strconv.Itoa(udp) + "?transport=udp",
		"turn:127.0.0.1:" + strconv.Itoa(tcp) + "?transport=tcp",
		"turns:localhost:" + strconv.Itoa(tlsPort) + "?transport=tcp",
	}
	if !reflect.DeepEqual(all[0].Urls, want) {
		t.Fatalf("urls %v, want %v", all[0].Urls, want)
	}
	c, ok := parseUsername(all[0].Username)
	if !ok || c.sid != "PA_a" || c.apiKey != testKey || time.Until(c.expiry) > DefaultTTL || time.Until(c.expiry) < DefaultTTL-time.Minute {
		t.Fatalf("username carries %+v (ok %v), want PA_a, %s, expiry in 300 s", c, ok, testKey)
	}
	if !verifyPassword(keyMap{testKey: testSecret}, c, all[0].Credential) {
		t.Fatal("credential does not verify")
	}
	if b := srv.ICEServers("PA_b", false); b[0].Username == all[0].Username {
		t.Fatal("two participants share a username")
	}
	tlsOnly := srv.ICEServers("PA_a", true)
	if len(tlsOnly) != 1 || !reflect.DeepEqual(tlsOnly[0].Urls, want[2:]) {
		t.Fatalf("TLS-only: %v, want only %v", tlsOnly, want[2:])
	}
}

// TestICEServersFollowConfig checks the URLs of a production-shaped
// config (fixed ports, two node IPs, TLS behind a load balancer) without
// binding those ports: other tests on this machine may hold them.
func TestICEServersFollowConfig(t *testing.T) {
	cfg := testConfig()
	cfg.TCPPort, cfg.ExternalTLS, cfg.CertFile, cfg.KeyFile, cfg.Domain = 0, true, "", "", "turn.example.com"
	s := &Server{cfg: cfg.withDefaults(), opts: Options{Keys: keyMap{testKey: testSecret}, APIKey: testKey, APISecret: testSecret,
		NodeIPs: []string{"127.0.0.1", "::1"}}, log: testLog(t)}
	if err := s.prepare(); err != nil {
		t.Fatal(err)
	}
	s.udpPort, s.tlsPort = cfg.UDPPort, cfg.TLSPort
	got := s.ICEServers("PA_a", false)[0].Urls
	// LiveKit's shape: a UDP URL per node IP, turns: on 443 for the load balancer.
	want := []string{"turn:127.0.0.1:3478?transport=udp", "turn:[::1]:3478?transport=udp", "turns:turn.example.com:443?transport=tcp"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("urls %v, want %v", got, want)
	}
	s.cfg.TLSURLPort = 5349
	if got := s.ICEServers("PA_a", true)[0].Urls; !reflect.DeepEqual(got, []string{"turns:turn.example.com:5349?transport=tcp"}) {
		t.Fatalf("tls_url_port 5349, TLS only: %v", got)
	}
	s.tlsPort = 0
	if got := s.ICEServers("PA_a", true)[0].Urls; len(got) != 2 {
		t.Fatalf("TLS only without a TLS port keeps the UDP URLs: %v", got)
	}
}

func TestExternalServers(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	rest, err := NewExternal(ExternalConfig{Host: "turn.example.com", Port: 3478, Secret: "coturn-secret", TTL: 14400})
	if err != nil {
		t.Fatal(err)
	}
	got := rest.ICEServer("PA_abc", now)
	// Known answer computed independently (Python hmac/base64).
	if got.Username != "1800014400:PA_abc" || got.Credential != "Xs/mikz8i56zzQ01kUzTaubwPsM=" ||
		!reflect.DeepEqual(got.Urls, []string{"turn:turn.example.com:3478?transport=udp"}) {
		t.Fatalf("REST entry %+v", got)
	}
	static, err := NewExternal(ExternalConfig{Host: "t.example.com", Port: 443, Protocol: "tls", Username: "u", Credential: "c"})
	if err != nil {
		t.Fatal(err)
	}
	if s := static.ICEServer("PA_x", now); s.Username != "u" || s.Credential != "c" || s.Urls[0] != "turns:t.example.com:443?transport=tcp" || !static.TLS() {
		t.Fatalf("static entry %+v", s)
	}
	tcp, _ := NewExternal(ExternalConfig{Host: "t.example.com", Port: 3478, Protocol: "TCP", Username: "u", Credential: "c"})
	if u := tcp.ICEServer("PA_x", now).Urls[0]; u != "turn:t.example.com:3478?transport=tcp" {
		t.Fatalf("tcp url %q", u)
	}
	if list, err := NewExternals([]ExternalConfig{{Host: "a", Port: 1, Secret: "s"}, {Host: "b"}}); err == nil || list != nil ||
		!strings.Contains(err.Error(), "rtc.turn_servers[1]") {
		t.Fatalf("NewExternals with a bad second entry: %v, %v", list, err)
	}
	for _, bad := range []ExternalConfig{
		{Port: 3478, Secret: "s"},
		{Host: "h", Secret: "s"},
		{Host: "h", Port: 3478, Protocol: "sctp", Secret: "s"},
		{Host: "h", Port: 3478, Username: "u"},
	} {
		if _, err := NewExternal(bad); !errors.Is(err, ErrExternalServer) {
			t.Errorf("NewExternal(%+v) = %v, want ErrExternalServer", bad, err)
		}
	}
}

func TestExternalSecretFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret")
	if err := os.WriteFile(path, []byte("  coturn-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := NewExternal(ExternalConfig{Host: "turn.example.com", Port: 3478, SecretFile: path})
	if err != nil {
		t.Fatal(err)
	}
	// Default TTL 14400 s; the trimmed file content is the secret.
	if s := e.ICEServer("PA_abc", time.Unix(1_800_000_000, 0)); s.Credential != "Xs/mikz8i56zzQ01kUzTaubwPsM=" {
		t.Fatalf("secret_file entry %+v", s)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewExternal(ExternalConfig{Host: "h", Port: 1, SecretFile: path}); !errors.Is(err, ErrSecretFile) {
		t.Fatalf("world-readable secret_file: %v, want ErrSecretFile", err)
	}
	if _, err := NewExternal(ExternalConfig{Host: "h", Port: 1, SecretFile: filepath.Join(dir, "none")}); !errors.Is(err, ErrSecretFile) {
		t.Fatalf("missing secret_file: %v, want ErrSecretFile", err)
	}
}

func TestProviderOrder(t *testing.T) {
	ext, _ := NewExternal(ExternalConfig{Host: "turn.example.com", Port: 3478, Username: "u", Credential: "c"})
	p := &Provider{External: []External{ext}, STUN: []string{"stun.example.com:3478", "stun:10.0.0.1:3478"}}
	got := p.ICEServers("PA_a", false)
	if len(got) != 2 || !strings.HasPrefix(got[0].Urls[0], "turn:turn.example.com") ||
		!reflect.DeepEqual(got[1].Urls, []string{"stun:stun.example.com:3478", "stun:10.0.0.1:3478"}) {
		t.Fatalf("provider list %v", got)
	}
	if got := (&Provider{}).ICEServers("PA_a", false); len(got) != 0 {
		t.Fatalf("nothing configured gave %v; we never hand out public STUN", got)
	}
}

func TestNewProvider(t *testing.T) {
	defer goleak.VerifyNone(t)
	opts := Options{Keys: keyMap{testKey: testSecret}, APIKey: testKey, APISecret: testSecret,
		NodeIPs: []string{"127.0.0.1"}, EphemeralPorts: true, Log: testLog(t)}
	p, err := NewProvider(ProviderConfig{TURN: testConfig(), TURNOptions: opts,
		TURNServers: []ExternalConfig{{Host: "turn.example.com", Port: 3478, Secret: "s"}}, STUNServers: []string{"127.0.0.1:3478"}})
	if err != nil {
		t.Fatal(err)
	}
	got := p.ICEServers("PA_a", false)
	if len(got) != 3 || len(got[0].Urls) != 3 || got[2].Urls[0] != "stun:127.0.0.1:3478" {
		t.Fatalf("provider list %v", got)
	}
	exp, sid, _ := strings.Cut(got[1].Username, ":")
	expiry, err := strconv.ParseInt(exp, 10, 64)
	if left := time.Until(time.Unix(expiry, 0)); err != nil || sid != "PA_a" || left > DefaultExternalTTL || left < DefaultExternalTTL-time.Minute {
		t.Fatalf("REST username %q: want <now+14400>:PA_a", got[1].Username)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := NewProvider(ProviderConfig{TURNServers: []ExternalConfig{{Host: "x"}}}); err == nil {
		t.Fatal("bad rtc.turn_servers entry accepted")
	}
	off, err := NewProvider(ProviderConfig{TURN: Config{UDPPort: 3478}})
	if err != nil || off.Embedded != nil || off.Close() != nil {
		t.Fatalf("disabled turn: %+v, %v", off, err)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := testConfig()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("disabled config: %v", err)
	}
	for name, mut := range map[string]func(*Config){
		"no port":         func(c *Config) { c.UDPPort, c.TCPPort, c.TLSPort = 0, 0, 0 },
		"tls no domain":   func(c *Config) { c.Domain = "" },
		"tls no cert":     func(c *Config) { c.CertFile = "" },
		"relay range":     func(c *Config) { c.RelayRangeStart, c.RelayRangeEnd = 5000, 4000 },
		"bind address":    func(c *Config) { c.BindAddresses = []string{"localhost"} },
		"allow cidr":      func(c *Config) { c.AllowRestrictedPeerCIDRs = []string{"10.0.0.0/33"} },
		"deny cidr":       func(c *Config) { c.DenyPeerCIDRs = []string{"x"} },
		"relay range max": func(c *Config) { c.RelayRangeEnd = 70000 },
	} {
		c := testConfig()
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	ext := testConfig()
	ext.ExternalTLS, ext.CertFile, ext.KeyFile = true, "", ""
	if err := ext.Validate(); err != nil {
		t.Fatalf("external_tls needs no certificate: %v", err)
	}
	if d := (Config{}).TTL(); d != DefaultTTL {
		t.Fatalf("default TTL %v", d)
	}
}
