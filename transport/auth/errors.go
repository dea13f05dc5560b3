package auth

import "errors"

// Errors returned by Verify and ParseKeys. Verify wraps them with detail; use errors.Is.
var (
	// ErrMissingToken: no token was presented.
	ErrMissingToken = errors.New("missing access token")
	// ErrMalformedToken: the token is not a parseable JWT.
	ErrMalformedToken = errors.New("invalid authorization token")
	// ErrInvalidAPIKey: the issuer is not a known API key.
	ErrInvalidAPIKey = errors.New("invalid API key")
	// ErrUnsupportedAlgorithm: the token is not signed with HS256 (alg=none included).
	ErrUnsupportedAlgorithm = errors.New("signing algorithm is not HS256")
	// ErrInvalidSignature: the signature does not match the key's secret.
	ErrInvalidSignature = errors.New("signature is invalid")
	// ErrExpired: exp is in the past (beyond the leeway).
	ErrExpired = errors.New("token is expired")
	// ErrNotYetValid: nbf is in the future (beyond the leeway).
	ErrNotYetValid = errors.New("token is not valid yet")
	// ErrMissingExpiry: the token has no exp claim; LiveKit requires one.
	ErrMissingExpiry = errors.New("token has no expiry")
	// ErrInvalidClaims: a claim has the wrong type or the token fails another check.
	ErrInvalidClaims = errors.New("token claims are invalid")
	// ErrBadKeys: a key list does not parse.
	ErrBadKeys = errors.New("invalid key list")
	// ErrNoSecret: AccessToken has no key or secret to sign with.
	ErrNoSecret = errors.New("api key and secret are required")
)
