package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/actors/media"
	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// Node is one SFU node: an actor system whose root actor (/node) owns the rooms, plus the WebRTC
// engine every participant shares.
type Node struct {
	cfg       Config
	log       *slog.Logger
	system    *actor.ActorSystem
	pid       *actor.PID
	engine    *media.Engine
	inspector inspector
	closed    atomic.Bool
	drops     dropCounters    // data and candidates dropped, for Stats
	ice       candidatePolicy // which remote ICE candidates the node contacts
	agents    *actor.PID      // /node/agents, the agent worker dispatcher
}

// NewNode starts a node: the actor system, the /node actor and the WebRTC engine.
func NewNode(cfg Config) (*Node, error) {
	cfg = withDefaults(cfg)
	log := cfg.Logger.With("node", cfg.NodeID)
	engine, err := media.NewEngine(cfg.Media, log.With("component", "media"))
	if err != nil {
		return nil, fmt.Errorf("starting media engine: %w", err)
	}
	quiet := slog.New(slog.DiscardHandler) // protoactor's own lines; the node logs what matters itself
	system := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }),
		// Dead letters are normal here (a message to a participant that just left); keep the
		// throttle window short so its timer goroutine does not outlive a closed node for long.
		actor.WithDeadLetterThrottleCount(0),
		actor.WithDeadLetterThrottleInterval(50*time.Millisecond),
	)
	bound, _ := netip.AddrFromSlice(engine.UDPAddr().IP)
	ice := newCandidatePolicy(bound.Unmap(), cfg.Media.NodeIP, cfg.Media.LoopbackOnly || cfg.Media.IncludeLoopback)
	n := &Node{cfg: cfg, log: log, system: system, engine: engine, ice: ice}
	system.EventStream.Subscribe(func(evt any) {
		if e, ok := evt.(*actor.SupervisorEvent); ok {
			log.Error("actor failed and was stopped", "actor", "/"+e.Child.Id, "reason", fmt.Sprint(e.Reason), "directive", e.Directive.String())
		}
	})
	agents, err := n.spawn(system.Root, "node/agents", "agents", func(st *actorStats) actor.Actor {
		d := newAgentDispatcher(n)
		st.describe = d.describe
		return d
	})
	if err != nil {
		_ = engine.Close()
		return nil, fmt.Errorf("spawning agent dispatcher: %w", err)
	}
	n.agents = agents
	pid, err := n.spawn(system.Root, "node", "node", func(st *actorStats) actor.Actor {
		na := &nodeActor{node: n, rooms: map[string]*roomEntry{}, stopping: map[string]*actor.PID{}, waiting: map[string][]pendingJoin{}}
		st.describe = na.describe
		return na
	}, actor.WithSupervisor(stopOnPanic()))
	if err != nil {
		_ = engine.Close()
		return nil, fmt.Errorf("spawning node actor: %w", err)
	}
	n.pid = pid
	log.Info("node started", "version", cfg.Version, "udp", engine.UDPAddr().String())
	return n, nil
}

func withDefaults(cfg Config) Config {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NodeID == "" {
		cfg.NodeID = newID("ND_")
	}
	if cfg.Version == "" {
		cfg.Version = ServerVersion
	}
	orDefault(&cfg.Room.EmptyTimeout, 5*time.Minute)
	orDefault(&cfg.Room.DepartureTimeout, 20*time.Second)
	orDefault(&cfg.PingInterval, 5*time.Second)
	orDefault(&cfg.PingTimeout, 15*time.Second)
	orDefault(&cfg.RequestTimeout, 5*time.Second)
	orDefault(&cfg.Agents.AvailabilityTimeout, 10*time.Second)
	cfg.Limits = limitsWithDefaults(cfg.Limits)
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&cfg.Session.DisconnectGrace, 5 * time.Second},
		{&cfg.Session.MaxSignalLoss, time.Minute},
		{&cfg.Session.TokenRefreshInterval, 5 * time.Minute},
	} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	return cfg
}

// limitsWithDefaults fills in the zero fields of l.
func limitsWithDefaults(l Limits) Limits {
	orDefault(&l.MaxTracksPerParticipant, 16)
	orDefault(&l.MaxMetadataSize, 64<<10)
	orDefault(&l.MaxAttributesSize, 64<<10)
	orDefault(&l.MaxDataPacketSize, 64<<10)
	orDefault(&l.DataMessagesPerSecond, 500)
	orDefault(&l.DataBytesPerSecond, 2<<20)
	orDefault(&l.DataChannelMaxBufferedAmount, 1<<20)
	orDefault(&l.MaxTrackNameSize, 256)
	orDefault(&l.MaxTrackLayers, 4)
	orDefault(&l.MaxSimulcastCodecs, 4)
	orDefault(&l.MaxParticipantNameSize, 256)
	orDefault(&l.MetadataUpdatesPerSecond, 5)
	orDefault(&l.ParticipantUpdateInterval, 100*time.Millisecond)
	orDefault(&l.ParticipantUpdateBytesPerSecond, 64<<10)
	orDefault(&l.MaxSubscriptionTracks, 1000)
	orDefault(&l.MaxICECandidatesPerPC, 50)
	return l
}

// orDefault sets *v to def when it is zero.
func orDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// UDPAddr is the address of the node's single ICE UDP port.
func (n *Node) UDPAddr() string { return n.engine.UDPAddr().String() }

// AutoCreate reports whether a join creates its room when the room does not exist
// (RoomConfig.DisableAutoCreate unset). The edge reads it to answer /rtc/validate without joining.
func (n *Node) AutoCreate() bool { return !n.cfg.Room.DisableAutoCreate }

// Close disconnects every participant with leave{SERVER_SHUTDOWN}, closes every room and waits
// until their actors are gone (or ctx ends), then stops the WebRTC engine.
func (n *Node) Close(ctx context.Context) error {
	if n.closed.Load() {
		return nil
	}
	res, err := askFor[*roomPIDs](ctx, n, &shutdown{})
	n.closed.Store(true)
	var waitErr error
	if err == nil {
		for _, pid := range res.pids {
			if err := n.waitStopped(ctx, pid); err != nil {
				waitErr = errors.Join(waitErr, fmt.Errorf("room %s: %w", pid.Id, err))
			}
		}
	}
	if err := n.waitStopped(ctx, n.pid); err != nil {
		waitErr = errors.Join(waitErr, fmt.Errorf("node actor: %w", err))
	}
	if err := n.waitStopped(ctx, n.agents); err != nil {
		waitErr = errors.Join(waitErr, fmt.Errorf("agent dispatcher: %w", err))
	}
	n.system.Shutdown()
	if err := n.engine.Close(); err != nil {
		waitErr = errors.Join(waitErr, fmt.Errorf("media engine: %w", err))
	}
	n.log.Info("node stopped")
	return errors.Join(err, waitErr)
}

// waitStopped stops pid with a poison pill and waits until it and its children are gone, or ctx
// ends (then the actor keeps stopping in the background).
func (n *Node) waitStopped(ctx context.Context, pid *actor.PID) error {
	done := make(chan error, 1)
	go func() { done <- n.system.Root.PoisonFuture(pid).Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("waiting for %s to stop: %w", pid.Id, ctx.Err())
	}
}

// spawn starts a named child actor with a stats-counting mailbox and registers its stats with the
// inspector once the spawn succeeded: a name already taken (a previous actor of that name still
// stopping) must leave the live actor's entry alone.
func (n *Node) spawn(parent actor.SpawnerContext, name, kind string, produce func(*actorStats) actor.Actor, opts ...actor.PropsOption) (*actor.PID, error) {
	st := &actorStats{kind: kind}
	opts = append(opts, actor.WithMailbox(actor.Unbounded(st)))
	if mw := n.cfg.ReceiverMiddleware; len(mw) > 0 {
		opts = append(opts, actor.WithReceiverMiddleware(mw...))
	}
	props := actor.PropsFromProducer(func() actor.Actor { return produce(st) }, opts...)
	pid, err := parent.SpawnNamed(props, name)
	if err != nil {
		return nil, err // callers say what they were spawning
	}
	n.inspector.add(pid.Id, st)
	if _, alive := n.system.ProcessRegistry.GetLocal(pid.Id); !alive {
		n.inspector.remove(pid.Id) // it stopped before it was registered; its Stopped found nothing
	}
	return pid, nil
}

// stopOnPanic is the supervision strategy of every parent: a failed child is stopped, never
// restarted. A restarted participant would leak its PeerConnections and desync its client; a
// restarted room would be a second, empty room under the same name.
func stopOnPanic() actor.SupervisorStrategy {
	return actor.NewOneForOneStrategy(0, time.Second, func(any) actor.Directive { return actor.StopDirective })
}

// roomEntry is the node's view of one room.
type roomEntry struct {
	pid  *actor.PID
	info *livekit.Room
	// joins counts the joinRoom messages forwarded to the room; compared with the room's own count
	// it tells whether a join is still in flight when the room reports itself idle.
	joins int
}

// pendingJoin is a join that waits for the previous room of the same name to finish stopping.
type pendingJoin struct {
	msg    *joinRoom
	sender *actor.PID
}

// nodeActor is /node: it creates, finds and forgets rooms.
//
// A room closes through the node (deleteRoom, shutdown, or the room reporting itself idle), and the
// node forgets it at that moment, so that no join is ever forwarded to a room that is stopping: a
// join that reached a stopped actor's mailbox would be dropped without an answer. Joins for a name
// whose previous room is still stopping wait in waiting and go to a new room once it is gone.
type nodeActor struct {
	node         *Node
	rooms        map[string]*roomEntry
	stopping     map[string]*actor.PID    // rooms told to close, by name, until Terminated
	waiting      map[string][]pendingJoin // joins for a name that is stopping
	numRooms     atomic.Int64
	shuttingDown bool
}

func (a *nodeActor) describe() map[string]any {
	return map[string]any{"rooms": a.numRooms.Load()}
}

// Receive handles the node's messages.
func (a *nodeActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *createRoom:
		e, err := a.ensureRoom(ctx, m.req, true)
		if err != nil {
			ctx.Respond(&replyError{err})
			return
		}
		ctx.Respond(proto.Clone(e.info))
	case *listRooms:
		ctx.Respond(&roomList{rooms: a.list(m.names)})
	case *deleteRoom:
		e, found := a.rooms[m.name]
		if !found {
			ctx.Respond(&replyError{fmt.Errorf("room %q: %w", m.name, ErrRoomNotFound)})
			return
		}
		a.closeRoom(ctx, m.name, e, livekit.DisconnectReason_ROOM_DELETED)
		ctx.Respond(&roomDeleted{pid: e.pid})
	case *toRoom:
		e, found := a.rooms[m.room]
		if !found {
			ctx.Respond(&replyError{fmt.Errorf("room %q: %w", m.room, ErrRoomNotFound)})
			return
		}
		ctx.RequestWithCustomSender(e.pid, m.msg, ctx.Sender())
	case *joinRoom:
		a.join(ctx, m, ctx.Sender())
	case *roomIdle:
		for name, e := range a.rooms {
			if e.pid.Equal(m.pid) {
				if e.joins == m.joinsSeen {
					a.node.log.Info("room closed: nobody here", "room", name)
					a.closeRoom(ctx, name, e, livekit.DisconnectReason_ROOM_CLOSED)
				}
				break
			}
		}
	case *roomSummary:
		if e, found := a.rooms[m.room.GetName()]; found && e.info.GetSid() == m.room.GetSid() {
			e.info = m.room
		}
	case *actor.Terminated:
		for name, e := range a.rooms {
			if e.pid.Equal(m.Who) {
				a.forget(name)
				break
			}
		}
		for name, pid := range a.stopping {
			if pid.Equal(m.Who) {
				delete(a.stopping, name)
				queued := a.waiting[name]
				delete(a.waiting, name)
				for _, p := range queued {
					a.join(ctx, p.msg, p.sender)
				}
				break
			}
		}
	case *shutdown:
		a.shuttingDown = true
		pids := make([]*actor.PID, 0, len(a.rooms))
		for name, e := range a.rooms {
			pids = append(pids, e.pid)
			a.closeRoom(ctx, name, e, livekit.DisconnectReason_SERVER_SHUTDOWN)
		}
		for name, queued := range a.waiting {
			for _, p := range queued {
				ctx.Send(p.sender, &replyError{fmt.Errorf("room %q: %w", name, ErrNodeClosed)})
			}
		}
		clear(a.waiting)
		ctx.Respond(&roomPIDs{pids: pids})
	case *actor.Stopped:
		a.node.inspector.remove(ctx.Self().Id)
	}
}

// join admits a join to its room, creating the room if needed, or queues it while the previous room
// of that name is still stopping. sender is who waits for the reply.
func (a *nodeActor) join(ctx actor.Context, m *joinRoom, sender *actor.PID) {
	name := m.req.Room
	if _, busy := a.stopping[name]; busy && a.rooms[name] == nil && !a.shuttingDown {
		a.waiting[name] = append(a.waiting[name], pendingJoin{msg: m, sender: sender})
		return
	}
	e, err := a.ensureRoom(ctx, &livekit.CreateRoomRequest{Name: name}, !a.node.cfg.Room.DisableAutoCreate)
	if err != nil {
		ctx.Send(sender, &replyError{err})
		return
	}
	e.joins++
	ctx.RequestWithCustomSender(e.pid, m, sender)
}

// closeRoom forgets a room and tells it to close; joins for its name wait until it is gone.
func (a *nodeActor) closeRoom(ctx actor.Context, name string, e *roomEntry, reason livekit.DisconnectReason) {
	a.forget(name)
	a.stopping[name] = e.pid
	ctx.Send(e.pid, &closeRoom{reason: reason})
}

func (a *nodeActor) forget(name string) {
	if e := a.rooms[name]; e != nil {
		a.node.system.Root.Send(a.node.agents, &agentRoomClosed{name: name, sid: e.info.GetSid()})
	}
	delete(a.rooms, name)
	a.numRooms.Store(int64(len(a.rooms)))
}

// ensureRoom returns the named room, creating it when create is true.
func (a *nodeActor) ensureRoom(ctx actor.Context, req *livekit.CreateRoomRequest, create bool) (*roomEntry, error) {
	if e, found := a.rooms[req.GetName()]; found {
		return e, nil
	}
	switch {
	case a.shuttingDown:
		return nil, ErrNodeClosed
	case !create:
		return nil, fmt.Errorf("room %q: %w", req.GetName(), ErrRoomNotFound)
	case a.node.cfg.Limits.MaxRooms > 0 && len(a.rooms) >= a.node.cfg.Limits.MaxRooms:
		return nil, fmt.Errorf("%d rooms open: %w", len(a.rooms), ErrTooManyRooms)
	}
	now := time.Now()
	cfg := a.node.cfg.Room
	info := &livekit.Room{
		Sid:              newID("RM_"),
		Name:             req.GetName(),
		EmptyTimeout:     ceilSeconds(cfg.EmptyTimeout),
		DepartureTimeout: ceilSeconds(cfg.DepartureTimeout),
		MaxParticipants:  uint32(cfg.MaxParticipants),
		CreationTime:     now.Unix(),
		CreationTimeMs:   now.UnixMilli(),
		Metadata:         req.GetMetadata(),
	}
	if req.GetEmptyTimeout() > 0 {
		info.EmptyTimeout = req.GetEmptyTimeout()
	}
	if req.GetDepartureTimeout() > 0 {
		info.DepartureTimeout = req.GetDepartureTimeout()
	}
	if req.GetMaxParticipants() > 0 {
		info.MaxParticipants = req.GetMaxParticipants()
	}
	pid, err := a.node.spawn(ctx, "rooms/"+pathSegment(req.GetName()), "room", func(st *actorStats) actor.Actor {
		return newRoomActor(a.node, proto.Clone(info).(*livekit.Room), st)
	}, actor.WithSupervisor(stopOnPanic()))
	if err != nil {
		if errors.Is(err, actor.ErrNameExists) {
			return nil, fmt.Errorf("room %q: %w", req.GetName(), ErrRoomClosing)
		}
		return nil, fmt.Errorf("spawning room %q: %w", req.GetName(), err)
	}
	e := &roomEntry{pid: pid, info: info}
	a.rooms[req.GetName()] = e
	a.numRooms.Store(int64(len(a.rooms)))
	a.node.log.Info("room created", "room", req.GetName(), "roomID", info.Sid)
	ctx.Send(a.node.agents, &agentRoomOpened{room: proto.Clone(info).(*livekit.Room), agents: req.GetAgents()})
	return e, nil
}

// ceilSeconds converts a timeout to the whole seconds of livekit.Room, rounding up: a sub-second
// timeout must not truncate to 0, which rooms read as "never".
func ceilSeconds(d time.Duration) uint32 {
	return uint32((d + time.Second - 1) / time.Second)
}

func (a *nodeActor) list(names []string) []*livekit.Room {
	out := make([]*livekit.Room, 0, len(a.rooms))
	if len(names) > 0 {
		for _, name := range names {
			if e, found := a.rooms[name]; found {
				out = append(out, proto.Clone(e.info).(*livekit.Room))
			}
		}
		return out
	}
	for _, e := range a.rooms {
		out = append(out, proto.Clone(e.info).(*livekit.Room))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
