package lkclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pion/webrtc/v3"
	"github.com/pion/webrtc/v3/pkg/media"

	"github.com/actor-sfu/livekit-server/testkit/lkclient/lkmedia"
)

// SyntheticOptions pace synthetic media onto a LocalTrack.
type SyntheticOptions struct {
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

// PublishSynthetic writes synthetic frames (lkmedia generators) at a real-time
// pace until ctx is done or opts.Frames were sent, and returns how many
// frames were generated (per layer). While the track is muted frames are
// generated but not written. It consumes KeyframeRequests. Run it in its own goroutine. It returns nil when
// ctx ends or the track is unpublished.
func (t *LocalTrack) PublishSynthetic(ctx context.Context, opts SyntheticOptions) (uint64, error) {
	if t.kind == webrtc.RTPCodecTypeAudio {
		return t.publishSyntheticAudio(ctx, opts)
	}
	if t.opts.RawRTP {
		return 0, ErrWrongTrackMode
	}
	if t.codec.MimeType != webrtc.MimeTypeVP8 {
		return 0, fmt.Errorf("synthetic video is VP8 only, track is %s: %w", t.codec.MimeType, ErrUnsupportedCodec)
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
	gens := make(map[string]*lkmedia.VP8Generator, len(t.rids))
	for _, rid := range t.rids {
		div := 1
		for _, l := range simulcastLayers {
			if l.rid == rid {
				div = int(l.divisor)
			}
		}
		gens[rid] = lkmedia.NewVP8Generator(int(t.opts.Width)/div, int(t.opts.Height)/div, opts.FrameSize/div, opts.KeyframeInterval)
	}
	frameDur := time.Second / time.Duration(opts.FPS)
	return t.pace(ctx, frameDur, opts.Frames, func() {
		for _, g := range gens {
			g.ForceKeyframe()
		}
	}, func(n uint64) error {
		for _, rid := range t.rids {
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

func (t *LocalTrack) publishSyntheticAudio(ctx context.Context, opts SyntheticOptions) (uint64, error) {
	if opts.FrameSize <= 0 {
		opts.FrameSize = 80
	}
	g := lkmedia.NewOpusGenerator(opts.FrameSize)
	return t.pace(ctx, lkmedia.OpusFrameDuration, opts.Frames, nil, func(n uint64) error {
		p := g.Next()
		if opts.OnFrame != nil {
			opts.OnFrame("", n, p)
		}
		if t.Muted() {
			return nil
		}
		if t.opts.RawRTP {
			return ErrWrongTrackMode
		}
		return t.WriteSample(media.Sample{Data: p, Duration: lkmedia.OpusFrameDuration})
	})
}

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

// pace calls write(n) every period (catching up without bursts beyond one
// period), honouring keyframe requests, until ctx ends or limit frames.
func (t *LocalTrack) pace(ctx context.Context, period time.Duration, limit uint64, onKeyframe func(), write func(n uint64) error) (uint64, error) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	var n uint64
	for limit == 0 || n < limit {
		select {
		case <-t.keyframeCh:
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
