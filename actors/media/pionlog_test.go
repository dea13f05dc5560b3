package media

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// A pion logger that is asked for a line per packet writes one per interval and then says how
// many it held back; long messages are cut; trace lines are dropped.
func TestPionLogsAreRateLimited(t *testing.T) {
	var buf bytes.Buffer
	l := pionLogs{log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}.NewLogger("mux")
	for range 1000 {
		l.Errorf("mux: failed to read from packetio.Buffer %s", "short buffer")
		l.Trace("trace")
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], "pion=mux") {
		t.Fatalf("1,000 errors wrote %d lines: %q", len(lines), buf.String())
	}
	l.(*pionLogger).next.Store(0) // the interval has passed
	l.Error(strings.Repeat("x", 10*pionLogMax))
	lines = strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "suppressed=999") || len(lines[1]) > 2*pionLogMax {
		t.Fatalf("second line %q", lines[len(lines)-1])
	}
}
