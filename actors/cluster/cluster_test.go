package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actor-sfu/livekit-server/actors/cluster"
	"github.com/actor-sfu/livekit-server/testkit/redis"
)

// Short periods keep the tests fast: refresh every 100 ms, dead after 1 s (ten refreshes of
// slack for a loaded machine).
const (
	testRefresh = 100 * time.Millisecond
	testTTL     = time.Second
)

// testNode is one "node" of a test cluster: its cluster view, a context whose cancel makes it
// stop refreshing like a crashed process, and the rooms it reports hosting.
type testNode struct {
	*cluster.Cluster
	id     string
	cancel context.CancelFunc
	rooms  atomic.Int64
}

func startNode(t *testing.T, srv *redis.Server, id string, sel cluster.NodeSelectorConfig) *testNode {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n := &testNode{id: id, cancel: cancel}
	rdb, err := cluster.NewClient(cluster.RedisConfig{Address: srv.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cluster.Start(ctx, rdb, cluster.Config{NodeSelector: sel, Region: "test"}, cluster.RegistryOptions{
		NodeID: id, HTTPAddr: "127.0.0.1:7880", RemoteAddr: "127.0.0.1:" + id, MediaIP: "127.0.0.1",
		Refresh: testRefresh, TTL: testTTL, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Stats: func() cluster.NodeStats { return cluster.NodeStats{Rooms: int(n.rooms.Load())} },
	}, nil)
	if err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	n.Cluster = c
	t.Cleanup(func() {
		cancel()
		_ = rdb.Close()
	})
	return n
}

func startNodes(t *testing.T, srv *redis.Server, count int, sel cluster.NodeSelectorConfig) []*testNode {
	var nodes []*testNode
	for i := range count {
		nodes = append(nodes, startNode(t, srv, fmt.Sprintf("ND_%d", i+1), sel))
	}
	return nodes
}

func nodeIDs(t *testing.T, n *testNode) []string {
	t.Helper()
	infos, err := n.Registry.Nodes(context.Background())
	if err != nil {
		t.Fatalf("nodes: %v", err)
	}
	var ids []string
	for _, i := range infos {
		ids = append(ids, i.ID)
	}
	return ids
}

// waitFor polls cond every 20 ms until it holds or d passes, and returns how long it took.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

func TestRegistryNodesSeeEachOther(t *testing.T) {
	srv := redis.Start(t)
	nodes := startNodes(t, srv, 3, cluster.NodeSelectorConfig{})
	nodes[1].rooms.Store(7)
	want := []string{"ND_1", "ND_2", "ND_3"}
	for _, n := range nodes {
		if got := nodeIDs(t, n); !slices.Equal(got, want) {
			t.Fatalf("%s lists %v, want %v", n.id, got, want)
		}
	}
	waitFor(t, 2*time.Second, "ND_2's stats reach ND_3", func() bool {
		info, ok, err := nodes[2].Registry.Node(context.Background(), "ND_2")
		return err == nil && ok && info.Stats.Rooms == 7
	})
	info, _, _ := nodes[0].Registry.Node(context.Background(), "ND_2")
	if info.RemoteAddr != "127.0.0.1:ND_2" || info.MediaIP != "127.0.0.1" || info.State != cluster.StateServing ||
		info.Region != "test" || info.Stats.NumCPUs < 1 || info.Stats.CPULoad < 0 || info.Stats.CPULoad > 1 {
		t.Fatalf("ND_2 as seen by ND_1: %+v", info)
	}

	if err := nodes[1].Registry.SetState(context.Background(), cluster.StateShuttingDown); err != nil {
		t.Fatal(err)
	}
	info, _, _ = nodes[0].Registry.Node(context.Background(), "ND_2")
	if info.State != cluster.StateShuttingDown {
		t.Fatalf("state after SetState: %s", info.State)
	}
	if err := nodes[1].Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := nodeIDs(t, nodes[0]); !slices.Equal(got, []string{"ND_1", "ND_3"}) {
		t.Fatalf("after ND_2 stopped: %v", got)
	}
}

func TestRegistrySilentNodeExpires(t *testing.T) {
	srv := redis.Start(t)
	nodes := startNodes(t, srv, 3, cluster.NodeSelectorConfig{})
	// Outlive several refreshes first: live nodes must stay listed past their TTL.
	time.Sleep(2 * testTTL)
	if got := nodeIDs(t, nodes[0]); len(got) != 3 {
		t.Fatalf("refreshing nodes dropped out: %v", got)
	}
	nodes[2].cancel() // ND_3 stops refreshing, as a killed process would
	took := waitFor(t, 4*testTTL, "ND_3 disappears", func() bool {
		return !slices.Contains(nodeIDs(t, nodes[0]), "ND_3")
	})
	t.Logf("silent node gone after %v (TTL %v)", took.Round(time.Millisecond), testTTL)
	if took < testTTL-2*testRefresh {
		t.Fatalf("ND_3 vanished after %v, before its TTL %v ran out", took, testTTL)
	}
	if got := nodeIDs(t, nodes[1]); !slices.Equal(got, []string{"ND_1", "ND_2"}) {
		t.Fatalf("ND_2 lists %v", got)
	}
}

func TestPlaceConcurrentSameNames(t *testing.T) {
	srv := redis.Start(t)
	nodes := startNodes(t, srv, 3, cluster.NodeSelectorConfig{SortBy: cluster.SortRandom})
	const calls, names = 50, 10
	answers := make([]string, calls)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			n, err := nodes[i%3].Placer.Place(context.Background(), fmt.Sprintf("room-%d", i%names))
			if err != nil {
				t.Errorf("place %d: %v", i, err)
				return
			}
			answers[i] = n.ID
		}()
	}
	close(start)
	wg.Wait()

	keys, err := srv.Client().Keys(context.Background(), "livekit:rooms/*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != names {
		t.Fatalf("%d directory entries, want %d: %v", len(keys), names, keys)
	}
	owners := map[string]bool{}
	for i, got := range answers {
		room := fmt.Sprintf("room-%d", i%names)
		stored, ok, err := nodes[0].Directory.Lookup(context.Background(), room)
		if err != nil || !ok {
			t.Fatalf("lookup %s: %v %v", room, ok, err)
		}
		if got != stored {
			t.Fatalf("call %d for %s answered %s, directory says %s", i, room, got, stored)
		}
		owners[stored] = true
	}
	t.Logf("10 rooms placed on %d distinct nodes", len(owners))
}

// placeAndHost places n rooms from all nodes at once and, as the room's node would, claims each
// room on the node the placer chose and counts it in that node's stats.
func placeAndHost(t *testing.T, nodes []*testNode, prefix string, n int) map[string]int {
	t.Helper()
	byID := map[string]*testNode{}
	for _, nd := range nodes {
		byID[nd.id] = nd
	}
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			room := fmt.Sprintf("%s-%d", prefix, i)
			info, err := nodes[i%len(nodes)].Placer.Place(context.Background(), room)
			if err != nil {
				t.Errorf("place %s: %v", room, err)
				return
			}
			host := byID[info.ID]
			if err := host.Directory.Claim(context.Background(), room); err != nil {
				t.Errorf("claim %s on %s: %v", room, info.ID, err)
			}
			host.rooms.Add(1)
			mu.Lock()
			counts[info.ID]++
			mu.Unlock()
			time.Sleep(5 * time.Millisecond) // a room takes a moment to start
		}()
	}
	wg.Wait()
	return counts
}

func TestSelectorSpreadsByLoad(t *testing.T) {
	srv := redis.Start(t)
	nodes := startNodes(t, srv, 3, cluster.NodeSelectorConfig{SortBy: cluster.SortRooms})
	counts := placeAndHost(t, nodes, "even", 30)
	t.Logf("30 rooms over 3 equal nodes: %v", counts)
	for _, n := range nodes {
		if c := counts[n.id]; c > 15 || c == 0 {
			t.Fatalf("%s got %d of 30 rooms: %v", n.id, c, counts)
		}
	}
}

func TestSelectorAvoidsLoadedNode(t *testing.T) {
	srv := redis.Start(t)
	nodes := startNodes(t, srv, 3, cluster.NodeSelectorConfig{SortBy: cluster.SortRooms})
	nodes[0].rooms.Store(20) // ND_1 already holds 20 rooms
	waitFor(t, 2*time.Second, "ND_1's load is advertised", func() bool {
		info, ok, err := nodes[2].Registry.Node(context.Background(), "ND_1")
		return err == nil && ok && info.Stats.Rooms == 20
	})
	counts := placeAndHost(t, nodes, "loaded", 30)
	t.Logf("30 rooms with ND_1 at 20: %v", counts)
	if counts["ND_1"] != 0 {
		t.Fatalf("the loaded node got %d rooms while the others had fewer than 20: %v", counts["ND_1"], counts)
	}
}

func TestPlaceShuttingDownNodeGetsNoRooms(t *testing.T) {
	srv := redis.Start(t)
	nodes := startNodes(t, srv, 3, cluster.NodeSelectorConfig{SortBy: cluster.SortRandom})
	if err := nodes[1].Directory.Claim(context.Background(), "old"); err != nil {
		t.Fatal(err)
	}
	if err := nodes[1].Registry.SetState(context.Background(), cluster.StateShuttingDown); err != nil {
		t.Fatal(err)
	}
	counts := placeAndHost(t, nodes, "drain", 20)
	if counts["ND_2"] != 0 {
		t.Fatalf("draining ND_2 got %d new rooms: %v", counts["ND_2"], counts)
	}
	if info, err := nodes[0].Placer.Place(context.Background(), "old"); err != nil || info.ID != "ND_2" {
		t.Fatalf("a room already on the draining node moved: %v %v", info.ID, err)
	}
}

func TestDeadNodesRoomTakenOver(t *testing.T) {
	srv := redis.Start(t)
	nodes := startNodes(t, srv, 3, cluster.NodeSelectorConfig{})
	ctx := context.Background()
	if err := nodes[0].Directory.Claim(ctx, "orphan"); err != nil {
		t.Fatal(err)
	}
	if info, err := nodes[1].Placer.Place(ctx, "orphan"); err != nil || info.ID != "ND_1" {
		t.Fatalf("live owner not kept: %v %v", info.ID, err)
	}
	nodes[0].cancel()
	waitFor(t, 4*testTTL, "ND_1 expires", func() bool { return !slices.Contains(nodeIDs(t, nodes[1]), "ND_1") })

	// ND_2 and ND_3 find the dead owner at the same moment; both must end on one new owner.
	var wg sync.WaitGroup
	got := make([]string, 2)
	for i, n := range nodes[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			info, err := n.Placer.Place(ctx, "orphan")
			if err != nil {
				t.Errorf("%s: %v", n.id, err)
			}
			got[i] = info.ID
		}()
	}
	wg.Wait()
	stored, _, _ := nodes[1].Directory.Lookup(ctx, "orphan")
	if got[0] != got[1] || got[0] != stored || stored == "ND_1" {
		t.Fatalf("take-over answers %v, directory %q", got, stored)
	}
	// The dead node's late release must not delete the new owner's entry.
	if err := nodes[0].Directory.Release(ctx, "orphan"); err != nil {
		t.Fatal(err)
	}
	if after, ok, _ := nodes[1].Directory.Lookup(ctx, "orphan"); !ok || after != stored {
		t.Fatalf("stale release changed the entry: %q %v", after, ok)
	}
	// The owner's release does.
	owner := nodes[1]
	if stored == "ND_3" {
		owner = nodes[2]
	}
	if err := owner.Directory.Claim(ctx, "orphan"); err != nil {
		t.Fatal(err)
	}
	if err := owner.Directory.Release(ctx, "orphan"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := nodes[1].Directory.Lookup(ctx, "orphan"); ok {
		t.Fatal("released room still in the directory")
	}
}

func TestRedisRestartRebuilds(t *testing.T) {
	srv := redis.Start(t)
	nodes := startNodes(t, srv, 3, cluster.NodeSelectorConfig{})
	ctx := context.Background()
	want := map[string]string{}
	for i := range 9 {
		n := nodes[i%3]
		room := fmt.Sprintf("kept-%d", i)
		if err := n.Directory.Claim(ctx, room); err != nil {
			t.Fatal(err)
		}
		want[room] = n.id
	}
	before := runID(t, srv)
	// Down for longer than a TTL, then back empty on the same port.
	srv.Stop()
	time.Sleep(2 * testTTL)
	srv.StartAgain()
	if runID(t, srv) == before {
		t.Fatal("redis-server did not restart")
	}
	took := waitFor(t, 5*time.Second, "registry and directory rebuilt", func() bool {
		if len(nodeIDs(t, nodes[0])) != 3 {
			return false
		}
		for room, owner := range want {
			got, ok, err := nodes[0].Directory.Lookup(ctx, room)
			if err != nil || !ok || got != owner {
				return false
			}
		}
		return true
	})
	t.Logf("rebuilt %v after redis-server answered again", took.Round(time.Millisecond))
}

// runID is the server's run_id, new at every start.
func runID(t *testing.T, srv *redis.Server) string {
	t.Helper()
	info, err := srv.Client().Info(context.Background(), "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(line, "run_id:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("no run_id in INFO")
	return ""
}

// Without Redis no room is placed; once it is back (empty), placement waits for the directory to
// be rebuilt, so the room held before the outage is found on its node, not placed anew.
func TestPlaceWithoutRedisFails(t *testing.T) {
	srv := redis.Start(t)
	nodes := startNodes(t, srv, 2, cluster.NodeSelectorConfig{})
	if err := nodes[0].Directory.Claim(context.Background(), "before"); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	waitFor(t, 4*time.Second, "ND_2 notices", func() bool {
		return errors.Is(nodes[1].Registry.Ready(), cluster.ErrRedisUnavailable)
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if n, err := nodes[1].Placer.Place(ctx, "during"); err == nil {
		t.Fatalf("placed on %s while Redis was down", n.ID)
	}
	srv.StartAgain()
	var got cluster.NodeInfo
	waitFor(t, 5*time.Second, "placement works again", func() bool {
		n, err := nodes[1].Placer.Place(context.Background(), "before")
		got = n
		return err == nil
	})
	if got.ID != "ND_1" {
		t.Fatalf("the room held before the outage was placed anew on %s", got.ID)
	}
}
