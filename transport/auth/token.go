package auth

import (
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultValidFor is how long a token lives unless SetValidFor says otherwise (LiveKit's default).
const DefaultValidFor = 6 * time.Hour

// AccessToken builds a signed access token. Setters return the token for chaining:
//
//	jwt, err := auth.NewAccessToken("devkey", "secret").
//		SetIdentity("alice").
//		SetVideoGrant(&auth.VideoGrant{RoomJoin: true, Room: "r1"}).
//		SetValidFor(time.Hour).
//		ToJWT()
type AccessToken struct {
	apiKey, secret string
	grants         ClaimGrants
	validFor       time.Duration
	notBefore      time.Time
	now            func() time.Time
}

// NewAccessToken starts a token signed by the given API key and secret.
func NewAccessToken(apiKey, secret string) *AccessToken {
	return &AccessToken{apiKey: apiKey, secret: secret, validFor: DefaultValidFor, now: time.Now}
}

// SetIdentity sets sub, the participant identity.
func (t *AccessToken) SetIdentity(identity string) *AccessToken {
	t.grants.Identity = identity
	return t
}

// SetName sets the participant's display name.
func (t *AccessToken) SetName(name string) *AccessToken {
	t.grants.Name = name
	return t
}

// SetMetadata sets the participant's initial metadata.
func (t *AccessToken) SetMetadata(md string) *AccessToken {
	t.grants.Metadata = md
	return t
}

// SetAttributes sets the participant's initial attributes.
func (t *AccessToken) SetAttributes(attrs map[string]string) *AccessToken {
	t.grants.Attributes = attrs
	return t
}

// SetKind sets the participant kind (standard, agent, ...).
func (t *AccessToken) SetKind(kind string) *AccessToken {
	t.grants.Kind = kind
	return t
}

// SetVideoGrant sets the video grant.
func (t *AccessToken) SetVideoGrant(g *VideoGrant) *AccessToken {
	t.grants.Video = g
	return t
}

// SetSha256 sets the sha256 claim (hash of a signed webhook body).
func (t *AccessToken) SetSha256(sum string) *AccessToken {
	t.grants.Sha256 = sum
	return t
}

// SetValidFor sets how long the token is valid from the moment ToJWT is called.
func (t *AccessToken) SetValidFor(d time.Duration) *AccessToken {
	t.validFor = d
	return t
}

// SetNotBefore sets nbf; by default it is the moment ToJWT is called.
func (t *AccessToken) SetNotBefore(at time.Time) *AccessToken {
	t.notBefore = at
	return t
}

// ToJWT signs the token with HS256.
func (t *AccessToken) ToJWT() (string, error) {
	if t.apiKey == "" || t.secret == "" {
		return "", ErrNoSecret
	}
	now := t.now()
	nbf := t.notBefore
	if nbf.IsZero() {
		nbf = now
	}
	claims := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.apiKey,
			Subject:   t.grants.Identity,
			NotBefore: jwt.NewNumericDate(nbf),
			ExpiresAt: jwt.NewNumericDate(now.Add(t.validFor)),
		},
		ClaimGrants: t.grants,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(t.secret))
	if err != nil {
		return "", fmt.Errorf("signing access token: %w", err)
	}
	return s, nil
}
