package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/testkit/bench"
	"github.com/actor-sfu/livekit-server/testkit/synth"
	"github.com/actor-sfu/livekit-server/transport/auth"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// load is one scenario's clients: publishers' send logs and subscribers' probes.
type load struct {
	tgt  *target
	opts options

	mu      sync.Mutex
	logs    map[string]*bench.SendLog // by track SID
	probes  []*bench.Probe
	clients []*lkclient.Client
	tracks  []*lkclient.LocalTrack
	joins   []int64  // ns
	retried []string // joins that failed once and were retried: "identity: error"
}

func newLoad(tgt *target, opts options) *load {
	return &load{tgt: tgt, opts: opts, logs: map[string]*bench.SendLog{}}
}

func (l *load) token(room, identity string) (string, error) {
	tok, err := auth.NewAccessToken(l.tgt.apiKey, l.tgt.secret).SetIdentity(identity).SetName(identity).
		SetVideoGrant(&auth.VideoGrant{RoomJoin: true, Room: room}).SetValidFor(time.Hour).ToJWT()
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	return tok, nil
}

// join connects identity to room with a probe on every received track and records the join time.
func (l *load) join(ctx context.Context, room, identity string) (*lkclient.Client, error) {
	tok, err := l.token(room, identity)
	if err != nil {
		return nil, err
	}
	var probes sync.Map // *lkclient.RemoteTrack → *bench.Probe
	onRTP := func(rt *lkclient.RemoteTrack, pkt *rtp.Packet) {
		now := bench.Now()
		if p, ok := probes.Load(rt); ok {
			p.(*bench.Probe).OnPacket(pkt, now)
			return
		}
		l.mu.Lock()
		log := l.logs[rt.TrackSID]
		l.mu.Unlock()
		if log == nil {
			return // not one of our synthetic tracks (yet)
		}
		p := bench.NewProbe(rt.Kind == webrtc.RTPCodecTypeVideo, log)
		probes.Store(rt, p)
		l.mu.Lock()
		l.probes = append(l.probes, p)
		l.mu.Unlock()
		p.OnPacket(pkt, now)
	}
	// On a loaded box connecting can take longer than lkclient's defaults; the scenario's
	// setup timeout (ctx) is the bound that matters.
	opts := lkclient.Options{
		PacketBuffer:   -1,
		ConnectTimeout: l.opts.setupTimeout,
		PublishTimeout: l.opts.setupTimeout,
		Handlers:       lkclient.Handlers{OnRTP: onRTP},
	}
	start := time.Now()
	c, err := lkclient.Join(ctx, l.tgt.url, tok, testkit.Loopback(opts))
	if err != nil && ctx.Err() == nil {
		// One retry, reported in the row's note: a join that fails under load says something
		// about the server, but it should not void the measurement of everyone else.
		l.mu.Lock()
		l.retried = append(l.retried, fmt.Sprintf("%s: %v", identity, err))
		l.mu.Unlock()
		start = time.Now()
		c, err = lkclient.Join(ctx, l.tgt.url, tok, testkit.Loopback(opts))
	}
	if err != nil {
		return nil, fmt.Errorf("%s joins %s: %w", identity, room, err)
	}
	took := time.Since(start)
	l.mu.Lock()
	l.clients = append(l.clients, c)
	l.joins = append(l.joins, int64(took))
	l.mu.Unlock()
	return c, nil
}

// publish adds a VP8 camera and an Opus microphone track to c (bounded by ctx) and starts
// synthetic media on both until pubCtx ends. It returns the two track SIDs.
func (l *load) publish(ctx, pubCtx context.Context, c *lkclient.Client) ([]string, error) {
	var sids []string
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		tr, err := c.PublishTrack(ctx, lkclient.TrackOptions{Kind: kind, Width: 1280, Height: 720})
		if err != nil {
			return nil, fmt.Errorf("%s publishes %s: %w", c.Identity(), kind, err)
		}
		capacity := l.opts.logSeconds() * 50 // audio: 50 packets/s
		so := synth.Options{}
		if kind == webrtc.RTPCodecTypeVideo {
			capacity = l.opts.logSeconds() * l.opts.fps
			so.FPS, so.FrameSize = l.opts.fps, l.opts.frameSize
		}
		log := bench.NewSendLog(capacity)
		so.OnFrame = func(_ string, n uint64, _ []byte) { log.Record(n, bench.Now()) }
		l.mu.Lock()
		l.logs[tr.SID()] = log
		l.tracks = append(l.tracks, tr)
		l.mu.Unlock()
		sids = append(sids, tr.SID())
		go func() { _, _ = synth.Publish(pubCtx, tr, so) }()
	}
	return sids, nil
}

// parallel runs f(0..n-1) with at most width at a time and returns the first error. After an
// error it starts no further calls.
func parallel(n, width int, f func(i int) error) error {
	sem := make(chan struct{}, max(width, 1))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	failed := func() bool { mu.Lock(); defer mu.Unlock(); return first != nil }
	for i := range n {
		sem <- struct{}{}
		if failed() {
			<-sem
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := f(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// packets sums the probes' packet counters.
func (l *load) packets() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n uint64
	for _, p := range l.probes {
		n += p.Packets()
	}
	return n
}

// publisherFeedback sums the PLIs and NACKs the publishers received.
func (l *load) publisherFeedback() (plis, nacks uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, t := range l.tracks {
		s := t.Stats()
		plis += s.PLIs + s.FIRs
		nacks += s.NACKs
	}
	return plis, nacks
}

// closeWait bounds how long close waits for the clients to disconnect.
const closeWait = 30 * time.Second

// close disconnects every client and returns how many had not finished after closeWait.
// Those are left behind (the process ends soon anyway) so that one client stuck in Close
// cannot hang the whole run.
func (l *load) close() int {
	l.mu.Lock()
	cs := l.clients
	l.clients = nil
	l.mu.Unlock()
	var pending atomic.Int64
	pending.Store(int64(len(cs)))
	done := make(chan struct{})
	go func() {
		_ = parallel(len(cs), len(cs), func(i int) error { cs[i].Close(); pending.Add(-1); return nil })
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(closeWait):
	}
	return int(pending.Load())
}
