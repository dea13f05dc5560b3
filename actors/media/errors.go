package media

import "errors"

var (
	errBadPadding = errors.New("media: invalid RTP padding")
	// ErrUnsupportedCodec is returned by DownTrack.Bind when the subscriber
	// did not negotiate the codec the track is published with.
	ErrUnsupportedCodec = errors.New("media: codec not negotiated by subscriber")
)
