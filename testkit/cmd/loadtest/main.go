// Command loadtest puts a bounded media load on a LiveKit-protocol server over loopback and
// reports what it cost the server: forwarded packets/s, server CPU-seconds per million forwarded
// packets, memory, added latency, loss and join time. `make bench` runs it.
//
// By default it builds ./cmd/livekit-server, starts it with --dev on free ports for every
// scenario (so its CPU and RSS are measured alone, from /proc), and runs:
//
//   - 1 publisher (VP8 ~1.5 Mbit/s at 30 fps + Opus 50 packets/s) × N subscribers, N in -n;
//   - R rooms × -room-size participants for R in -rooms, everyone publishing and subscribing
//     to everyone in the room. 25 rooms × 4 (69 k forwarded packets/s) is more than a 2-core
//     box can carry with the load generator on it; 10 rooms × 4 fits.
//
// It prints a markdown table and writes bench-results.csv, bench-results.md and
// bench-chart.svg to -out. The CPU cost is also given as a ratio against a raw "marshal +
// AES-GCM + sendto" loop measured in the same run.
//
//	go run ./testkit/cmd/loadtest                              # the full run (< 5 min on 2 cores)
//	go run ./testkit/cmd/loadtest -n 50 -rooms 0 -cpuprofile node.prof
//	go run ./testkit/cmd/loadtest -node self -fanout-threshold -1 -n 50 -rooms 0  # writer pool off
//	go run ./testkit/cmd/loadtest -url ws://host:7880 -api-key k -api-secret s [-pid 1234]
//
// Latency is publisher send (just before the frame is packetized) to the arrival of the frame's
// last packet at the subscriber, on one process clock: it includes both client stacks, so it is
// an upper bound on what the server adds.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/actor-sfu/livekit-server/testkit/bench"
)

// options are the command-line settings.
type options struct {
	ns, rooms           []int
	roomSize            int
	duration, warmup    time.Duration
	grace, setupTimeout time.Duration
	fps, frameSize      int
	joinParallel        int
	out                 string
	url                 string
	apiKey, apiSecret   string
	pid                 int
	node, serverPkg     string
	cpuProfile          string
	profileN            int
	fanoutThreshold     int
	rawPackets          int
	saturated, skipLoss float64
	force               bool
}

// logSeconds bounds how long a publisher's frames are recorded (setup + warmup + window + slack).
func (o options) logSeconds() int {
	return int((o.setupTimeout + o.warmup + o.duration + o.grace).Seconds()) + 30
}

func numCPU() int { return runtime.NumCPU() }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	nList := fs.String("n", "1,10,50,100,200", "subscriber counts for the 1-publisher scenario (empty or 0: skip it)")
	roomList := fs.String("rooms", "10,25", "room counts for the many-rooms scenario (empty or 0: skip it)")
	fs.IntVar(&o.roomSize, "room-size", 4, "publishing participants per room")
	fs.DurationVar(&o.duration, "duration", 8*time.Second, "measurement window per scenario")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "wait after everyone is subscribed, before measuring")
	fs.DurationVar(&o.grace, "grace", 500*time.Millisecond, "wait after the window for in-flight frames")
	fs.DurationVar(&o.setupTimeout, "setup-timeout", 45*time.Second, "bound on joining and subscribing per scenario")
	fs.IntVar(&o.fps, "fps", 30, "video frames per second")
	fs.IntVar(&o.frameSize, "frame-size", 6250, "video frame size in bytes (6250 at 30 fps ≈ 1.5 Mbit/s)")
	fs.IntVar(&o.joinParallel, "join-parallel", 8, "clients joining at once")
	fs.StringVar(&o.out, "out", "bench-out", "directory for CSV, markdown, SVG and node logs")
	fs.StringVar(&o.url, "url", "", "load an existing LiveKit-protocol server at ws://host:port instead of starting one")
	fs.StringVar(&o.apiKey, "api-key", "devkey", "API key for -url")
	fs.StringVar(&o.apiSecret, "api-secret", "secret", "API secret for -url")
	fs.IntVar(&o.pid, "pid", 0, "with -url: the server's pid, to report its CPU and RSS")
	fs.StringVar(&o.node, "node", "binary", `"binary" (build and run -server-pkg) or "self" (testkit.Start in a child process)`)
	fs.StringVar(&o.serverPkg, "server-pkg", "./cmd/livekit-server", "package built for -node binary")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the node (self mode) during the window of N = -profile-n")
	fs.IntVar(&o.profileN, "profile-n", 50, "which N -cpuprofile covers")
	fs.IntVar(&o.fanoutThreshold, "fanout-threshold", 0, "-node self: subscribers per track above which writes go to writer goroutines (0: node default, -1: never)")
	fs.IntVar(&o.rawPackets, "raw-packets", 300000, "packets in the raw baseline loop")
	fs.Float64Var(&o.saturated, "saturated", 0.90, "machine busy share above which a row is marked client-bound")
	fs.Float64Var(&o.skipLoss, "skip-loss", 5, "after a client-bound row with more video loss than this (%), skip larger N")
	fs.BoolVar(&o.force, "force", false, "run every N even after the box saturated")
	serveNodeMode := fs.Bool("serve-node", false, "internal: run a node for the parent loadtest")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *serveNodeMode {
		return serveNode(o.cpuProfile, o.fanoutThreshold)
	}
	var err error
	if o.ns, err = counts("-n", *nList); err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return 2
	}
	if o.rooms, err = counts("-rooms", *roomList); err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return 2
	}
	if o.fanoutThreshold != 0 && (o.node != "self" || o.url != "") {
		fmt.Fprintln(stderr, "loadtest: -fanout-threshold needs -node self")
		return 2
	}
	if o.url != "" && o.cpuProfile != "" {
		fmt.Fprintln(stderr, "loadtest: -cpuprofile needs a node started here, not -url")
		return 2
	}
	if err := o.runAll(stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return 1
	}
	return 0
}

// counts parses a comma-separated list of counts; empty entries and 0 are skipped, so
// "-rooms 0" turns a scenario off.
func counts(flagName, list string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bad %s entry %q", flagName, f)
		}
		if n > 0 {
			out = append(out, n)
		}
	}
	return out, nil
}

func (o options) runAll(stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("output dir: %w", err)
	}
	started := time.Now()
	rep := &bench.Report{Machine: machine()}
	rep.Notes = append(rep.Notes, "load average at start: "+loadAvg())

	bin, cleanup, err := o.prepareTarget(ctx, rep, stderr)
	if err != nil {
		return err
	}
	defer cleanup()

	fmt.Fprintln(stderr, "raw baseline…")
	raw, err := bench.RawDelivery(o.rawPackets, 1200)
	if err != nil {
		return err
	}
	rep.Raw = raw
	fmt.Fprintf(stderr, "raw baseline: %.2f µs CPU per packet\n", raw.CPUPerMillion())

	scenarios := o.scenarios()
	skipFanout := false
	for _, sc := range scenarios {
		if ctx.Err() != nil {
			break
		}
		label := sc.result().Label()
		if skipFanout && sc.kind == "1pub×N" {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s skipped: a smaller N already saturated this %d-core box (use -force to run it)", label, numCPU()))
			continue
		}
		fmt.Fprintf(stderr, "%s…\n", label)
		t := time.Now()
		res, err := o.runScenario(ctx, sc, bin)
		if err != nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s failed: %v", label, err))
			fmt.Fprintf(stderr, "%s failed: %v\n", label, err)
			continue
		}
		fmt.Fprintf(stderr, "%s: %.0f pkt/s, %.2f CPU-s/Mpkt, p99 %v, loss %.2f%%, box %.0f%% busy (%.0fs)\n",
			label, res.PacketsPerS, res.CPUPerMPkt, res.LatP99.Round(100*time.Microsecond), res.LossPct,
			100*res.BoxBusy, time.Since(t).Seconds())
		rep.Results = append(rep.Results, res)
		if sc.kind == "1pub×N" && !o.force && res.BoxBusy >= o.saturated && res.LossPct > o.skipLoss {
			skipFanout = true
		}
	}
	rep.Notes = append(rep.Notes, "load average at end: "+loadAvg(), fmt.Sprintf("whole run took %.0f s", time.Since(started).Seconds()))
	if o.cpuProfile != "" {
		rep.Notes = append(rep.Notes, fmt.Sprintf("CPU profile of the node at N = %d: %s (go tool pprof -top %s)", o.profileN, o.cpuProfile, o.cpuProfile))
	}
	return o.write(rep, stdout)
}

// prepareTarget describes the target in rep and, when each row gets a fresh livekit-server
// process, builds the binary into a temporary directory; cleanup removes it.
func (o options) prepareTarget(ctx context.Context, rep *bench.Report, stderr io.Writer) (bin string, cleanup func(), err error) {
	cleanup = func() {}
	switch {
	case o.url != "":
		rep.Target = "server at " + o.url
		if o.pid == 0 {
			rep.Target += " (CPU/RSS unknown: no -pid)"
		}
	case o.node == "self":
		rep.Target = "testkit.Start in a separate process, loopback"
	default:
		rep.Target = "livekit-server (" + o.serverPkg + ") as a separate process, --dev, loopback"
		dir, err := os.MkdirTemp("", "loadtest-")
		if err != nil {
			return "", cleanup, fmt.Errorf("temp dir: %w", err)
		}
		cleanup = func() { os.RemoveAll(dir) }
		fmt.Fprintf(stderr, "building %s…\n", o.serverPkg)
		if bin, err = buildServer(ctx, o.serverPkg, dir); err != nil {
			cleanup()
			return "", func() {}, err
		}
	}
	return bin, cleanup, nil
}

// scenarios lists the rows to run: one publisher to each N, then (with rooms of two or more)
// each room count.
func (o options) scenarios() []scenario {
	var scenarios []scenario
	for _, n := range o.ns {
		scenarios = append(scenarios, o.fanoutScenario(n))
	}
	if o.roomSize > 1 {
		for _, r := range o.rooms {
			scenarios = append(scenarios, o.roomsScenario(r))
		}
	}
	return scenarios
}

func (o options) write(rep *bench.Report, stdout io.Writer) error {
	if err := rep.WriteMarkdown(stdout); err != nil {
		return err
	}
	files := []struct {
		name  string
		write func(io.Writer) error
	}{
		{"bench-results.csv", rep.WriteCSV},
		{"bench-results.md", rep.WriteMarkdown},
		{"bench-chart.svg", rep.WriteSVG},
	}
	for _, f := range files {
		path := filepath.Join(o.out, f.name)
		fh, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		err = f.write(fh)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	fmt.Fprintf(stdout, "\nwrote %s/{bench-results.csv,bench-results.md,bench-chart.svg}\n", o.out)
	return nil
}

// machine describes the box: CPU count and model, Go version.
func machine() string {
	return fmt.Sprintf("%d × %s, %s, GOMAXPROCS %d", runtime.NumCPU(), bench.CPUModel(), runtime.Version(), runtime.GOMAXPROCS(0))
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
