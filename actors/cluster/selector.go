package cluster

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// ErrNoNodes is returned when no node is SERVING with fresh stats.
var ErrNoNodes = errors.New("cluster: no serving node with fresh stats")

// Selector picks the node for a new room the way LiveKit's node_selector does: among SERVING nodes
// whose stats are fresh, the kind drops overloaded nodes (cpuload: CPU load at or above
// cpu_load_limit; sysload: load average per CPU at or above sysload_limit; when every node is over
// the limit, all stay candidates, as in LiveKit), then sort_by picks the lowest value of its key,
// or a random node for "random". Ties are broken at random so that equal nodes share new rooms.
type Selector struct {
	cfg        NodeSelectorConfig
	staleAfter time.Duration
}

// NewSelector validates cfg; stats older than staleAfter (by the reader's clock) make a node
// unavailable.
func NewSelector(cfg NodeSelectorConfig, staleAfter time.Duration) (*Selector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return &Selector{cfg: cfg.WithDefaults(), staleAfter: staleAfter}, nil
}

// Available keeps the SERVING nodes whose stats were updated within staleAfter of now.
func (s *Selector) Available(nodes []NodeInfo, now time.Time) []NodeInfo {
	var out []NodeInfo
	for _, n := range nodes {
		if n.State == StateServing && now.Sub(n.Stats.UpdatedAt()) <= s.staleAfter {
			out = append(out, n)
		}
	}
	return out
}

// Select returns the node a new room should go to.
func (s *Selector) Select(nodes []NodeInfo, now time.Time) (NodeInfo, error) {
	nodes = s.Available(nodes, now)
	if len(nodes) == 0 {
		return NodeInfo{}, ErrNoNodes
	}
	if low := s.underLimit(nodes); len(low) > 0 {
		nodes = low
	}
	if s.cfg.SortBy == SortRandom {
		return nodes[rand.IntN(len(nodes))], nil
	}
	var best []NodeInfo
	bestV := 0.0
	for _, n := range nodes {
		v := sortValue(n.Stats, s.cfg.SortBy)
		switch {
		case len(best) == 0 || v < bestV:
			best, bestV = []NodeInfo{n}, v
		case v == bestV:
			best = append(best, n)
		}
	}
	return best[rand.IntN(len(best))], nil
}

// underLimit applies the kind's load limit.
func (s *Selector) underLimit(nodes []NodeInfo) []NodeInfo {
	var out []NodeInfo
	for _, n := range nodes {
		switch s.cfg.Kind {
		case SelectCPULoad:
			if n.Stats.CPULoad >= s.cfg.CPULoadLimit {
				continue
			}
		case SelectSysload:
			if n.Stats.Sysload() >= s.cfg.SysloadLimit {
				continue
			}
		}
		out = append(out, n)
	}
	return out
}

// sortValue is the quantity sort_by minimises.
func sortValue(st NodeStats, key string) float64 {
	switch key {
	case SortSysload:
		return st.Sysload()
	case SortCPULoad:
		return st.CPULoad
	case SortRooms:
		return float64(st.Rooms)
	case SortClients:
		return float64(st.Participants)
	case SortTracks:
		return float64(st.Tracks)
	case SortBytesPerSec:
		return st.BytesInPerSec + st.BytesOutPerSec
	}
	return 0
}
