package lkclient

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/pion/webrtc/v3/pkg/media"

	"github.com/actor-sfu/livekit-server/transport/lkclient/lkmedia"
)

// PublishFrames writes pre-encoded frames (e.g. from lkmedia.LoadIVF or
// LoadOgg) at their own durations, looping when loop is set, until ctx is
// done or (without loop) the frames run out. It returns how many frames it wrote.
func (t *LocalTrack) PublishFrames(ctx context.Context, frames []lkmedia.MediaFrame, loop bool) (uint64, error) {
	if len(frames) == 0 {
		return 0, errors.New("publish frames: no frames")
	}
	var sent uint64
	next := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; ; i++ {
		if i == len(frames) {
			if !loop {
				return sent, nil
			}
			i = 0
		}
		select {
		case <-ctx.Done():
			return sent, nil
		case <-timer.C:
		}
		f := frames[i]
		if !t.Muted() {
			if err := t.WriteSample(media.Sample{Data: f.Data, Duration: f.Duration}); err != nil {
				if errors.Is(err, io.ErrClosedPipe) {
					return sent, nil
				}
				return sent, err
			}
			sent++
		}
		next = next.Add(f.Duration)
		timer.Reset(time.Until(next))
	}
}
