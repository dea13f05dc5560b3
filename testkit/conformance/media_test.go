package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	lksdk "github.com/livekit/server-sdk-go/v2"
)

// Test media made with ffmpeg (see ../testdata/README.txt).
const (
	ivfPath = "../testdata/vp8-320x240-15fps-3s.ivf"
	oggPath = "../testdata/opus-48k-mono-3s.ogg"
)

// clip is an encoded file split into frames (VP8) or packets (Opus).
type clip struct {
	frames   [][]byte
	keyframe []bool
	period   time.Duration
	index    map[string]int // frame bytes -> first index
}

func (c *clip) finish() *clip {
	c.index = make(map[string]int, len(c.frames))
	for i, f := range c.frames {
		if _, ok := c.index[string(f)]; !ok {
			c.index[string(f)] = i
		}
	}
	return c
}

// loadIVF reads every VP8 frame of an IVF file.
func loadIVF(path string) (*clip, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, hdr, err := ivfreader.NewWith(f)
	if err != nil {
		return nil, fmt.Errorf("ivf %s: %w", path, err)
	}
	c := &clip{period: time.Duration(float64(time.Second) * float64(hdr.TimebaseNumerator) / float64(hdr.TimebaseDenominator))}
	for {
		frame, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("ivf %s: %w", path, err)
		}
		c.frames = append(c.frames, frame)
		c.keyframe = append(c.keyframe, len(frame) > 0 && frame[0]&0x01 == 0)
	}
	if len(c.frames) == 0 || !c.keyframe[0] {
		return nil, fmt.Errorf("ivf %s: no frames or first frame not a keyframe", path)
	}
	return c.finish(), nil
}

// loadOgg reads the Opus packets of an Ogg file with one packet per page.
func loadOgg(path string) (*clip, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, _, err := oggreader.NewWith(f)
	if err != nil {
		return nil, fmt.Errorf("ogg %s: %w", path, err)
	}
	c := &clip{period: 20 * time.Millisecond}
	for {
		page, _, err := r.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("ogg %s: %w", path, err)
		}
		if len(page) >= 8 && string(page[:8]) == "OpusTags" {
			continue
		}
		c.frames = append(c.frames, page)
		c.keyframe = append(c.keyframe, true)
	}
	if len(c.frames) == 0 {
		return nil, fmt.Errorf("ogg %s: no packets", path)
	}
	return c.finish(), nil
}

// looper publishes a clip in a loop at its own pace. A PLI or FIR from the
// node makes the next frame the clip's first keyframe.
type looper struct {
	track   *lksdk.LocalTrack
	clip    *clip
	restart atomic.Bool
	plis    atomic.Int64
	written atomic.Int64
}

func newLooper(c *clip, mime string, clockRate uint32, channels uint16) (*looper, error) {
	l := &looper{clip: c}
	tr, err := lksdk.NewLocalSampleTrack(
		webrtc.RTPCodecCapability{MimeType: mime, ClockRate: clockRate, Channels: channels},
		lksdk.WithRTCPHandler(func(p rtcp.Packet) {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				l.plis.Add(1)
				l.restart.Store(true)
			}
		}),
	)
	if err != nil {
		return nil, err
	}
	l.track = tr
	return l, nil
}

// run writes frames until ctx ends.
func (l *looper) run(ctx context.Context) {
	t := time.NewTicker(l.clip.period)
	defer t.Stop()
	i := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if l.restart.Swap(false) {
			i = 0
		}
		if err := l.track.WriteSample(media.Sample{Data: l.clip.frames[i], Duration: l.clip.period}, nil); err == nil {
			l.written.Add(1)
		}
		i = (i + 1) % len(l.clip.frames)
	}
}

// received counts what a subscriber got on one track, checked against the
// published clip byte for byte.
type received struct {
	mu        sync.Mutex
	matched   int // frames equal to a published frame
	keyframes int // of which keyframes
	corrupt   int // complete frames equal to no published frame
	packets   int
	firstKey  bool // the first complete frame was a keyframe
	gotFirst  bool
	firstAt   time.Time
	enough    chan struct{}
	want      int
	closeOnce sync.Once
}

func newReceived(want int) *received { return &received{want: want, enough: make(chan struct{})} }

func (r *received) frame(c *clip, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := c.index[string(data)]
	if !r.gotFirst {
		r.gotFirst, r.firstAt = true, time.Now()
		r.firstKey = ok && c.keyframe[i]
	}
	if !ok {
		r.corrupt++
		return
	}
	r.matched++
	if c.keyframe[i] {
		r.keyframes++
	}
	if r.matched >= r.want && r.keyframes > 0 {
		r.closeOnce.Do(func() { close(r.enough) })
	}
}

func (r *received) snapshot() (matched, keyframes, corrupt, packets int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.matched, r.keyframes, r.corrupt, r.packets
}

// readVP8 reassembles VP8 frames from RTP (payload descriptors stripped) and
// records them until the track ends. Frames with a sequence gap are dropped.
func readVP8(track *webrtc.TrackRemote, c *clip, r *received) {
	var (
		buf     []byte
		ts      uint32
		lastSeq uint16
		inFrame bool
	)
	for {
		pkt, _, err := track.ReadRTP()
		if err != nil {
			return
		}
		r.mu.Lock()
		r.packets++
		r.mu.Unlock()
		var vp8 codecs.VP8Packet
		payload, err := vp8.Unmarshal(pkt.Payload)
		switch {
		case err != nil:
			inFrame = false
		case vp8.S == 1 && vp8.PID == 0:
			buf, ts, inFrame = append(buf[:0], payload...), pkt.Timestamp, true
		case inFrame && pkt.Timestamp == ts && pkt.SequenceNumber == lastSeq+1:
			buf = append(buf, payload...)
		default:
			inFrame = false
		}
		lastSeq = pkt.SequenceNumber
		if inFrame && pkt.Marker {
			r.frame(c, buf)
			inFrame = false
		}
	}
}

// readOpus records each RTP payload as one Opus packet until the track ends.
func readOpus(track *webrtc.TrackRemote, c *clip, r *received) {
	for {
		pkt, _, err := track.ReadRTP()
		if err != nil {
			return
		}
		r.mu.Lock()
		r.packets++
		r.mu.Unlock()
		r.frame(c, pkt.Payload)
	}
}
