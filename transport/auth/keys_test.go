package auth

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

func TestParseKeys(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    KeyProvider
		wantErr bool
	}{
		{"one pair", "devkey: secret", KeyProvider{"devkey": "secret"}, false},
		{"no space", "devkey:secret", KeyProvider{"devkey": "secret"}, false},
		{"several lines, blanks and comments", "a: 1\n\n# c\nb: 2\n", KeyProvider{"a": "1", "b": "2"}, false},
		{"comma separated", "a: 1, b: 2", KeyProvider{"a": "1", "b": "2"}, false},
		{"quoted secret", `a: "s3cret"`, KeyProvider{"a": "s3cret"}, false},
		{"secret containing colon", "a: x:y", KeyProvider{"a": "x:y"}, false},
		{"empty", "", KeyProvider{}, false},
		{"no colon", "devkey", nil, true},
		{"empty secret", "devkey:", nil, true},
		{"duplicate", "a: 1\na: 2", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseKeys(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrBadKeys) {
					t.Fatalf("err = %v, want ErrBadKeys", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseKeysNeverEchoesSecret(t *testing.T) {
	_, err := ParseKeys("a: 1\nsupersecretvalue")
	if err == nil || strings.Contains(err.Error(), "supersecretvalue") {
		t.Fatalf("err = %v", err)
	}
}
