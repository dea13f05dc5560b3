package actors

import (
	"crypto/rand"
	"net/url"
	"strings"
)

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newID returns prefix followed by 12 random base62 characters, e.g. RM_4fJ8kQ2xZp0a. LiveKit
// clients only look at the prefix (TR_ in particular), never at the length.
func newID(prefix string) string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	var sb strings.Builder
	sb.Grow(len(prefix) + len(b))
	sb.WriteString(prefix)
	for _, c := range b {
		sb.WriteByte(idAlphabet[int(c)%len(idAlphabet)])
	}
	return sb.String()
}

// pathSegment escapes a room name or identity so that it is exactly one segment of an actor path.
func pathSegment(name string) string { return url.PathEscape(name) }
