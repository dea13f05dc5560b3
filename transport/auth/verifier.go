package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultLeeway is the clock skew tolerated on exp and nbf (LiveKit's value).
const DefaultLeeway = 60 * time.Second

// algorithm is the only signing method accepted and produced.
const algorithm = "HS256"

// Verifier checks access tokens against a set of API keys.
type Verifier struct {
	keys   KeyProvider
	leeway time.Duration
	now    func() time.Time
}

// VerifierOption tunes a Verifier.
type VerifierOption func(*Verifier)

// WithLeeway sets the tolerated clock skew (default 60 s).
func WithLeeway(d time.Duration) VerifierOption { return func(v *Verifier) { v.leeway = d } }

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) VerifierOption { return func(v *Verifier) { v.now = now } }

// NewVerifier returns a Verifier for keys.
func NewVerifier(keys KeyProvider, opts ...VerifierOption) *Verifier {
	v := &Verifier{keys: keys, leeway: DefaultLeeway, now: time.Now}
	for _, o := range opts {
		o(v)
	}
	return v
}

// tokenClaims is the full JSON payload of a token.
type tokenClaims struct {
	jwt.RegisteredClaims
	ClaimGrants
}

// Verify checks a token's algorithm, issuer, signature and validity window and returns its grants.
// Identity is sub, or jti when sub is empty; it may be empty (service tokens have none).
func (v *Verifier) Verify(token string) (*ClaimGrants, error) {
	if token == "" {
		return nil, ErrMissingToken
	}
	// First pass without the signature: find the issuer and reject foreign algorithms early.
	var unverified tokenClaims
	t, _, err := jwt.NewParser().ParseUnverified(token, &unverified)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedToken, err)
	}
	if alg, _ := t.Header["alg"].(string); alg != algorithm {
		return nil, fmt.Errorf("alg %q: %w", alg, ErrUnsupportedAlgorithm)
	}
	secret, ok := v.keys.Secret(unverified.Issuer)
	if !ok {
		return nil, fmt.Errorf("key %q: %w", unverified.Issuer, ErrInvalidAPIKey)
	}

	var claims tokenClaims
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{algorithm}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(v.leeway),
		jwt.WithTimeFunc(v.now),
	)
	_, err = parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return []byte(secret), nil })
	if err != nil {
		return nil, classify(err)
	}
	grants := claims.ClaimGrants
	grants.APIKey = claims.Issuer
	if claims.ExpiresAt != nil {
		grants.Expires = claims.ExpiresAt.Time
	}
	grants.Identity = claims.Subject
	if grants.Identity == "" {
		grants.Identity = claims.ID
	}
	return &grants, nil
}

// NewAccessToken starts a token signed with the secret of apiKey, one of the verifier's keys: the
// node re-issues participants' tokens (refresh_token) with the key their token was signed by.
func (v *Verifier) NewAccessToken(apiKey string) (*AccessToken, error) {
	secret, ok := v.keys.Secret(apiKey)
	if !ok {
		return nil, fmt.Errorf("key %q: %w", apiKey, ErrInvalidAPIKey)
	}
	return NewAccessToken(apiKey, secret), nil
}

// classify maps jwt's errors to ours, keeping jwt's text as detail.
func classify(err error) error {
	var sentinel error
	switch {
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		sentinel = ErrMissingExpiry
	case errors.Is(err, jwt.ErrTokenExpired):
		sentinel = ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		sentinel = ErrNotYetValid
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		sentinel = ErrInvalidSignature
	case errors.Is(err, jwt.ErrTokenMalformed):
		sentinel = ErrMalformedToken
	default:
		sentinel = ErrInvalidClaims
	}
	return fmt.Errorf("%w: %v", sentinel, err)
}
