package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/actor-sfu/livekit-server/testkit/bench"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// vp8PayloadPerPacket is what pion's VP8 payloader fits in a packet: MTU 1200 − RTP header 12 −
// payload descriptor with picture ID 4.
const vp8PayloadPerPacket = 1184

// publishedPPS is the nominal packet rate of one publisher (video + 50 audio packets/s).
func (o options) publishedPPS() float64 {
	perFrame := math.Ceil(float64(o.frameSize) / vp8PayloadPerPacket)
	return float64(o.fps)*perFrame + 50
}

// scenario is one row: how to set up clients on a fresh node.
type scenario struct {
	kind        string // "1pub×N" or "rooms"
	subscribers int
	publishers  int
	rooms       int // rooms scenario only
	expectedPPS float64
	setup       func(ctx, pubCtx context.Context, l *load) error
}

// result is the row this scenario fills in, with only its identity set.
func (sc scenario) result() bench.Result {
	return bench.Result{Scenario: sc.kind, Subscribers: sc.subscribers, Publishers: sc.publishers, Rooms: sc.rooms}
}

func (o options) fanoutScenario(n int) scenario {
	return scenario{
		kind: "1pub×N", subscribers: n, publishers: 1, expectedPPS: float64(n) * o.publishedPPS(),
		setup: func(ctx, pubCtx context.Context, l *load) error {
			room := fmt.Sprintf("fanout-%d-%d", n, time.Now().UnixMilli())
			pub, err := l.join(ctx, room, "pub")
			if err != nil {
				return err
			}
			sids, err := l.publish(ctx, pubCtx, pub)
			if err != nil {
				return err
			}
			return parallel(n, o.joinParallel, func(i int) error {
				c, err := l.join(ctx, room, fmt.Sprintf("sub-%03d", i))
				if err != nil {
					return err
				}
				for _, sid := range sids {
					if _, err := c.WaitSubscribed(ctx, sid); err != nil {
						return fmt.Errorf("%s subscribes %s: %w", c.Identity(), sid, err)
					}
				}
				return nil
			})
		},
	}
}

func (o options) roomsScenario(rooms int) scenario {
	size := o.roomSize
	total := rooms * size
	return scenario{
		kind: "rooms", subscribers: total, publishers: total, rooms: rooms,
		expectedPPS: float64(rooms*size*(size-1)) * o.publishedPPS(),
		setup: func(ctx, pubCtx context.Context, l *load) error {
			prefix := fmt.Sprintf("room-%d", time.Now().UnixMilli())
			clients := make([]*lkclient.Client, total)
			err := parallel(total, o.joinParallel, func(i int) error {
				c, err := l.join(ctx, fmt.Sprintf("%s-%02d", prefix, i/size), fmt.Sprintf("p-%02d-%d", i/size, i%size))
				if err != nil {
					return err
				}
				clients[i] = c
				_, err = l.publish(ctx, pubCtx, c)
				return err
			})
			if err != nil {
				return err
			}
			return parallel(total, o.joinParallel, func(i int) error {
				c := clients[i]
				want := 2 * (size - 1)
				if err := c.WaitFor(ctx, func() bool { return len(c.RemoteTracks()) >= want }); err != nil {
					return fmt.Errorf("%s got %d of %d tracks: %w", c.Identity(), len(c.RemoteTracks()), want, err)
				}
				return nil
			})
		},
	}
}

// runScenario starts a fresh target, sets the clients up, measures one window and tears down.
func (o options) runScenario(ctx context.Context, sc scenario, bin string) (bench.Result, error) {
	res := sc.result()
	res.ExpectedPPS = sc.expectedPPS
	name := fmt.Sprintf("%s-%d", strings.ReplaceAll(sc.kind, "×", "x"), sc.subscribers)
	profile := ""
	if o.cpuProfile != "" && sc.kind == "1pub×N" && sc.subscribers == o.profileN {
		profile = o.cpuProfile
	}
	tgt, err := o.newTarget(ctx, bin, profile, filepath.Join(o.out, "node-"+name+".log"))
	if err != nil {
		return res, err
	}
	defer tgt.stop()
	res.HaveNode = tgt.pid != 0
	if res.HaveNode {
		time.Sleep(300 * time.Millisecond)
		idle, err := bench.ReadProc(tgt.pid)
		if err != nil {
			return res, err
		}
		res.RSSIdle = idle.RSS
	}

	l := newLoad(tgt, o)
	defer func() {
		if n := l.close(); n > 0 {
			fmt.Fprintf(os.Stderr, "warning: %d clients of %s did not finish closing within %v; left behind\n", n, name, closeWait)
		}
	}()
	pubCtx, stopPublishing := context.WithCancel(ctx)
	defer stopPublishing()
	setupCtx, cancel := context.WithTimeout(ctx, o.setupTimeout)
	err = sc.setup(setupCtx, pubCtx, l)
	cancel()
	if err != nil {
		return res, fmt.Errorf("setup: %w", err)
	}
	res.JoinP50 = bench.Percentile(append([]int64(nil), l.joins...), 50)
	time.Sleep(o.warmup)

	t0, t1, fb, err := o.measure(tgt, l, profile, &res)
	if err != nil {
		return res, err
	}
	// Frames sent in the window get a grace period to arrive.
	time.Sleep(o.grace)
	probes := collectLatencies(l, t0, t1, &res)
	res.Note = strings.Join(o.notes(sc, l, res, probes, fb), "; ")
	return res, nil
}

// feedback is what the publishers received during the measurement window.
type feedback struct{ plis, nacks uint64 }

// measure runs the measurement window on a load that is set up: packets forwarded, CPU of the
// box, of this process and (when known) of the node, the node's RSS, and the publishers'
// feedback. It fills res and returns the window's bounds on the bench clock.
func (o options) measure(tgt *target, l *load, profile string, res *bench.Result) (t0, t1 int64, fb feedback, err error) {
	if profile != "" {
		tgt.signal(syscall.SIGUSR1)
	}
	p0, sys0 := l.packets(), mustSystemCPU()
	plis0, nacks0 := l.publisherFeedback()
	self0, _ := bench.ReadProc(os.Getpid())
	var node0 bench.ProcSample
	if res.HaveNode {
		if node0, err = bench.ReadProc(tgt.pid); err != nil {
			return 0, 0, fb, err
		}
	}
	t0 = bench.Now()
	time.Sleep(o.duration)
	t1 = bench.Now()
	p1, sys1 := l.packets(), mustSystemCPU()
	self1, _ := bench.ReadProc(os.Getpid())
	if res.HaveNode {
		node1, err := bench.ReadProc(tgt.pid)
		if err != nil {
			return 0, 0, fb, err
		}
		res.NodeCPU, res.RSS = node1.CPU-node0.CPU, node1.RSS
	}
	if profile != "" {
		tgt.signal(syscall.SIGUSR2)
	}
	plis1, nacks1 := l.publisherFeedback()
	res.Duration = time.Duration(t1 - t0)
	res.ClientCPU = self1.CPU - self0.CPU
	res.BoxBusy = bench.BusyFraction(sys0, sys1)
	res.PacketsPerS = float64(p1-p0) / res.Duration.Seconds()
	if res.HaveNode && p1 > p0 {
		res.CPUPerMPkt = res.NodeCPU.Seconds() * 1e6 / float64(p1-p0)
	}
	return t0, t1, feedback{plis: plis1 - plis0, nacks: nacks1 - nacks0}, nil
}

// collectLatencies sums every probe's window [t0, t1] into the video and audio latency and loss
// figures of res, and returns how many probes (subscribed tracks) delivered packets.
func collectLatencies(l *load, t0, t1 int64, res *bench.Result) int {
	var video, audio bench.Window
	l.mu.Lock()
	probes := append([]*bench.Probe(nil), l.probes...)
	l.mu.Unlock()
	for _, p := range probes {
		w := p.Measure(t0, t1)
		dst := &audio
		if p.Video() {
			dst = &video
		}
		dst.Expected += w.Expected
		dst.Received += w.Received
		dst.Latencies = append(dst.Latencies, w.Latencies...)
	}
	res.LatP50, res.LatP99 = bench.Percentile(video.Latencies, 50), bench.Percentile(video.Latencies, 99)
	res.AudioP50, res.AudioP99 = bench.Percentile(audio.Latencies, 50), bench.Percentile(audio.Latencies, 99)
	res.LossPct = lossPct(video)
	res.AudioLossPct = lossPct(audio)
	return len(probes)
}

// notes explains what may qualify a row's figures: missing tracks, retried joins, a saturated
// box, keyframe requests and NACKs the publishers got, audio loss.
func (o options) notes(sc scenario, l *load, res bench.Result, probes int, fb feedback) []string {
	var notes []string
	if want := sc.subscribers * 2; sc.kind == "1pub×N" && probes < want {
		notes = append(notes, fmt.Sprintf("only %d of %d subscribed tracks delivered packets", probes, want))
	}
	l.mu.Lock()
	retried := append([]string(nil), l.retried...)
	l.mu.Unlock()
	if len(retried) > 0 {
		notes = append(notes, fmt.Sprintf("%d join(s) failed once and were retried, first: %s", len(retried), retried[0]))
	}
	if res.BoxBusy >= o.saturated {
		notes = append(notes, fmt.Sprintf("box %.0f%% busy: node, load generator and other work share %d cores, so figures are bounded by the client side", 100*res.BoxBusy, numCPU()))
	}
	if fb.plis > 0 {
		notes = append(notes, fmt.Sprintf("publishers got %d PLI/FIR in the window", fb.plis))
	}
	if fb.nacks > 0 {
		notes = append(notes, fmt.Sprintf("publishers got %d NACKs in the window", fb.nacks))
	}
	if res.AudioLossPct > 0 {
		notes = append(notes, fmt.Sprintf("audio loss %.2f%%", res.AudioLossPct))
	}
	return notes
}

func lossPct(w bench.Window) float64 {
	if w.Expected == 0 {
		return math.NaN()
	}
	return 100 * float64(w.Expected-w.Received) / float64(w.Expected)
}

func mustSystemCPU() bench.SystemCPU {
	s, _ := bench.ReadSystemCPU()
	return s
}

// newTarget starts a fresh node (binary or self) or returns the -url target.
func (o options) newTarget(ctx context.Context, bin, profile, logPath string) (*target, error) {
	switch {
	case o.url != "":
		return &target{url: o.url, apiKey: o.apiKey, secret: o.apiSecret, pid: o.pid}, nil
	case o.node == "self" || profile != "":
		return startSelfNode(ctx, profile, o.fanoutThreshold, logPath)
	default:
		return startBinaryNode(ctx, bin, logPath)
	}
}
