package bench

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Result is one row of the load run.
type Result struct {
	Scenario     string // "1pub×N" or "rooms"
	Subscribers  int    // subscriber PeerConnections (N); rooms: participants
	Publishers   int    // publishing participants
	Rooms        int    // rooms scenario: how many rooms share the participants
	Duration     time.Duration
	PacketsPerS  float64 // forwarded packets/s: sum over subscriber tracks of packets received / duration
	ExpectedPPS  float64 // what full delivery would be (published packets/s × subscribers)
	NodeCPU      time.Duration
	HaveNode     bool    // CPU/RSS columns are known
	CPUPerMPkt   float64 // node CPU-seconds per million forwarded packets
	RSSIdle      int64   // node RSS before anyone joined (bytes)
	RSS          int64   // node RSS at the end of the window
	LatP50       time.Duration
	LatP99       time.Duration
	AudioP50     time.Duration
	AudioP99     time.Duration
	LossPct      float64 // video frames
	AudioLossPct float64 // audio packets
	JoinP50      time.Duration
	ClientCPU    time.Duration // loadtest process CPU over the window
	BoxBusy      float64       // machine-wide busy share over the window (0..1)
	Note         string
}

// RSSPerSub is the node's RSS growth over idle divided by subscribers, in bytes.
func (r Result) RSSPerSub() float64 {
	if r.Subscribers == 0 || !r.HaveNode {
		return 0
	}
	return float64(r.RSS-r.RSSIdle) / float64(r.Subscribers)
}

// NodeCPUPct is node CPU as a percentage of one core over the window.
func (r Result) NodeCPUPct() float64 {
	if r.Duration == 0 {
		return 0
	}
	return 100 * r.NodeCPU.Seconds() / r.Duration.Seconds()
}

// ClientCPUPct is the load generator's CPU as a percentage of one core over the window.
func (r Result) ClientCPUPct() float64 {
	if r.Duration == 0 {
		return 0
	}
	return 100 * r.ClientCPU.Seconds() / r.Duration.Seconds()
}

// Label is how the row is named in the table and chart.
func (r Result) Label() string {
	if r.Scenario == "rooms" && r.Rooms > 0 {
		return fmt.Sprintf("%d rooms × %d", r.Rooms, r.Publishers/r.Rooms)
	}
	return fmt.Sprintf("1 pub × %d", r.Subscribers)
}

// Report is a whole run: the rows plus the same-run baseline and the machine.
type Report struct {
	Machine string
	Target  string // "node process", "url …"
	Raw     RawResult
	Results []Result
	Notes   []string
}

// ratio is CPU per million packets relative to the raw delivery baseline.
func (rep *Report) ratio(r Result) float64 {
	raw := rep.Raw.CPUPerMillion()
	if raw == 0 || !r.HaveNode || r.CPUPerMPkt == 0 {
		return 0
	}
	return r.CPUPerMPkt / raw
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) }

func fnum(v float64, prec int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

// WriteMarkdown prints the table as GitHub markdown, with the machine and baseline above it.
func (rep *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %s. Target: %s.\n", rep.Machine, rep.Target)
	if rep.Raw.Packets > 0 {
		fmt.Fprintf(&b, "Baseline (same run): raw marshal + AES-GCM + sendto on loopback = %.2f CPU-s per million packets (%.2f µs/packet).\n",
			rep.Raw.CPUPerMillion(), rep.Raw.CPUPerMillion())
	}
	b.WriteString("\n| scenario | subs | fwd pkt/s | delivered | node CPU | CPU-s / M pkt | × raw | node RSS | RSS / sub | p50 | p99 | loss | join p50 | client CPU | box busy |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range rep.Results {
		cpu, perM, x, rss, rssSub := "", "", "", "", ""
		if r.HaveNode {
			cpu = fnum(r.NodeCPUPct(), 0) + " %"
			perM = fnum(r.CPUPerMPkt, 2)
			if v := rep.ratio(r); v > 0 {
				x = fnum(v, 1) + "×"
			}
			rss = fnum(float64(r.RSS)/(1<<20), 0) + " MB"
			rssSub = fnum(r.RSSPerSub()/1024, 0) + " KB"
		}
		delivered := ""
		if r.ExpectedPPS > 0 {
			delivered = fnum(100*r.PacketsPerS/r.ExpectedPPS, 1) + " %"
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s ms | %s ms | %s %% | %s ms | %s %% | %s %% |\n",
			r.Label(), r.Subscribers, fnum(r.PacketsPerS, 0), delivered, cpu, perM, x, rss, rssSub,
			ms(r.LatP50), ms(r.LatP99), fnum(r.LossPct, 2), ms(r.JoinP50), fnum(r.ClientCPUPct(), 0), fnum(100*r.BoxBusy, 0))
	}
	for _, r := range rep.Results {
		if r.Note != "" {
			fmt.Fprintf(&b, "\n- %s: %s", r.Label(), r.Note)
		}
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(&b, "\n- %s", n)
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// csvHeader names the CSV columns; units are in the names.
var csvHeader = []string{
	"scenario", "label", "subscribers", "publishers", "duration_s", "fwd_pkts_per_s", "expected_pkts_per_s",
	"node_cpu_s", "node_cpu_pct", "cpu_s_per_mpkt", "raw_cpu_s_per_mpkt", "ratio_vs_raw",
	"node_rss_idle_mb", "node_rss_mb", "rss_per_sub_kb",
	"video_p50_ms", "video_p99_ms", "audio_p50_ms", "audio_p99_ms", "video_loss_pct", "audio_loss_pct",
	"join_p50_ms", "client_cpu_pct", "box_busy_pct", "note",
}

// WriteCSV writes one header line and one line per result; unknown node figures are empty.
func (rep *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return fmt.Errorf("csv: %w", err)
	}
	raw := rep.Raw.CPUPerMillion()
	for _, r := range rep.Results {
		node := func(s string) string {
			if r.HaveNode {
				return s
			}
			return ""
		}
		ratio := ""
		if v := rep.ratio(r); v > 0 {
			ratio = fnum(v, 3)
		}
		rec := []string{
			r.Scenario, r.Label(), strconv.Itoa(r.Subscribers), strconv.Itoa(r.Publishers), fnum(r.Duration.Seconds(), 2),
			fnum(r.PacketsPerS, 1), fnum(r.ExpectedPPS, 1),
			node(fnum(r.NodeCPU.Seconds(), 2)), node(fnum(r.NodeCPUPct(), 1)), node(fnum(r.CPUPerMPkt, 3)), fnum(raw, 3), ratio,
			node(fnum(float64(r.RSSIdle)/(1<<20), 1)), node(fnum(float64(r.RSS)/(1<<20), 1)), node(fnum(r.RSSPerSub()/1024, 1)),
			ms(r.LatP50), ms(r.LatP99), ms(r.AudioP50), ms(r.AudioP99), fnum(r.LossPct, 3), fnum(r.AudioLossPct, 3),
			ms(r.JoinP50), fnum(r.ClientCPUPct(), 1), fnum(100*r.BoxBusy, 1), r.Note,
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("csv: %w", err)
	}
	return nil
}
