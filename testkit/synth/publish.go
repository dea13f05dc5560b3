package synth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pion/webrtc/v3"
	"github.com/pion/webrtc/v3/pkg/media"

	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// Options pace synthetic media onto a LocalTrack.
type Options struct {
	// FPS is frames per second for video (default 30); audio always sends 20 ms packets.
	FPS int
	// FrameSize in bytes of each (top layer) video frame (default 1500;
	// simulcast layers q and h get a quarter and a half) or audio packet (default 80).
	FrameSize int
	// KeyframeInterval in frames (default 2 s worth). PLI/FIR also force a keyframe.
	KeyframeInterval int
	// Frames stops after this many frames (0: until ctx is done).
	Frames uint64
	// OnFrame, if set, sees every frame written (layer rid, counter, bytes),
	// so a test can record what it sent. It runs on the publishing goroutine.
	OnFrame func(rid string, n uint64, frame []byte)
}

// Publish writes synthetic frames (VP8Generator or OpusGenerator) onto t at a
// real-time pace until ctx is done or opts.Frames were sent, and returns how
// many frames were generated (per layer). While the track is muted frames are
// generated but not written. It consumes t.KeyframeRequests. Run it in its own
// goroutine. It returns nil when ctx ends or the track is unpublished.
func Publish(ctx context.Context, t *lkclient.LocalTrack, opts Options) (uint64, error) {
	if t.Kind() == webrtc.RTPCodecTypeAudio {
		return publishAudio(ctx, t, opts)
	}
	if t.Options().RawRTP {
		return 0, lkclient.ErrWrongTrackMode
	}
	if mime := t.Codec().MimeType; mime != webrtc.MimeTypeVP8 {
		return 0, fmt.Errorf("synthetic video is VP8 only, track is %s: %w", mime, lkclient.ErrUnsupportedCodec)
	}
	if opts.FPS <= 0 {
		opts.FPS = 30
	}
	if opts.FrameSize <= 0 {
		opts.FrameSize = 1500
	}
	if opts.KeyframeInterval <= 0 {
		opts.KeyframeInterval = 2 * opts.FPS
	}
	rids := t.RIDs()
	to := t.Options()
	gens := make(map[string]*VP8Generator, len(rids))
	for _, rid := range rids {
		div := int(t.LayerScale(rid))
		gens[rid] = NewVP8Generator(int(to.Width)/div, int(to.Height)/div, opts.FrameSize/div, opts.KeyframeInterval)
	}
	frameDur := time.Second / time.Duration(opts.FPS)
	return pace(ctx, t, frameDur, opts.Frames, func() {
		for _, g := range gens {
			g.ForceKeyframe()
		}
	}, func(n uint64) error {
		for _, rid := range rids {
			frame := gens[rid].Next()
			if opts.OnFrame != nil {
				opts.OnFrame(rid, n, frame)
			}
			if t.Muted() {
				continue
			}
			if err := t.WriteLayerSample(rid, media.Sample{Data: frame, Duration: frameDur}); err != nil {
				return err
			}
		}
		return nil
	})
}

func publishAudio(ctx context.Context, t *lkclient.LocalTrack, opts Options) (uint64, error) {
	if opts.FrameSize <= 0 {
		opts.FrameSize = 80
	}
	g := NewOpusGenerator(opts.FrameSize)
	return pace(ctx, t, OpusFrameDuration, opts.Frames, nil, func(n uint64) error {
		p := g.Next()
		if opts.OnFrame != nil {
			opts.OnFrame("", n, p)
		}
		if t.Muted() {
			return nil
		}
		if t.Options().RawRTP {
			return lkclient.ErrWrongTrackMode
		}
		return t.WriteSample(media.Sample{Data: p, Duration: OpusFrameDuration})
	})
}

// pace calls write(n) every period (catching up without bursts beyond one
// period), honouring keyframe requests, until ctx ends or limit frames.
func pace(ctx context.Context, t *lkclient.LocalTrack, period time.Duration, limit uint64, onKeyframe func(), write func(n uint64) error) (uint64, error) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	var n uint64
	for limit == 0 || n < limit {
		select {
		case <-t.KeyframeRequests():
			if onKeyframe != nil {
				onKeyframe()
			}
		default:
		}
		if err := write(n); err != nil {
			if errors.Is(err, io.ErrClosedPipe) {
				return n, nil
			}
			return n, err
		}
		n++
		select {
		case <-ctx.Done():
			return n, nil
		case <-tick.C:
		}
	}
	return n, nil
}
