package cluster

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// cpuSampler turns the cumulative counters of /proc/stat into the busy fraction of all CPUs since
// the previous sample. It is safe for concurrent use.
type cpuSampler struct {
	mu         sync.Mutex
	path       string
	busy, idle uint64
}

// sample returns the busy fraction in [0,1] since the last call (0 on the first call).
func (s *cpuSampler) sample() (float64, error) {
	busy, idle, err := readCPUStat(s.path)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	db, di := busy-s.busy, idle-s.idle
	first := s.busy == 0 && s.idle == 0
	s.busy, s.idle = busy, idle
	if first || db+di == 0 {
		return 0, nil
	}
	return float64(db) / float64(db+di), nil
}

// readCPUStat sums the aggregate "cpu" line of /proc/stat: idle is idle+iowait, busy the rest
// (guest time is already counted in user and nice, so it is left out).
func readCPUStat(path string) (busy, idle uint64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("cpu load: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, 0, fmt.Errorf("cpu load: %s is empty", path)
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, 0, fmt.Errorf("cpu load: unexpected first line %q", sc.Text())
	}
	for i, f := range fields[1:] {
		if i >= 8 { // guest, guest_nice
			break
		}
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("cpu load: field %d: %w", i+1, err)
		}
		if i == 3 || i == 4 { // idle, iowait
			idle += v
		} else {
			busy += v
		}
	}
	return busy, idle, nil
}

// readLoadAvg returns the one-minute load average from /proc/loadavg.
func readLoadAvg(path string) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("load average: %w", err)
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 0, fmt.Errorf("load average: %s is empty", path)
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return 0, fmt.Errorf("load average: %w", err)
	}
	return v, nil
}
