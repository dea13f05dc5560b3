package bench

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseProc(t *testing.T) {
	stat := []byte("4242 (odd (name) here) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 1000 123 456\n")
	cpu, err := parseStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if cpu != 3250*time.Millisecond {
		t.Fatalf("cpu %v, want 3.25s (utime 250 + stime 75 ticks)", cpu)
	}
	rss, err := parseStatusRSS([]byte("Name:\tx\nVmPeak:\t 1 kB\nVmRSS:\t   2048 kB\n"))
	if err != nil || rss != 2048*1024 {
		t.Fatalf("rss %d, %v; want 2 MiB", rss, err)
	}
	if _, err := parseStatusRSS([]byte("Name:\tx\n")); err == nil {
		t.Fatal("a status without VmRSS must fail")
	}
	a, err := parseSystemCPU([]byte("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := parseSystemCPU([]byte("cpu  200 0 100 1150 50 0 0 0 0 0\n"))
	if got := BusyFraction(a, b); got != 0.3 {
		t.Fatalf("busy %v, want 0.3 (150 busy of 500 ticks)", got)
	}
}

func TestRawDelivery(t *testing.T) {
	r, err := RawDelivery(2000, 1200)
	if err != nil {
		t.Fatal(err)
	}
	if r.Packets != 2000 || r.CPUPerMillion() <= 0 {
		t.Fatalf("raw result %+v", r)
	}
}

func sampleReport() *Report {
	return &Report{
		Machine: "2 × test CPU",
		Target:  "test",
		Raw:     RawResult{Packets: 1_000_000, CPU: 2 * time.Second},
		Results: []Result{
			{Scenario: "1pub×N", Subscribers: 1, Publishers: 1, Duration: 8 * time.Second, PacketsPerS: 230, ExpectedPPS: 230,
				HaveNode: true, NodeCPU: time.Second, CPUPerMPkt: 50, RSSIdle: 20 << 20, RSS: 30 << 20,
				LatP50: time.Millisecond, LatP99: 3 * time.Millisecond, JoinP50: 40 * time.Millisecond, BoxBusy: 0.5},
			{Scenario: "1pub×N", Subscribers: 50, Publishers: 1, Duration: 8 * time.Second, PacketsPerS: 11500, ExpectedPPS: 11500,
				HaveNode: true, NodeCPU: 4 * time.Second, CPUPerMPkt: 8, RSSIdle: 20 << 20, RSS: 60 << 20, Note: "a, b"},
			{Scenario: "rooms", Subscribers: 100, Publishers: 100, Rooms: 25, Duration: 8 * time.Second, PacketsPerS: 69000, ExpectedPPS: 69000},
		},
		Notes: []string{"load average at start: 1 1 1"},
	}
}

func TestReportOutputs(t *testing.T) {
	rep := sampleReport()
	var md bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| 1 pub × 50 | 50 |", "| 25 rooms × 4 | 100 |", "4.0×", "2.00 CPU-s per million"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}

	var c bytes.Buffer
	if err := rep.WriteCSV(&c); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&c).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 || len(recs[0]) != len(csvHeader) {
		t.Fatalf("csv: %d records of %d fields", len(recs), len(recs[0]))
	}
	if recs[3][7] != "" {
		t.Errorf("rooms row has no node figures, node_cpu_s = %q", recs[3][7])
	}

	var svg bytes.Buffer
	if err := rep.WriteSVG(&svg); err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(&svg)
	for {
		if _, err := d.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
	}
}
