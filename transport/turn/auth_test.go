package turn

import (
	"net"
	"strconv"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v2"
	"go.uber.org/goleak"
)

func TestMintedCredentialsRoundTrip(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	m := Minter{APIKey: testKey, APISecret: testSecret, TTL: 300 * time.Second}
	c := m.Mint("PA_abc", now)
	if !c.Expiry.Equal(now.Add(300 * time.Second)) {
		t.Fatalf("expiry %v, want now+300s", c.Expiry)
	}
	cl, ok := parseUsername(c.Username)
	if !ok || cl.apiKey != testKey || cl.sid != "PA_abc" || !cl.expiry.Equal(c.Expiry) {
		t.Fatalf("parse %q = %+v, %v", c.Username, cl, ok)
	}
	keys := keyMap{testKey: testSecret}
	if !verifyPassword(keys, cl, c.Password) {
		t.Fatal("minted password does not verify")
	}
	if verifyPassword(keyMap{testKey: "other secret"}, cl, c.Password) {
		t.Fatal("password verifies with another secret")
	}
	if other := m.Mint("PA_other", now); other.Password == c.Password || other.Username == c.Username {
		t.Fatal("two sessions got the same credentials")
	}
	for _, bad := range []string{"", "!!", "-1", "0", encode62([]byte("a|b")), encode62([]byte("k|PA|x")), encode62([]byte("|PA|1"))} {
		if _, ok := parseUsername(bad); ok {
			t.Errorf("parseUsername(%q) accepted", bad)
		}
	}
}

// TestAllocateRefused: Allocate over UDP and TCP succeeds with minted
// credentials and is refused with wrong, expired, foreign or session-less
// ones (pion v2 answers 400 Bad Request both for an unknown user and for a
// failed MESSAGE-INTEGRITY check).
func TestAllocateRefused(t *testing.T) {
	defer goleak.VerifyNone(t)
	ended := "PA_ended"
	srv := startServer(t, testConfig(), nil, func(sid string) bool { return sid != ended })
	defer srv.Close()
	good := srv.Credentials("PA_good")
	expired := Minter{APIKey: testKey, APISecret: testSecret, TTL: time.Second}.Mint("PA_old", time.Now().Add(-time.Minute))
	foreign := Minter{APIKey: "APIother", APISecret: testSecret, TTL: time.Minute}.Mint("PA_x", time.Now())
	gone := srv.Credentials(ended)
	udp, tcp, _ := srv.Ports()
	for _, network := range []string{"udp", "tcp"} {
		port := map[string]int{"udp": udp, "tcp": tcp}[network]
		for _, tc := range []struct {
			name, user, pass string
			refused          bool
		}{
			{"minted", good.Username, good.Password, false},
			{"wrong password", good.Username, good.Password + "x", true},
			{"expired", expired.Username, expired.Password, true},
			{"unknown api key", foreign.Username, foreign.Password, true},
			{"ended session", gone.Username, gone.Password, true},
			{"not minted by us", "1700000000:PA_good", good.Password, true},
		} {
			conn, err := net.Dial(network, "127.0.0.1:"+strconv.Itoa(port))
			if err != nil {
				t.Fatal(err)
			}
			code, err := rawAllocate(conn, tc.user, tc.pass)
			_ = conn.Close()
			if err != nil {
				t.Fatalf("%s/%s: %v", network, tc.name, err)
			}
			if refused := code >= 400 && code < 500; refused != tc.refused || (!tc.refused && code != 0) {
				t.Errorf("%s/%s: answer code %d, refusal wanted: %v", network, tc.name, code, tc.refused)
			}
		}
	}
	// The UDP allocation lives on; the TCP one went with its connection.
	if !eventually(2*time.Second, func() bool { return srv.AllocationCount() == 1 }) {
		t.Errorf("%d allocations, want the UDP one", srv.AllocationCount())
	}
}

// TestStreamAllocationEndsWithConnection: an allocation made over TCP or
// TLS lives while its connection does and is deleted, relay socket
// included, when the client closes it.
func TestStreamAllocationEndsWithConnection(t *testing.T) {
	defer goleak.VerifyNone(t)
	srv := startServer(t, testConfig(), nil, nil)
	defer srv.Close()
	_, tcp, _ := srv.Ports()
	base := openFDs(t)
	conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(tcp))
	if err != nil {
		t.Fatal(err)
	}
	c := srv.Credentials("PA_tcp")
	if code, err := rawAllocate(conn, c.Username, c.Password); err != nil || code != 0 {
		t.Fatalf("allocate over TCP: code %d, %v", code, err)
	}
	if n := srv.AllocationCount(); n != 1 {
		t.Fatalf("%d allocations while the connection is open, want 1", n)
	}
	// client socket, server socket, relay socket
	if n := openFDs(t) - base; n < 3 {
		t.Fatalf("%d new descriptors with an allocation open, want at least 3", n)
	}
	_ = conn.Close()
	if !eventually(2*time.Second, func() bool { return srv.AllocationCount() == 0 && openFDs(t) <= base }) {
		t.Fatalf("after the client closed: %d allocations, %d descriptors (was %d)", srv.AllocationCount(), openFDs(t), base)
	}
}

// TestExpiryGatesOnlyNewAllocations: once a client address was admitted
// with a credential in date, its later requests pass after the expiry; a
// new client address with the same, now expired, credential does not.
func TestExpiryGatesOnlyNewAllocations(t *testing.T) {
	a := newAuthenticator(keyMap{testKey: testSecret}, nil, testLog(t))
	t0 := time.Now()
	a.now = func() time.Time { return t0 }
	c := Minter{APIKey: testKey, APISecret: testSecret, TTL: 300 * time.Second}.Mint("PA_s", t0)
	client := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}
	other := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5001}
	want := pionturn.GenerateAuthKey(c.Username, Realm, c.Password)
	if key, ok := a.handle(c.Username, Realm, client); !ok || string(key) != string(want) {
		t.Fatal("in-date credential refused or wrong key")
	}
	a.now = func() time.Time { return t0.Add(10 * time.Minute) }
	if _, ok := a.handle(c.Username, Realm, client); !ok {
		t.Fatal("refresh of an admitted allocation refused after expiry")
	}
	if _, ok := a.handle(c.Username, Realm, other); ok {
		t.Fatal("expired credential admitted from a new client address")
	}
	a.now = func() time.Time { return t0.Add(10*time.Minute + admitIdle + time.Minute) }
	if _, ok := a.handle(c.Username, Realm, client); ok {
		t.Fatal("pair still admitted after being idle past admitIdle")
	}
	if n := a.admittedCount(); n != 0 {
		t.Fatalf("%d pairs remembered after the sweep, want 0", n)
	}
}
