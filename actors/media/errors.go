package media

import (
	"errors"
	"fmt"
)

var (
	errBadPadding = errors.New("media: invalid RTP padding")
	errNoAddress  = errors.New("media: no local address passes the interface and IP filters")
	// ErrUnsupportedCodec is returned by DownTrack.Bind when the subscriber
	// did not negotiate the codec the track is published with.
	ErrUnsupportedCodec = errors.New("media: codec not negotiated by subscriber")
)

// panicError turns a value recovered from a panic in one of the package's
// unsupervised goroutines (named by where) into the error its owner is told.
func panicError(where string, v any) error {
	if err, ok := v.(error); ok {
		return fmt.Errorf("media: %s panicked: %w", where, err)
	}
	return fmt.Errorf("media: %s panicked: %v", where, v)
}
