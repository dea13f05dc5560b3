package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzVerify hands arbitrary token strings to Verify. It must never panic, and it may accept a
// token only if the token really is HS256, signed with the key its iss names, and inside its
// validity window: the fuzz body re-checks each of those by hand.
func FuzzVerify(f *testing.F) {
	mk := func(method jwt.SigningMethod, claims jwt.MapClaims, secret string) string {
		var key any = []byte(secret)
		if method == jwt.SigningMethodNone {
			key = jwt.UnsafeAllowNoneSignatureType
		}
		s, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			f.Fatal(err)
		}
		return s
	}
	valid := joinClaims(testNow.Add(time.Hour), testNow.Add(-time.Minute))
	f.Add(mk(jwt.SigningMethodHS256, valid, "secret"))
	f.Add(mk(jwt.SigningMethodHS256, valid, "wrong"))
	f.Add(mk(jwt.SigningMethodHS384, valid, "secret"))
	f.Add(mk(jwt.SigningMethodNone, valid, ""))
	f.Add(mk(jwt.SigningMethodHS256, joinClaims(testNow.Add(-time.Hour), time.Time{}), "secret"))
	f.Add(mk(jwt.SigningMethodHS256, joinClaims(time.Time{}, time.Time{}), "secret"))
	f.Add(mk(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "devkey", "exp": "soon", "video": 7}, "secret"))
	f.Add("a.b.c")
	f.Add("")
	f.Add("eyJhbGciOiJIUzI1NiJ9..")

	v := NewVerifier(KeyProvider{"devkey": "secret", "other": "s2"}, WithClock(func() time.Time { return testNow }))
	f.Fuzz(func(t *testing.T, token string) {
		g, err := v.Verify(token)
		if err != nil {
			if g != nil {
				t.Fatal("grants returned with an error")
			}
			return
		}
		parts := strings.Split(token, ".")
		if len(parts) != 3 {
			t.Fatalf("accepted a token with %d parts", len(parts))
		}
		var hdr struct {
			Alg string `json:"alg"`
		}
		raw, derr := base64.RawURLEncoding.DecodeString(parts[0])
		if derr != nil || json.Unmarshal(raw, &hdr) != nil || hdr.Alg != "HS256" {
			t.Fatalf("accepted a token whose header is not HS256: %q", raw)
		}
		secret, ok := v.keys.Secret(g.APIKey)
		if !ok {
			t.Fatalf("accepted a token from unknown key %q", g.APIKey)
		}
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(parts[0] + "." + parts[1]))
		sig, serr := base64.RawURLEncoding.DecodeString(parts[2])
		if serr != nil || !hmac.Equal(sig, mac.Sum(nil)) {
			t.Fatal("accepted a token whose signature does not match its key")
		}
		var claims struct {
			Exp *float64 `json:"exp"`
		}
		body, _ := base64.RawURLEncoding.DecodeString(parts[1])
		if json.Unmarshal(body, &claims) != nil || claims.Exp == nil || time.Unix(int64(*claims.Exp), 0).Add(DefaultLeeway).Before(testNow) {
			t.Fatalf("accepted a token without a valid exp: %s", body)
		}
	})
}
