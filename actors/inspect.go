package actors

// The debug view: per-actor stats (mailbox middleware plus figures each actor publishes), the
// inspector that maps actor ids to them, and Node.Tree.

import (
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// actorStats is what the inspector and Node.Stats know about one actor without asking it
// anything: the mailbox counters (it is the actor's mailbox middleware) and the figures the actor
// itself publishes for the debug view and /metrics. Only the actor it describes writes the
// figures; domain code never reads them.
type actorStats struct {
	kind      string
	queued    atomic.Int64
	processed atomic.Int64
	// describe returns kind-specific figures for the debug view. It runs on the inspector's
	// goroutine, so it may read only atomics and fields that never change after spawn.
	describe func() map[string]any
	// subscribers is a track actor's subscriber count.
	subscribers atomic.Int64
	// quality is a participant's latest connection rating plus one; 0 means not rated yet.
	quality atomic.Int32
	// trackType is a track actor's livekit.TrackType plus one (0: not a track), for /metrics.
	trackType atomic.Int32
}

// bitrateMeter turns a growing byte count into a bitrate. Several readers (debug pages, scrapes)
// may ask at any pace; the rate is recomputed at most every half second so that two readers
// polling a moment apart do not see noise.
type bitrateMeter struct {
	mu    sync.Mutex
	bytes uint64
	at    time.Time
	bps   uint64
}

// newBitrateMeter starts a meter at zero bytes now, so that the first reading already averages
// over the stream's life instead of showing nothing.
func newBitrateMeter() *bitrateMeter { return &bitrateMeter{at: time.Now()} }

func (m *bitrateMeter) update(bytes uint64) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	switch {
	case m.at.IsZero() || bytes < m.bytes:
		m.bytes, m.at = bytes, now
	case now.Sub(m.at) >= 500*time.Millisecond:
		m.bps = uint64(float64(bytes-m.bytes) * 8 / now.Sub(m.at).Seconds())
		m.bytes, m.at = bytes, now
	}
	return m.bps
}

var _ actor.MailboxMiddleware = (*actorStats)(nil)

func (s *actorStats) MailboxStarted() {}
func (s *actorStats) MailboxEmpty()   {}

func (s *actorStats) MessagePosted(m any) {
	if _, sys := m.(actor.SystemMessage); !sys {
		s.queued.Add(1)
	}
}

func (s *actorStats) MessageReceived(m any) {
	if _, sys := m.(actor.SystemMessage); !sys {
		s.queued.Add(-1)
		s.processed.Add(1)
	}
}

// inspector maps actor ids to their stats. Node.spawn registers an actor once SpawnNamed has
// succeeded; the actor unregisters itself on Stopped.
type inspector struct{ byID sync.Map }

func (in *inspector) add(id string, s *actorStats) { in.byID.Store(id, s) }
func (in *inspector) remove(id string)             { in.byID.Delete(id) }

// eachLive calls fn for every live actor of the node with its stats (nil for an actor not
// registered yet). It walks protoactor's process registry, the truth of what is alive, and
// sends no message.
func (n *Node) eachLive(fn func(id string, s *actorStats)) {
	for _, bucket := range n.system.ProcessRegistry.LocalPIDs.LocalPIDs {
		for _, id := range bucket.Keys() {
			if id != "node" && !strings.HasPrefix(id, "node/") {
				continue // futures, dead letters, event stream
			}
			var st *actorStats
			if v, ok := n.inspector.byID.Load(id); ok {
				st = v.(*actorStats)
			}
			fn(id, st)
		}
	}
}

// Tree lists the live actors of the node, parents before children, for the debug view. It
// sends no message.
func (n *Node) Tree() []ActorInfo {
	var out []ActorInfo
	n.eachLive(func(id string, s *actorStats) {
		info := ActorInfo{Path: "/" + id, Kind: "unknown"}
		if s != nil {
			info.Kind = s.kind
			info.Mailbox = s.queued.Load()
			info.Processed = s.processed.Load()
			if s.describe != nil {
				info.Stats = s.describe()
			}
		}
		out = append(out, info)
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}
