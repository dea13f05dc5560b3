package turn

import (
	"net"
	"testing"
	"time"
)

// FuzzAuthUsername: any username a client sends is either refused or, if
// it decodes, carries the fields it was made from; nothing panics, and a
// username never admits without the right key.
func FuzzAuthUsername(f *testing.F) {
	m := Minter{APIKey: testKey, APISecret: testSecret, TTL: time.Minute}
	f.Add(m.Mint("PA_seed", time.Unix(1_800_000_000, 0)).Username)
	f.Add("")
	f.Add("-0")
	f.Add("1700000000:PA_x")
	f.Add(encode62([]byte("||")))
	a := newAuthenticator(keyMap{testKey: testSecret}, nil, nil)
	a.log = testLogNop()
	src := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
	f.Fuzz(func(t *testing.T, username string) {
		c, ok := parseUsername(username)
		if ok {
			if c.apiKey == "" || c.sid == "" {
				t.Fatalf("%q decoded to empty fields", username)
			}
			if again, ok2 := decode62(encode62([]byte(c.apiKey + "|" + c.sid + "|" + c.expS))); !ok2 || string(again) != c.apiKey+"|"+c.sid+"|"+c.expS {
				t.Fatal("encode62/decode62 do not round-trip")
			}
		}
		key, ok := a.handle(username, Realm, src)
		if ok && (c.apiKey != testKey || len(key) != 16) {
			t.Fatalf("%q admitted with api key %q", username, c.apiKey)
		}
	})
}
