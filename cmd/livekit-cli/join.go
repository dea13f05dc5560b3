package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// joinOptions are the flags of join and subscribe.
type joinOptions struct {
	room, roomID, identity string
	video, audio           string
	loop, once             bool
	out                    string
	duration               time.Duration
	loopback               bool
	noAutoSubscribe        bool
	verbose                bool
}

func cmdJoin(ctx context.Context, e *env, args []string) error {
	return joinCommand(ctx, e, "join", args, true)
}

func cmdSubscribe(ctx context.Context, e *env, args []string) error {
	return joinCommand(ctx, e, "subscribe", args, false)
}

func joinCommand(ctx context.Context, e *env, name string, args []string, canPublish bool) error {
	synopsis := "(--room NAME | --room-id RM_xxx) [--identity ID] [--out DIR] [--duration 10s]"
	if canPublish {
		synopsis = "(--room NAME | --room-id RM_xxx) [--identity ID] [--video F.ivf] [--audio F.ogg] [--once] [--out DIR] [--duration 10s]\n\n" +
			"Publishes the files at their own pace, each looped until Ctrl-C/SIGTERM (or --duration), so that\n" +
			"participants who join later receive them too; --once (or --loop=false) sends each file once and\n" +
			"then stays in the room without media. Also receives every other participant's tracks (--out records them)."
	}
	fs := e.newFlagSet(name, synopsis)
	var o joinOptions
	fs.StringVar(&o.room, "room", "", "room name")
	fs.StringVar(&o.roomID, "room-id", "", "room SID (RM_…), looked up with list-rooms")
	fs.StringVar(&o.identity, "identity", "", "participant identity (default: generated, cli-<8 hex digits>)")
	if canPublish {
		fs.StringVar(&o.video, "video", "", "publish this IVF file (VP8)")
		fs.StringVar(&o.audio, "audio", "", "publish this Ogg file (Opus)")
		fs.BoolVar(&o.loop, "loop", true, "repeat the files until stopped (the default; --loop=false is --once)")
		fs.BoolVar(&o.once, "once", false, "send each file once, then stay in the room without media")
	}
	fs.StringVar(&o.out, "out", "", "record every received track into this directory (<identity>-<TR_sid>.ivf/.ogg)")
	fs.DurationVar(&o.duration, "duration", 0, "leave after this long (0: run until Ctrl-C)")
	fs.BoolVar(&o.loopback, "loopback", true, "ICE on the loopback interface only (for a node on 127.0.0.1); false uses every interface")
	fs.BoolVar(&o.noAutoSubscribe, "no-subscribe", false, "do not receive other participants' tracks")
	fs.BoolVar(&o.verbose, "verbose", false, "debug logs of the client on stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if (o.room == "") == (o.roomID == "") {
		return usagef("give exactly one of --room and --room-id")
	}
	if o.once {
		o.loop = false
	}
	if o.duration < 0 {
		return usagef("--duration must not be negative")
	}
	if o.out != "" && o.noAutoSubscribe {
		return usagef("--out records received tracks; it cannot be used with --no-subscribe")
	}
	return runJoin(ctx, e, o)
}

func runJoin(ctx context.Context, e *env, o joinOptions) error {
	files, err := loadMediaFiles(o)
	if err != nil {
		return err
	}
	if o.out != "" {
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	room, token, err := joinCredentials(ctx, e, &o)
	if err != nil {
		return err
	}

	con := newConsole(e.stderr, e.stderrTTY)
	recs := newRecorderSet(o.out, con)
	start := time.Now()
	c, err := lkclient.Join(ctx, e.url, token, clientOptions(o, con, recs))
	if err != nil {
		recs.close()
		if ctx.Err() != nil && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("join %s: interrupted", room)
		}
		return fmt.Errorf("join %s: %w", room, err)
	}
	jr := c.JoinResponse()
	con.printf("joined room %s (%s) as %s (%s)", jr.GetRoom().GetName(), jr.GetRoom().GetSid(), c.Identity(), c.SID())

	pubCtx, stopPublishing := context.WithCancel(ctx)
	pubs := newPublishers(len(files))
	runErr := pubs.start(ctx, pubCtx, c, con, files, o.loop)
	if runErr == nil {
		runErr = waitJoined(ctx, c, con, pubs.list, recs, pubs.errs, start)
	}
	stopPublishing()
	pubs.wg.Wait()
	recs.leaving()
	if err := c.Leave(); err != nil && runErr == nil {
		runErr = fmt.Errorf("leave: %w", err)
	}
	tracks := recs.close()
	con.finish()
	printFinalStats(e, time.Since(start), pubs.list, tracks)
	return runErr
}

// loadMediaFiles reads the --video and --audio files, if given.
func loadMediaFiles(o joinOptions) ([]*mediaFile, error) {
	var files []*mediaFile
	if o.video != "" {
		f, err := loadVideo(o.video)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	if o.audio != "" {
		f, err := loadAudio(o.audio)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

// joinCredentials resolves --room-id to a room name, picks a random identity when none was
// given (stored back into o) and mints the join token.
func joinCredentials(ctx context.Context, e *env, o *joinOptions) (room, token string, err error) {
	room = o.room
	if o.roomID != "" {
		if room, err = resolveRoomID(ctx, e, o.roomID); err != nil {
			return "", "", err
		}
	}
	if o.identity == "" {
		o.identity = randomIdentity()
	}
	token, err = joinToken(e, room, o.identity, time.Hour)
	if err != nil {
		return "", "", err
	}
	return room, token, nil
}

// clientOptions are the lkclient options for the flags: the token in the Authorization header,
// every subscribed track handed to the recorders, ICE on loopback only with --loopback.
func clientOptions(o joinOptions, con *console, recs *recorderSet) lkclient.Options {
	opts := lkclient.Options{
		NoAutoSubscribe: o.noAutoSubscribe,
		BearerHeader:    true,
		Handlers:        lkclient.Handlers{OnTrackSubscribed: recs.add},
	}
	if o.verbose {
		opts.Logger = slog.New(slog.NewTextHandler(con, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if o.loopback {
		opts.ConfigureSettingEngine = lkclient.LoopbackICE
	}
	return opts
}

// publishers are the running file publishers of one join and the first error of each.
type publishers struct {
	list []*publisher
	wg   sync.WaitGroup
	errs chan error
}

func newPublishers(n int) *publishers {
	return &publishers{errs: make(chan error, n)}
}

// start publishes every file and runs each publisher on its own goroutine until pubCtx ends
// (ctx bounds the publish handshake). It stops at the first file that cannot be published.
func (ps *publishers) start(ctx, pubCtx context.Context, c *lkclient.Client, con *console, files []*mediaFile, loop bool) error {
	for _, f := range files {
		p, err := publish(ctx, c, f, loop)
		if err != nil {
			return err
		}
		con.printf("publishing %s as %s (%s)", f.path, p.track.SID(), f.codec)
		ps.list = append(ps.list, p)
		ps.wg.Add(1)
		go func() {
			defer ps.wg.Done()
			if err := p.run(pubCtx); err != nil {
				ps.errs <- err
				return
			}
			if pubCtx.Err() == nil {
				con.printf("finished publishing %s (%d frames); staying in the room until stopped", p.file.path, p.frames.Load())
			}
		}()
	}
	return nil
}

// waitJoined prints progress every second until ctx ends (Ctrl-C, --duration), the node ends
// the session or a publisher fails.
func waitJoined(ctx context.Context, c *lkclient.Client, con *console, pubs []*publisher, recs *recorderSet,
	pubErr <-chan error, start time.Time) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	meter := progressMeter{lastAt: time.Since(start)}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.Done():
			if errors.Is(c.Err(), lkclient.ErrClosed) {
				return nil
			}
			return c.Err()
		case err := <-pubErr:
			return err
		case now := <-tick.C:
			con.progress(meter.line(now.Sub(start), pubs, recs.snapshot()))
		}
	}
}

// progressMeter builds the progress line; it remembers the last totals for the current bitrates.
type progressMeter struct {
	lastAt             time.Duration
	lastSent, lastRecv uint64
}

func (m *progressMeter) line(elapsed time.Duration, pubs []*publisher, recs []*trackRecorder) string {
	var sentPkts, sentBytes, recvPkts, recvBytes uint64
	for _, p := range pubs {
		sentPkts += p.packets.Load()
		sentBytes += p.bytes.Load()
	}
	for _, r := range recs {
		st := r.rt.Stats()
		recvPkts += st.Packets
		recvBytes += st.Bytes
	}
	interval := elapsed - m.lastAt
	var parts []string
	if len(pubs) > 0 {
		parts = append(parts, fmt.Sprintf("sent %d track(s): %d pkts %s %s", len(pubs), sentPkts, formatBytes(sentBytes),
			formatBitrate(sentBytes-m.lastSent, interval)))
	}
	if len(recs) > 0 || len(pubs) == 0 {
		parts = append(parts, fmt.Sprintf("received %d track(s): %d pkts %s %s", len(recs), recvPkts, formatBytes(recvBytes),
			formatBitrate(recvBytes-m.lastRecv, interval)))
	}
	m.lastAt, m.lastSent, m.lastRecv = elapsed, sentBytes, recvBytes
	return fmt.Sprintf("[%s] %s", elapsed.Truncate(time.Second), strings.Join(parts, " | "))
}

// printFinalStats writes what was sent and received to stdout.
func printFinalStats(e *env, elapsed time.Duration, pubs []*publisher, tracks []*trackRecorder) {
	fmt.Fprintf(e.stdout, "left the room after %s\n", elapsed.Truncate(time.Millisecond))
	for _, p := range pubs {
		fmt.Fprintf(e.stdout, "sent     %s %s from %s: %d frames, %d packets, %s\n", p.track.SID(), p.file.codec,
			p.file.path, p.frames.Load(), p.packets.Load(), formatBytes(p.bytes.Load()))
	}
	for _, r := range tracks {
		fmt.Fprintf(e.stdout, "received %s %s of %s: %s\n", r.rt.TrackSID, r.mime, r.identity, r.summary())
	}
}

func formatBytes(n uint64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func formatBitrate(bytes uint64, d time.Duration) string {
	if d <= 0 {
		return "0 kbit/s"
	}
	return fmt.Sprintf("%.0f kbit/s", float64(bytes)*8/d.Seconds()/1000)
}
