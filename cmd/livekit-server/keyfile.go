package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/actor-sfu/livekit-server/transport/auth"
)

// maxKeyFileSize bounds a key file; a real one holds a few lines.
const maxKeyFileSize = 1 << 20

// errKeyFilePermissions: the key file may be read or written by users other than its owner.
var errKeyFilePermissions = errors.New("key file must be accessible by its owner only (chmod 600)")

// readKeyFile loads LiveKit's key file: a YAML mapping of API key to secret. Like LiveKit, it
// refuses a file that other users can open, because anyone who can read a secret can mint tokens
// for every room. The mode is checked on the opened file, so the file checked is the file read.
func readKeyFile(path string) (auth.KeyProvider, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("key file %s has mode %04o: %w", path, perm, errKeyFilePermissions)
	}
	body, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if len(body) > maxKeyFileSize {
		return nil, fmt.Errorf("key file %s is larger than %d bytes", path, maxKeyFileSize)
	}
	var keys map[string]string
	if err := yaml.Unmarshal(body, &keys); err != nil {
		// The YAML error may quote the line, secret included; say only where it failed.
		return nil, fmt.Errorf("key file %s: not a YAML mapping of \"key: secret\" lines", path)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("key file %s holds no keys", path)
	}
	return auth.KeyProvider(keys), nil
}
