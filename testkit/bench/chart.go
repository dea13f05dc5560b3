package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
)

// Chart geometry (pixels).
const (
	chartW, chartH     = 900, 360
	panelW, panelH     = 360, 240
	panelTop           = 60
	panelLeft1         = 80
	panelLeft2         = 520
	tickCount          = 5
	pointRadius        = 3.5
	seriesColor        = "#1f77b4"
	secondSeriesColor  = "#d62728"
	baselineColor      = "#7f7f7f"
	axisColor          = "#333"
	gridColor          = "#ddd"
	fontFamily         = "sans-serif"
	titleFontSize      = 15
	labelFontSize      = 12
	tickFontSize       = 11
	baselineDashLength = "6 4"
)

// series is one line in a panel.
type series struct {
	name   string
	color  string
	values []float64 // NaN: no point
}

// WriteSVG draws two panels for the 1-publisher × N rows: forwarded packets/s (with the
// full-delivery rate for comparison) and node CPU-seconds per million forwarded packets (with
// the raw baseline as a dashed line). X is N on evenly spaced categories.
func (rep *Report) WriteSVG(w io.Writer) error {
	var xs []string
	var pps, want, cpu []float64
	for _, r := range rep.Results {
		if r.Scenario != "1pub×N" {
			continue
		}
		xs = append(xs, strconv.Itoa(r.Subscribers))
		pps = append(pps, r.PacketsPerS)
		want = append(want, r.ExpectedPPS)
		if r.HaveNode && r.CPUPerMPkt > 0 {
			cpu = append(cpu, r.CPUPerMPkt)
		} else {
			cpu = append(cpu, math.NaN())
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="%s">`+"\n",
		chartW, chartH, chartW, chartH, fontFamily)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="%d" font-weight="bold">%s</text>`+"\n", panelLeft1-60, titleFontSize,
		html.EscapeString("1 publisher (VP8 1.5 Mbit/s + Opus) × N subscribers — "+rep.Machine))
	panel(&b, panelLeft1, "forwarded packets/s", xs, []series{
		{name: "measured", color: seriesColor, values: pps},
		{name: "full delivery", color: baselineColor, values: want},
	}, math.NaN(), false)
	raw := math.NaN()
	if rep.Raw.Packets > 0 {
		raw = rep.Raw.CPUPerMillion()
	}
	panel(&b, panelLeft2, "node CPU-s per million forwarded packets (log scale)", xs, []series{
		{name: "node", color: secondSeriesColor, values: cpu},
	}, raw, true)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// panel draws one line chart at x offset left; baseline, if not NaN, is a dashed horizontal
// line. With logY the y axis is logarithmic over whole decades (CPU per packet spans two
// orders of magnitude between N = 1 and N = 200).
func panel(b *strings.Builder, left int, title string, xs []string, ss []series, baseline float64, logY bool) {
	top, bottom, right := panelTop, panelTop+panelH, left+panelW
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="%d" text-anchor="middle">%s</text>`+"\n",
		left+panelW/2, top-12, labelFontSize+1, html.EscapeString(title))
	hi, lo := 0.0, math.Inf(1)
	for _, s := range ss {
		for _, v := range s.values {
			if !math.IsNaN(v) {
				hi, lo = math.Max(hi, v), math.Min(lo, v)
			}
		}
	}
	if !math.IsNaN(baseline) {
		hi, lo = math.Max(hi, baseline), math.Min(lo, baseline)
	}
	y, ticks := yScale(lo, hi, bottom, logY)
	x := func(i int) float64 {
		if len(xs) <= 1 {
			return float64(left + panelW/2)
		}
		return float64(left) + 20 + float64(i)*float64(panelW-40)/float64(len(xs)-1)
	}
	for _, v := range ticks {
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`+"\n", left, y(v), right, y(v), gridColor)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" font-size="%d" text-anchor="end">%s</text>`+"\n",
			left-6, y(v)+4, tickFontSize, shortNum(v))
	}
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>`+"\n", left, bottom, right, bottom, axisColor)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>`+"\n", left, top, left, bottom, axisColor)
	for i, l := range xs {
		fmt.Fprintf(b, `<text x="%.1f" y="%d" font-size="%d" text-anchor="middle">%s</text>`+"\n",
			x(i), bottom+16, tickFontSize, html.EscapeString(l))
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="%d" text-anchor="middle">subscribers (N)</text>`+"\n",
		left+panelW/2, bottom+34, labelFontSize)
	legendY := bottom + 52
	legendX := left
	if !math.IsNaN(baseline) {
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="1.5" stroke-dasharray="%s"/>`+"\n",
			left, y(baseline), right, y(baseline), baselineColor, baselineDashLength)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" font-size="%d" text-anchor="end" fill="%s">raw GCM+sendto %s</text>`+"\n",
			right-4, y(baseline)-5, tickFontSize, baselineColor, fnum(baseline, 2))
	}
	for _, s := range ss {
		var pts []string
		for i, v := range s.values {
			if math.IsNaN(v) {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(v)))
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="%.1f" fill="%s"/>`+"\n", x(i), y(v), pointRadius, s.color)
		}
		if len(pts) > 1 {
			fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.Join(pts, " "), s.color)
		}
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="12" height="4" fill="%s"/>`+"\n", legendX, legendY-4, s.color)
		fmt.Fprintf(b, `<text x="%d" y="%d" font-size="%d">%s</text>`+"\n", legendX+16, legendY, tickFontSize, html.EscapeString(s.name))
		legendX += 120
	}
}

// yScale maps values to y pixels of a panel whose x axis is at bottom and returns the grid's
// tick values: whole decades (1, 2, 5 × 10^k) from lo to hi with logY, otherwise about
// tickCount nice steps from 0 up to hi.
func yScale(lo, hi float64, bottom int, logY bool) (y func(v float64) float64, ticks []float64) {
	if logY && lo > 0 && !math.IsInf(lo, 0) {
		d0, d1 := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
		if d1 <= d0 {
			d1 = d0 + 1
		}
		y = func(v float64) float64 { return float64(bottom) - (math.Log10(v)-d0)/(d1-d0)*float64(panelH) }
		for d := d0; d <= d1; d++ {
			for _, m := range []float64{1, 2, 5} {
				if v := m * math.Pow(10, d); d < d1 || m == 1 {
					ticks = append(ticks, v)
				}
			}
		}
		return y, ticks
	}
	step := niceStep(hi / tickCount)
	top2 := step * tickCount
	if top2 < hi {
		top2 = step * math.Ceil(hi/step)
	}
	y = func(v float64) float64 { return float64(bottom) - v/top2*float64(panelH) }
	for v := 0.0; v <= top2+step/2; v += step {
		ticks = append(ticks, v)
	}
	return y, ticks
}

// niceStep rounds v up to 1, 2 or 5 × a power of ten.
func niceStep(v float64) float64 {
	if v <= 0 || math.IsNaN(v) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// shortNum formats tick labels: 12k, 1.5M, 0.5.
func shortNum(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 3, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'g', 3, 64) + "k"
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}
