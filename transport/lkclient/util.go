package lkclient

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

func msSince(unixMilli int64) time.Duration {
	return time.Since(time.UnixMilli(unixMilli))
}

// randomID returns prefix plus 12 random hex digits.
func randomID(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
