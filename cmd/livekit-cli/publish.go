package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/transport/lkclient"
	"github.com/actor-sfu/livekit-server/transport/lkclient/lkmedia"
)

// rtpMTU matches pion's TrackLocalStaticSample packetization.
const rtpMTU = 1200

// mediaFile is a file loaded for publishing.
type mediaFile struct {
	path          string
	kind          webrtc.RTPCodecType
	codec         string
	frames        []lkmedia.MediaFrame
	width, height uint32
	stereo        bool
}

// loadVideo reads an IVF file; only VP8 ("VP80") is supported.
func loadVideo(path string) (*mediaFile, error) {
	info, frames, err := lkmedia.LoadIVF(path)
	if err != nil {
		return nil, fmt.Errorf("--video %s: %w", path, err)
	}
	if info.FourCC != "VP80" {
		return nil, fmt.Errorf("--video %s: codec %q is not supported (VP8 IVF only)", path, info.FourCC)
	}
	if len(frames) == 0 {
		return nil, fmt.Errorf("--video %s: no frames", path)
	}
	return &mediaFile{path: path, kind: webrtc.RTPCodecTypeVideo, codec: webrtc.MimeTypeVP8, frames: frames,
		width: uint32(info.Width), height: uint32(info.Height)}, nil
}

// loadAudio reads an Ogg Opus file.
func loadAudio(path string) (*mediaFile, error) {
	info, frames, err := lkmedia.LoadOgg(path)
	if err != nil {
		return nil, fmt.Errorf("--audio %s: %w", path, err)
	}
	if len(frames) == 0 {
		return nil, fmt.Errorf("--audio %s: no packets", path)
	}
	for i, f := range frames {
		if f.Duration <= 0 {
			return nil, fmt.Errorf("--audio %s: packet %d has no duration (not Opus?)", path, i)
		}
	}
	return &mediaFile{path: path, kind: webrtc.RTPCodecTypeAudio, codec: webrtc.MimeTypeOpus, frames: frames,
		stereo: info.Channels == 2}, nil
}

// publisher paces one file's frames onto a track at the file's own timing. It packetizes
// itself (a raw-RTP track) so that it can count the packets and bytes it sends.
type publisher struct {
	file  *mediaFile
	track *lkclient.LocalTrack
	loop  bool

	packets, bytes, frames atomic.Uint64
	finished               atomic.Bool
}

// publish announces the file's track and returns its publisher.
func publish(ctx context.Context, c *lkclient.Client, f *mediaFile, loop bool) (*publisher, error) {
	name := strings.TrimSuffix(filepath.Base(f.path), filepath.Ext(f.path))
	t, err := c.PublishTrack(ctx, lkclient.TrackOptions{
		Codec: f.codec, Name: name, Width: f.width, Height: f.height, Stereo: f.stereo, RawRTP: true,
	})
	if err != nil {
		return nil, fmt.Errorf("publish %s: %w", f.path, err)
	}
	return &publisher{file: f, track: t, loop: loop}, nil
}

// run sends frames until ctx ends or, without loop, the file ends.
func (p *publisher) run(ctx context.Context) error {
	defer p.finished.Store(true)
	clock := uint32(90000)
	var payloader rtp.Payloader = &codecs.VP8Payloader{EnablePictureID: true}
	if p.file.kind == webrtc.RTPCodecTypeAudio {
		clock, payloader = 48000, &codecs.OpusPayloader{}
	}
	// pion rewrites SSRC and payload type to the negotiated ones.
	pz := rtp.NewPacketizer(rtpMTU, 0, 0, payloader, rtp.NewRandomSequencer(), clock)
	next := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; ; i++ {
		if i == len(p.file.frames) {
			if !p.loop {
				return nil
			}
			i = 0
		}
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		f := p.file.frames[i]
		samples := uint32(f.Duration.Seconds()*float64(clock) + 0.5)
		pkts := pz.Packetize(f.Data, samples)
		if !p.track.Muted() { // muted by the node (mute-track): keep time, send nothing
			for _, pkt := range pkts {
				if err := p.track.WriteRTP(pkt); err != nil {
					if errors.Is(err, io.ErrClosedPipe) {
						return nil
					}
					return fmt.Errorf("send %s: %w", p.file.path, err)
				}
				p.packets.Add(1)
				p.bytes.Add(uint64(pkt.MarshalSize()))
			}
			p.frames.Add(1)
		}
		next = next.Add(f.Duration)
		timer.Reset(time.Until(next))
	}
}
