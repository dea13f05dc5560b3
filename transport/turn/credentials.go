package turn

import (
	"crypto/sha256"
	"crypto/subtle"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Credentials are one participant's TURN username and password for the
// embedded server.
type Credentials struct {
	Username string
	Password string
	// Expiry is the last moment the credentials admit a new allocation.
	Expiry time.Time
}

// SecretLookup finds the API secret of an API key (auth.KeyProvider has
// this method).
type SecretLookup interface {
	Secret(key string) (string, bool)
}

// Minter mints the embedded server's credentials the way LiveKit does
// (PROTOCOL.md §12.3): username = base62("<api_key>|<participant_sid>|<expiry>"),
// password = base62(SHA-256("<api_secret>|<participant_sid>|<expiry>")). The
// strings are opaque to clients; only our server decodes them. base62 here is
// the big-number encoding of math/big (digits 0-9a-zA-Z).
type Minter struct {
	APIKey    string
	APISecret string
	// TTL is how long a minted credential admits new allocations.
	TTL time.Duration
}

// Mint returns fresh credentials for one participant session, valid from now
// for m.TTL. Call it at every join and resume.
func (m Minter) Mint(participantSID string, now time.Time) Credentials {
	exp := now.Add(m.TTL).Unix()
	expS := strconv.FormatInt(exp, 10)
	return Credentials{
		Username: encode62([]byte(m.APIKey + "|" + participantSID + "|" + expS)),
		Password: password(m.APISecret, participantSID, expS),
		Expiry:   time.Unix(exp, 0),
	}
}

// password is base62(SHA-256("<secret>|<sid>|<expiry>")).
func password(secret, sid, expiry string) string {
	sum := sha256.Sum256([]byte(secret + "|" + sid + "|" + expiry))
	return encode62(sum[:])
}

// claims are the fields a username carries.
type claims struct {
	apiKey, sid string
	expiry      time.Time
	expS        string
}

// parseUsername decodes a minted username; ok is false for anything we did
// not mint.
func parseUsername(username string) (c claims, ok bool) {
	raw, ok := decode62(username)
	if !ok {
		return c, false
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return c, false
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return c, false
	}
	return claims{apiKey: parts[0], sid: parts[1], expiry: time.Unix(exp, 0), expS: parts[2]}, true
}

// verifyPassword recomputes the password of a parsed username with the
// secret of its API key and compares it with pw in constant time. It is used
// by tests and by callers that hold a plain password; the TURN server itself
// hands pion the key derived from the recomputed password.
func verifyPassword(keys SecretLookup, c claims, pw string) bool {
	secret, ok := keys.Secret(c.apiKey)
	if !ok {
		return false
	}
	want := password(secret, c.sid, c.expS)
	return subtle.ConstantTimeCompare([]byte(want), []byte(pw)) == 1
}

// encode62 is the base62 text of b read as a big-endian number, with a
// leading '1' byte so that leading zero bytes survive the round trip.
func encode62(b []byte) string {
	n := new(big.Int).SetBytes(append([]byte{1}, b...))
	return n.Text(62)
}

// decode62 reverses encode62.
func decode62(s string) ([]byte, bool) {
	if s == "" || len(s) > 512 {
		return nil, false
	}
	n, ok := new(big.Int).SetString(s, 62)
	if !ok || n.Sign() <= 0 {
		return nil, false
	}
	b := n.Bytes()
	if len(b) == 0 || b[0] != 1 {
		return nil, false
	}
	return b[1:], true
}
