package actors

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actor-sfu/livekit-server/actors/media"
	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// actorStats is what the inspector knows about one actor without asking it anything. It doubles as
// the actor's mailbox middleware, counting user messages in and out.
type actorStats struct {
	kind      string
	queued    atomic.Int64
	processed atomic.Int64
	// describe returns kind-specific figures. It runs on the inspector's goroutine, so it may read
	// only atomics and fields that never change after spawn.
	describe func() map[string]any

	// subscribers is set on track actors: who receives the track, through which DownTrack. The
	// track actor is its only writer; the room (connection quality) and the inspector read it.
	subscribers atomic.Pointer[[]subscriberRef]
	// view is set on participant actors by their room: what only the room knows about them.
	view atomic.Pointer[participantView]
}

// subscriberRef is one subscriber of a track: its participant actor's id and its DownTrack.
type subscriberRef struct {
	actorID string
	down    *media.DownTrack
	rate    *bitrateMeter
}

// participantView is the room's latest word on one participant, for the inspector.
type participantView struct {
	identity string
	state    livekit.ParticipantInfo_State
	quality  livekit.ConnectionQuality
	score    float32
	scored   bool // quality and score were computed at least once
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

// inspector maps actor ids to their stats. Actors register in their producer (before the first
// message) and unregister on Stopped.
type inspector struct{ byID sync.Map }

func (in *inspector) add(id string, s *actorStats) { in.byID.Store(id, s) }
func (in *inspector) remove(id string)             { in.byID.Delete(id) }

// Tree lists the live actors of the node, parents before children. It walks protoactor's process
// registry (the truth of what is alive) and joins each id with its stats; it sends no message.
func (n *Node) Tree() []ActorInfo {
	var out []ActorInfo
	for _, bucket := range n.system.ProcessRegistry.LocalPIDs.LocalPIDs {
		for _, id := range bucket.Keys() {
			if id != "node" && !strings.HasPrefix(id, "node/") {
				continue // futures, dead letters, event stream
			}
			info := ActorInfo{Path: "/" + id, Kind: "unknown"}
			if v, ok := n.inspector.byID.Load(id); ok {
				s := v.(*actorStats)
				info.Kind = s.kind
				info.Mailbox = s.queued.Load()
				info.Processed = s.processed.Load()
				if s.describe != nil {
					info.Stats = s.describe()
				}
				if v := s.view.Load(); v != nil {
					if info.Stats == nil {
						info.Stats = map[string]any{}
					}
					info.Stats["identity"] = v.identity
					info.Stats["state"] = v.state.String()
					if v.scored {
						info.Stats["quality"] = v.quality.String()
						info.Stats["score"] = v.score
					}
				}
			}
			out = append(out, info)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// InjectPanic makes the actor at path (as listed by Tree) panic while handling a message. It exists
// to prove supervision in tests: a participant's panic must not take its room down, nor a room's
// the node.
func (n *Node) InjectPanic(path string) error {
	id := strings.TrimPrefix(path, "/")
	proc, ok := n.system.ProcessRegistry.GetLocal(id)
	if !ok || !strings.HasPrefix(id, "node") {
		return fmt.Errorf("no actor at %q: %w", path, ErrInvalidArgument)
	}
	_ = proc
	n.system.Root.Send(actor.NewPID(n.system.Address(), id), &injectPanic{})
	return nil
}
