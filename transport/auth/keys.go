package auth

import (
	"fmt"
	"sort"
	"strings"
)

// KeyProvider maps API keys to API secrets.
type KeyProvider map[string]string

// Secret returns the secret of key and whether the key is known.
func (k KeyProvider) Secret(key string) (string, bool) {
	s, ok := k[key]
	return s, ok && key != ""
}

// Keys returns the API keys in sorted order (for logs; never log secrets).
func (k KeyProvider) Keys() []string {
	out := make([]string, 0, len(k))
	for key := range k {
		out = append(out, key)
	}
	sort.Strings(out)
	return out
}

// ParseKeys reads "key: secret" pairs, one per line, the format of LiveKit's LIVEKIT_KEYS variable
// and --keys flag. Commas also separate pairs; blank lines and lines starting with # are skipped.
// A key given twice is an error.
func ParseKeys(s string) (KeyProvider, error) {
	keys := KeyProvider{}
	for _, line := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == ',' }) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, secret, ok := strings.Cut(line, ":")
		key, secret = strings.TrimSpace(key), strings.TrimSpace(secret)
		if !ok || key == "" || secret == "" {
			return nil, fmt.Errorf("key line %q: want \"key: secret\": %w", redact(line), ErrBadKeys)
		}
		secret = strings.Trim(secret, `"'`)
		if _, dup := keys[key]; dup {
			return nil, fmt.Errorf("key %q given twice: %w", key, ErrBadKeys)
		}
		keys[key] = secret
	}
	return keys, nil
}

// redact keeps the key part of a line so that error messages never show a secret.
func redact(line string) string {
	if key, _, ok := strings.Cut(line, ":"); ok {
		return key + ": ***"
	}
	if len(line) > 4 {
		return line[:4] + "***"
	}
	return "***"
}
