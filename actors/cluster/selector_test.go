package cluster_test

import (
	"errors"
	"testing"
	"time"

	"github.com/actor-sfu/livekit-server/actors/cluster"
)

func node(id string, st cluster.NodeStats) cluster.NodeInfo {
	st.NumCPUs = 4
	if st.UpdatedAtMs == 0 {
		st.UpdatedAtMs = time.Now().UnixMilli()
	}
	return cluster.NodeInfo{ID: id, State: cluster.StateServing, Stats: st}
}

func pick(t *testing.T, cfg cluster.NodeSelectorConfig, nodes ...cluster.NodeInfo) string {
	t.Helper()
	s, err := cluster.NewSelector(cfg, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Select(nodes, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return n.ID
}

func TestSelectorSortKeys(t *testing.T) {
	a := node("a", cluster.NodeStats{CPULoad: 0.1, LoadAvg1: 3.2, Rooms: 9, Participants: 1, Tracks: 8, BytesInPerSec: 10})
	b := node("b", cluster.NodeStats{CPULoad: 0.5, LoadAvg1: 0.4, Rooms: 1, Participants: 7, Tracks: 2, BytesOutPerSec: 5})
	c := node("c", cluster.NodeStats{CPULoad: 0.3, LoadAvg1: 2.0, Rooms: 5, Participants: 0, Tracks: 9, BytesInPerSec: 1})
	for key, want := range map[string]string{
		"cpuload": "a", "sysload": "b", "rooms": "b", "clients": "c", "tracks": "b", "bytespersec": "c",
	} {
		if got := pick(t, cluster.NodeSelectorConfig{SortBy: key}, a, b, c); got != want {
			t.Errorf("sort_by %s picked %s, want %s", key, got, want)
		}
	}
}

func TestSelectorKindsAndAvailability(t *testing.T) {
	hot := node("hot", cluster.NodeStats{CPULoad: 0.95, LoadAvg1: 0.1})
	busy := node("busy", cluster.NodeStats{CPULoad: 0.2, LoadAvg1: 3.9}) // sysload 0.975
	if got := pick(t, cluster.NodeSelectorConfig{Kind: "cpuload", SortBy: "sysload"}, hot, busy); got != "busy" {
		t.Errorf("cpuload kind kept the hot node: %s", got)
	}
	if got := pick(t, cluster.NodeSelectorConfig{Kind: "sysload", SortBy: "cpuload"}, hot, busy); got != "hot" {
		t.Errorf("sysload kind kept the loaded node: %s", got)
	}
	// Every node over the limit: all stay candidates (LiveKit does the same).
	if got := pick(t, cluster.NodeSelectorConfig{Kind: "cpuload", CPULoadLimit: 0.1, SortBy: "cpuload"}, hot, busy); got != "busy" {
		t.Errorf("all over the limit: picked %s", got)
	}
	draining := node("draining", cluster.NodeStats{})
	draining.State = cluster.StateShuttingDown
	stale := node("stale", cluster.NodeStats{UpdatedAtMs: time.Now().Add(-time.Minute).UnixMilli()})
	for range 20 {
		if got := pick(t, cluster.NodeSelectorConfig{}, draining, stale, busy); got != "busy" {
			t.Fatalf("picked unavailable node %s", got)
		}
	}
	s, _ := cluster.NewSelector(cluster.NodeSelectorConfig{}, 5*time.Second)
	if _, err := s.Select([]cluster.NodeInfo{draining, stale}, time.Now()); !errors.Is(err, cluster.ErrNoNodes) {
		t.Fatalf("no available node: %v", err)
	}
}

func TestSelectorRandomUsesAll(t *testing.T) {
	seen := map[string]int{}
	nodes := []cluster.NodeInfo{node("a", cluster.NodeStats{}), node("b", cluster.NodeStats{}), node("c", cluster.NodeStats{})}
	for range 300 {
		seen[pick(t, cluster.NodeSelectorConfig{}, nodes...)]++
	}
	for _, id := range []string{"a", "b", "c"} {
		if seen[id] < 50 {
			t.Fatalf("random selection is lopsided: %v", seen)
		}
	}
}
