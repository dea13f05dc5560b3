package turn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const (
	testKey    = "APIturntest"
	testSecret = "turn-test-secret-that-is-long-enough"
)

// certFile and keyFile hold the self-signed localhost certificate TestMain
// makes; it is also the only root the process trusts (SSL_CERT_FILE), so
// pion's TURN/TLS client verifies our server with it like a browser would.
var certFile, keyFile string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "turntest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := writeSelfSigned(certFile, keyFile); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Read once, at the first verification; nothing verified before this.
	os.Setenv("SSL_CERT_FILE", certFile)
	os.Setenv("SSL_CERT_DIR", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// writeSelfSigned writes a self-signed CA certificate for "localhost".
func writeSelfSigned(certPath, keyPath string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}

// keyMap is a SecretLookup over a map.
type keyMap map[string]string

func (k keyMap) Secret(key string) (string, bool) { s, ok := k[key]; return s, ok }

// testConfig enables every listener on 127.0.0.1 and lets the relay reach
// 127.0.0.1 (a restricted address, like a node on loopback in LiveKit).
func testConfig() Config {
	return Config{
		Enabled: true, Domain: "localhost", CertFile: certFile, KeyFile: keyFile,
		UDPPort: 3478, TCPPort: 3479, TLSPort: 5349,
		RelayRangeStart: 40000, RelayRangeEnd: 49999,
		BindAddresses:            []string{"127.0.0.1"},
		AllowRestrictedPeerCIDRs: []string{"127.0.0.1/32"},
	}
}

// startServer starts a server on free loopback ports whose relay reaches
// only mediaPorts (nil: any port) on 127.0.0.1.
func startServer(t *testing.T, cfg Config, mediaPorts []PortRange, active func(string) bool) *Server {
	t.Helper()
	s, err := New(cfg, Options{
		Keys: keyMap{testKey: testSecret}, APIKey: testKey, APISecret: testSecret,
		NodeIPs: []string{"127.0.0.1"}, MediaPorts: mediaPorts, SessionActive: active,
		EphemeralPorts: true, Log: testLog(t),
	})
	if err != nil {
		t.Fatalf("start turn: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// testLog logs to the test at debug level (shown only on failure or -v).
func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(b[:len(b)-1]))
	return len(b), nil
}

// listenUDP opens a loopback UDP socket standing in for a node media port.
func listenUDP(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func portOf(a net.Addr) int {
	switch v := a.(type) {
	case *net.UDPAddr:
		return v.Port
	case *net.TCPAddr:
		return v.Port
	}
	return 0
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// eventually polls cond until it holds or d passes.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

// testLogNop discards everything (fuzzing runs millions of inputs).
func testLogNop() *slog.Logger { return slog.New(slog.DiscardHandler) }
