package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis keys of the registry. Both carry the hash tag {livekit-nodes} so that on a Redis cluster
// they live in one slot and a listing is one MGET.
const (
	nodeIndexKey  = "{livekit-nodes}:index"
	nodeKeyPrefix = "{livekit-nodes}:nodes/"
)

func nodeKey(id string) string { return nodeKeyPrefix + id }

// NodeState is what a node advertises about accepting rooms.
type NodeState string

// Node states: only SERVING nodes get new rooms.
const (
	StateServing      NodeState = "SERVING"
	StateShuttingDown NodeState = "SHUTTING_DOWN"
)

// NodeStats is the load a node advertises. The node fills rooms, participants, tracks and bytes;
// the registry fills the rest on every refresh.
type NodeStats struct {
	UpdatedAtMs    int64   `json:"updated_at_ms"`
	NumCPUs        int     `json:"num_cpus"`
	CPULoad        float64 `json:"cpu_load"`
	LoadAvg1       float64 `json:"load_avg_1"`
	Rooms          int     `json:"rooms"`
	Participants   int     `json:"participants"`
	Tracks         int     `json:"tracks"`
	BytesInPerSec  float64 `json:"bytes_in_per_sec"`
	BytesOutPerSec float64 `json:"bytes_out_per_sec"`
}

// UpdatedAt is when the stats were taken, by the advertising node's clock.
func (s NodeStats) UpdatedAt() time.Time { return time.UnixMilli(s.UpdatedAtMs) }

// Sysload is the one-minute load average per CPU (LiveKit's sysload).
func (s NodeStats) Sysload() float64 {
	if s.NumCPUs <= 0 {
		return s.LoadAvg1
	}
	return s.LoadAvg1 / float64(s.NumCPUs)
}

// NodeInfo is one node's entry in the registry, stored as JSON under nodes/<id>.
type NodeInfo struct {
	ID          string    `json:"id"`
	Region      string    `json:"region,omitempty"`
	HTTPAddr    string    `json:"http_addr"`
	RemoteAddr  string    `json:"remote_addr"`
	MediaIP     string    `json:"media_ip"`
	State       NodeState `json:"state"`
	StartedAtMs int64     `json:"started_at_ms"`
	Stats       NodeStats `json:"stats"`
}

// RegistryOptions describes the node a Registry advertises and how often.
type RegistryOptions struct {
	NodeID     string
	Region     string
	HTTPAddr   string
	RemoteAddr string
	MediaIP    string
	// Refresh is the period of re-registration; default 2 s.
	Refresh time.Duration
	// TTL is how long an entry outlives its last refresh; default 3 × Refresh.
	TTL time.Duration
	// Stats, if set, returns the node's rooms, participants, tracks and bytes/s at each refresh.
	Stats func() NodeStats
	// OnResync, if set, runs after a refresh found the node's own entry missing although it had
	// registered before: Redis lost its data (restart without persistence) and shared state such as
	// the room directory must be written again. It runs on the refresh goroutine.
	OnResync func(ctx context.Context)
	Logger   *slog.Logger
}

// Registry keeps this node's entry fresh in Redis and lists the live nodes. A node that stops
// refreshing (crash, lost network) disappears when its TTL runs out.
type Registry struct {
	rdb  RedisClient
	opts RegistryOptions
	log  *slog.Logger
	cpu  cpuSampler

	mu         sync.Mutex
	state      NodeState
	registered bool
	startedAt  time.Time
	lastErr    error     // of the latest refresh
	resyncAt   time.Time // when a refresh last found Redis emptied

	cancel context.CancelFunc
	done   chan struct{}
}

// NewRegistry returns a registry for the node opts describes; Start registers it.
func NewRegistry(rdb RedisClient, opts RegistryOptions) (*Registry, error) {
	if opts.NodeID == "" {
		return nil, errors.New("cluster: registry needs a node id")
	}
	if opts.Refresh <= 0 {
		opts.Refresh = 2 * time.Second
	}
	if opts.TTL <= opts.Refresh {
		opts.TTL = 3 * opts.Refresh
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Registry{
		rdb: rdb, opts: opts, log: log.With("node_id", opts.NodeID),
		cpu:   cpuSampler{path: "/proc/stat"},
		state: StateServing, startedAt: time.Now(),
	}, nil
}

// NodeID is the id this registry advertises.
func (r *Registry) NodeID() string { return r.opts.NodeID }

// Refresh is the period between re-registrations.
func (r *Registry) Refresh() time.Duration { return r.opts.Refresh }

// TTL is how long an entry lives without a refresh.
func (r *Registry) TTL() time.Duration { return r.opts.TTL }

// Start registers the node once (failing if Redis cannot be reached) and then refreshes it every
// Refresh until Stop, or until ctx ends: cancelling ctx stops refreshing and leaves the entry to
// expire, as a crashed node would.
func (r *Registry) Start(ctx context.Context) error {
	if err := r.refresh(ctx); err != nil {
		return err
	}
	ctx, r.cancel = context.WithCancel(ctx)
	r.done = make(chan struct{})
	go r.loop(ctx)
	return nil
}

func (r *Registry) loop(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(r.opts.Refresh)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Bounded, so that a Redis that stopped answering is noticed (Ready) within about a second.
		rctx, cancel := context.WithTimeout(ctx, max(r.opts.Refresh, time.Second))
		err := r.refresh(rctx)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			r.log.Warn("cluster: registry refresh failed", "err", err)
			failing = true
		case err == nil && failing:
			r.log.Info("cluster: registry refresh works again")
			failing = false
		}
	}
}

// SetState changes the advertised state and writes it at once.
func (r *Registry) SetState(ctx context.Context, s NodeState) error {
	r.mu.Lock()
	r.state = s
	r.mu.Unlock()
	return r.refresh(ctx)
}

// Stop ends refreshing and removes the node's entry, so that others stop choosing it at once.
func (r *Registry) Stop(ctx context.Context) error {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, nodeKey(r.opts.NodeID))
		p.SRem(ctx, nodeIndexKey, r.opts.NodeID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("cluster: deregister %s: %w", r.opts.NodeID, err)
	}
	return nil
}

// Self is the entry as this node would write it now.
func (r *Registry) Self() NodeInfo {
	r.mu.Lock()
	state := r.state
	r.mu.Unlock()
	var st NodeStats
	if r.opts.Stats != nil {
		st = r.opts.Stats()
	}
	st.UpdatedAtMs = time.Now().UnixMilli()
	st.NumCPUs = runtime.NumCPU()
	if v, err := r.cpu.sample(); err == nil {
		st.CPULoad = v
	} else {
		r.log.Debug("cluster: cpu load", "err", err)
	}
	if v, err := readLoadAvg("/proc/loadavg"); err == nil {
		st.LoadAvg1 = v
	}
	return NodeInfo{
		ID: r.opts.NodeID, Region: r.opts.Region, HTTPAddr: r.opts.HTTPAddr,
		RemoteAddr: r.opts.RemoteAddr, MediaIP: r.opts.MediaIP, State: state,
		StartedAtMs: r.startedAt.UnixMilli(), Stats: st,
	}
}

// refresh writes the entry with its TTL, reading the previous value in the same command: a missing
// previous value after a first registration means Redis lost its data, so OnResync runs.
func (r *Registry) refresh(ctx context.Context) error {
	b, err := json.Marshal(r.Self())
	if err != nil {
		return fmt.Errorf("cluster: encode node: %w", err)
	}
	var prev *redis.StatusCmd
	_, err = r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		prev = p.SetArgs(ctx, nodeKey(r.opts.NodeID), b, redis.SetArgs{TTL: r.opts.TTL, Get: true})
		p.SAdd(ctx, nodeIndexKey, r.opts.NodeID)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		err = fmt.Errorf("cluster: register %s: %w", r.opts.NodeID, err)
		r.mu.Lock()
		r.lastErr = err
		r.mu.Unlock()
		return err
	}
	lost := errors.Is(prev.Err(), redis.Nil)
	r.mu.Lock()
	resync := lost && r.registered
	r.registered = true
	r.lastErr = nil
	if resync {
		r.resyncAt = time.Now()
	}
	r.mu.Unlock()
	if resync {
		r.log.Info("cluster: own registry entry was missing; rewriting shared state")
		if r.opts.OnResync != nil {
			r.opts.OnResync(ctx)
		}
	}
	return nil
}

// Errors of Ready.
var (
	ErrRedisUnavailable = errors.New("cluster: redis unavailable")
	ErrRebuilding       = errors.New("cluster: redis came back empty; directory is being rebuilt")
)

// Ready tells whether new rooms may be placed: not while this node's latest refresh failed
// (ErrRedisUnavailable), nor for one TTL after a refresh found Redis emptied (ErrRebuilding), the
// time every live node needs to register again and rewrite the rooms it holds.
func (r *Registry) Ready() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lastErr != nil {
		return fmt.Errorf("%w: %w", ErrRedisUnavailable, r.lastErr)
	}
	if !r.resyncAt.IsZero() && time.Since(r.resyncAt) < r.opts.TTL {
		return ErrRebuilding
	}
	return nil
}

// Nodes lists the nodes whose entries are alive, sorted by id. Ids whose entry expired are
// dropped from the index on the way.
func (r *Registry) Nodes(ctx context.Context) ([]NodeInfo, error) {
	ids, err := r.rdb.SMembers(ctx, nodeIndexKey).Result()
	if err != nil {
		return nil, fmt.Errorf("cluster: list nodes: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	slices.Sort(ids)
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = nodeKey(id)
	}
	vals, err := r.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("cluster: read nodes: %w", err)
	}
	var nodes []NodeInfo
	var gone []any
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			gone = append(gone, ids[i])
			continue
		}
		var n NodeInfo
		if err := json.Unmarshal([]byte(s), &n); err != nil {
			r.log.Warn("cluster: unreadable node entry", "node", ids[i], "err", err)
			continue
		}
		nodes = append(nodes, n)
	}
	if len(gone) > 0 {
		if err := r.rdb.SRem(ctx, nodeIndexKey, gone...).Err(); err != nil {
			r.log.Debug("cluster: prune node index", "err", err)
		}
	}
	return nodes, nil
}

// Node returns one live node's entry; ok is false when it is not registered (dead or unknown).
func (r *Registry) Node(ctx context.Context, id string) (NodeInfo, bool, error) {
	s, err := r.rdb.Get(ctx, nodeKey(id)).Result()
	if errors.Is(err, redis.Nil) {
		return NodeInfo{}, false, nil
	}
	if err != nil {
		return NodeInfo{}, false, fmt.Errorf("cluster: read node %s: %w", id, err)
	}
	var n NodeInfo
	if err := json.Unmarshal([]byte(s), &n); err != nil {
		return NodeInfo{}, false, fmt.Errorf("cluster: decode node %s: %w", id, err)
	}
	return n, true, nil
}
