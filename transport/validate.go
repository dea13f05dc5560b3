package transport

import (
	"fmt"

	"github.com/twitchtv/twirp"
)

// nameKind is one of the names a client hands the node: a room name, a participant identity or a
// participant's display name. Metadata and attribute sizes are checked by the node itself, on the
// same path for /rtc and the Room API, because their limits belong to it.
type nameKind int

const (
	roomName nameKind = iota
	identityName
	displayName
)

// nameCheck is one value to check: its kind, the value, and whether it may be empty.
type nameCheck struct {
	kind     nameKind
	value    string
	required bool
}

// nameError is a name that failed its check: empty although required, or longer than limit bytes.
type nameError struct {
	kind  nameKind
	empty bool
	limit int
}

// Error is the text /rtc answers with (HTTP 400).
func (e *nameError) Error() string {
	if e.empty {
		switch e.kind {
		case roomName:
			return "no room name"
		case identityName:
			return "identity cannot be empty"
		default:
			return "name cannot be empty"
		}
	}
	return fmt.Sprintf("%s is longer than %d bytes", e.label(), e.limit)
}

// label names the value in /rtc texts.
func (e *nameError) label() string {
	switch e.kind {
	case roomName:
		return "room name"
	case identityName:
		return "identity"
	default:
		return "name"
	}
}

// argument names the value in Room API errors (the request field).
func (e *nameError) argument() string {
	switch e.kind {
	case roomName:
		return "room"
	case identityName:
		return "identity"
	default:
		return "name"
	}
}

// twirpError is the Room API's answer: required_argument or invalid_argument on the field.
func (e *nameError) twirpError() twirp.Error {
	if e.empty {
		return twirp.RequiredArgumentError(e.argument())
	}
	return twirp.InvalidArgumentError(e.argument(), fmt.Sprintf("is longer than %d bytes", e.limit))
}

// limit returns the configured length limit of a kind of name.
func (c ServerConfig) limit(k nameKind) int {
	switch k {
	case roomName:
		return c.MaxRoomNameLength
	case identityName:
		return c.MaxIdentityLength
	default:
		return c.MaxNameLength
	}
}

// checkNames checks names against the limits of c: first that every required one is present, then
// every length, each pass in the order given. It returns the first failure, or nil. c must have its
// defaults applied.
func (c ServerConfig) checkNames(checks ...nameCheck) *nameError {
	for _, ch := range checks {
		if ch.required && ch.value == "" {
			return &nameError{kind: ch.kind, empty: true}
		}
	}
	for _, ch := range checks {
		if n := c.limit(ch.kind); len(ch.value) > n {
			return &nameError{kind: ch.kind, limit: n}
		}
	}
	return nil
}

// checkNamesTwirp is checkNames for the Room API: nil, or the Twirp error to return.
func (c ServerConfig) checkNamesTwirp(checks ...nameCheck) error {
	if ne := c.checkNames(checks...); ne != nil {
		return ne.twirpError()
	}
	return nil
}
