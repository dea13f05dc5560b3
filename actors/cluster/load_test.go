package cluster

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestCPUSamplerFromProcStat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stat")
	write := func(line string) {
		if err := os.WriteFile(path, []byte(line+"\ncpu0 1 2 3 4 5 6 7 8 9 10\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// user nice system idle iowait irq softirq steal guest guest_nice
	write("cpu  100 0 100 700 100 0 0 0 50 0")
	s := cpuSampler{path: path}
	if v, err := s.sample(); err != nil || v != 0 {
		t.Fatalf("first sample: %v %v", v, err)
	}
	// +300 busy (user 200, system 50, steal 50), +100 idle+iowait; guest +999 is inside user already.
	write("cpu  300 0 150 750 150 0 0 50 1049 0")
	v, err := s.sample()
	if err != nil {
		t.Fatal(err)
	}
	if v != 0.75 {
		t.Fatalf("busy fraction %v, want 0.75", v)
	}
	write("garbage")
	if _, err := s.sample(); err == nil {
		t.Fatal("garbage accepted")
	}
}

func TestCPUSamplerRealProc(t *testing.T) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Skip("no /proc/stat on this system")
	}
	s := cpuSampler{path: "/proc/stat"}
	if _, err := s.sample(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	v, err := s.sample()
	if err != nil || v < 0 || v > 1 {
		t.Fatalf("cpu load %v %v", v, err)
	}
	if la, err := readLoadAvg("/proc/loadavg"); err != nil || la < 0 {
		t.Fatalf("load average %v %v", la, err)
	}
}
