package auth

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testNow = time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)

// sign makes a token from raw claims, for cases the builder refuses to produce.
func sign(t *testing.T, method jwt.SigningMethod, claims jwt.MapClaims, secret string) string {
	t.Helper()
	var key any = []byte(secret)
	if method == jwt.SigningMethodNone {
		key = jwt.UnsafeAllowNoneSignatureType
	}
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	return s
}

func joinClaims(exp, nbf time.Time) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss":   "devkey",
		"sub":   "alice",
		"name":  "Alice",
		"video": map[string]any{"roomJoin": true, "room": "r1"},
	}
	if !exp.IsZero() {
		c["exp"] = exp.Unix()
	}
	if !nbf.IsZero() {
		c["nbf"] = nbf.Unix()
	}
	return c
}

func TestVerify(t *testing.T) {
	keys := KeyProvider{"devkey": "secret", "other": "othersecret"}
	v := NewVerifier(keys, WithClock(func() time.Time { return testNow }))
	hour := time.Hour
	good := joinClaims(testNow.Add(hour), testNow.Add(-hour))

	serviceClaims := jwt.MapClaims{"iss": "devkey", "exp": testNow.Add(hour).Unix(), "video": map[string]any{"roomCreate": true}}
	jtiClaims := jwt.MapClaims{"iss": "devkey", "jti": "bob", "exp": testNow.Add(hour).Unix()}

	tests := []struct {
		name     string
		token    string
		wantErr  error
		identity string
	}{
		{"good token", sign(t, jwt.SigningMethodHS256, good, "secret"), nil, "alice"},
		{"within leeway after exp", sign(t, jwt.SigningMethodHS256, joinClaims(testNow.Add(-30*time.Second), time.Time{}), "secret"), nil, "alice"},
		{"within leeway before nbf", sign(t, jwt.SigningMethodHS256, joinClaims(testNow.Add(hour), testNow.Add(30*time.Second)), "secret"), nil, "alice"},
		{"service token without sub", sign(t, jwt.SigningMethodHS256, serviceClaims, "secret"), nil, ""},
		{"jti as identity fallback", sign(t, jwt.SigningMethodHS256, jtiClaims, "secret"), nil, "bob"},
		{"empty token", "", ErrMissingToken, ""},
		{"garbage", "not-a-jwt", ErrMalformedToken, ""},
		{"wrong secret", sign(t, jwt.SigningMethodHS256, good, "nope"), ErrInvalidSignature, ""},
		{"secret of another key", sign(t, jwt.SigningMethodHS256, good, "othersecret"), ErrInvalidSignature, ""},
		{"unknown key", sign(t, jwt.SigningMethodHS256, jwt.MapClaims{"iss": "stranger", "exp": testNow.Add(hour).Unix()}, "secret"), ErrInvalidAPIKey, ""},
		{"no issuer", sign(t, jwt.SigningMethodHS256, jwt.MapClaims{"exp": testNow.Add(hour).Unix()}, "secret"), ErrInvalidAPIKey, ""},
		{"expired", sign(t, jwt.SigningMethodHS256, joinClaims(testNow.Add(-2*time.Minute), time.Time{}), "secret"), ErrExpired, ""},
		{"nbf in the future", sign(t, jwt.SigningMethodHS256, joinClaims(testNow.Add(hour), testNow.Add(2*time.Minute)), "secret"), ErrNotYetValid, ""},
		{"missing exp", sign(t, jwt.SigningMethodHS256, joinClaims(time.Time{}, time.Time{}), "secret"), ErrMissingExpiry, ""},
		{"alg none", sign(t, jwt.SigningMethodNone, good, ""), ErrUnsupportedAlgorithm, ""},
		{"HS512", sign(t, jwt.SigningMethodHS512, good, "secret"), ErrUnsupportedAlgorithm, ""},
		{"HS384", sign(t, jwt.SigningMethodHS384, good, "secret"), ErrUnsupportedAlgorithm, ""},
		{"video claim of wrong type", sign(t, jwt.SigningMethodHS256, jwt.MapClaims{"iss": "devkey", "exp": testNow.Add(hour).Unix(), "video": "yes"}, "secret"), ErrMalformedToken, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := v.Verify(tc.token)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if g.Identity != tc.identity {
				t.Errorf("identity = %q, want %q", g.Identity, tc.identity)
			}
			if g.APIKey != "devkey" {
				t.Errorf("api key = %q", g.APIKey)
			}
		})
	}
}

// TestVerifyAlgNoneHandcrafted feeds a token whose header says none and whose signature is empty,
// the classic bypass attempt, written by hand rather than through the jwt library.
func TestVerifyAlgNoneHandcrafted(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	payload := `{"iss":"devkey","sub":"mallory","exp":` + itoa(testNow.Add(time.Hour).Unix()) + `,"video":{"roomJoin":true,"room":"r1"}}`
	for _, hdr := range []string{`{"alg":"none"}`, `{"alg":"NONE","typ":"JWT"}`, `{"typ":"JWT"}`} {
		tok := enc([]byte(hdr)) + "." + enc([]byte(payload)) + "."
		_, err := NewVerifier(KeyProvider{"devkey": "secret"}, WithClock(func() time.Time { return testNow })).Verify(tok)
		if err == nil {
			t.Fatalf("header %s: token accepted", hdr)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestAccessTokenRoundTrip(t *testing.T) {
	tok, err := NewAccessToken("devkey", "secret").
		SetIdentity("alice").
		SetName("Alice").
		SetMetadata(`{"a":1}`).
		SetAttributes(map[string]string{"k": "v"}).
		SetKind("agent").
		SetVideoGrant(&VideoGrant{RoomJoin: true, Room: "r1", CanPublish: BoolPtr(false), CanPublishSources: []string{"camera"}}).
		SetValidFor(time.Minute).
		ToJWT()
	if err != nil {
		t.Fatal(err)
	}
	// The payload must use LiveKit's claim names.
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"iss":"devkey"`, `"sub":"alice"`, `"exp":`, `"nbf":`, `"video":{`, `"roomJoin":true`, `"canPublish":false`, `"canPublishSources":["camera"]`, `"kind":"agent"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("payload %s lacks %s", raw, want)
		}
	}
	g, err := NewVerifier(KeyProvider{"devkey": "secret"}).Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if g.Identity != "alice" || g.Name != "Alice" || g.Metadata != `{"a":1}` || g.Attributes["k"] != "v" {
		t.Errorf("grants = %+v", g)
	}
	if g.Video == nil || !g.Video.RoomJoin || g.Video.Room != "r1" || g.Video.GetCanPublish() {
		t.Errorf("video = %+v", g.Video)
	}
	if g.ParticipantKind().String() != "AGENT" {
		t.Errorf("kind = %v", g.ParticipantKind())
	}
}

func TestAccessTokenNeedsSecret(t *testing.T) {
	if _, err := NewAccessToken("devkey", "").ToJWT(); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("err = %v", err)
	}
}
