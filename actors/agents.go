package actors

// The node's side of LiveKit's agent workers: the API the /agent edge and the AgentDispatchService
// call. The state lives in the dispatcher actor (/node/agents, agent_dispatcher.go).

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// AgentConfig tunes agent dispatch.
type AgentConfig struct {
	// AvailabilityTimeout is how long a worker has to answer an availability request before the
	// job is offered to another worker (LiveKit: 10 s).
	AvailabilityTimeout time.Duration
}

// ErrDispatchNotFound is returned for an unknown agent dispatch id.
var ErrDispatchNotFound = errors.New("dispatch ID not found")

// ErrBadWorker is returned when a worker's registration is not acceptable (unknown job type).
var ErrBadWorker = errors.New("invalid worker registration")

// AgentTokenClaims is what the access token of a job's participant says.
type AgentTokenClaims struct {
	Room, Identity, Name, Metadata string
	Attributes                     map[string]string
	// AgentName is the worker's agent_name (the lk.agent_name attribute).
	AgentName string
	// Permission is the worker's allowed_permissions (it becomes the video grant).
	Permission *livekit.ParticipantPermission
}

// AgentTokenMinter signs a job participant's token with the API key the worker connected with.
// The node calls it inside its dispatcher actor, so it must be quick and must not block.
type AgentTokenMinter func(AgentTokenClaims) (string, error)

// AgentWorkerConn is one worker connection as the edge hands it to the node.
type AgentWorkerConn struct {
	// Register is the worker's registration.
	Register *livekit.RegisterWorkerRequest
	// URL, when set, goes into every JobAssignment (the node's WebSocket URL as the worker reached it).
	URL string
	// Mint signs the job participants' tokens.
	Mint AgentTokenMinter
	// Send queues one frame for the worker. It must not block: an edge that cannot queue a frame
	// drops the connection (and calls AgentWorker.Close).
	Send func(*livekit.ServerMessage)
	// Disconnect, when set, is called when the node drops the worker (shutdown); it must not block.
	Disconnect func()
}

// AgentWorker is the edge's handle on a registered worker.
type AgentWorker struct {
	node *Node
	id   string
}

// ID is the worker's AW_ id.
func (w *AgentWorker) ID() string { return w.id }

// Handle passes a message from the worker (availability, update_worker, update_job) to the node.
// Other messages are ignored: register is answered once, ping is answered by the edge.
func (w *AgentWorker) Handle(msg *livekit.WorkerMessage) {
	w.node.system.Root.Send(w.node.agents, &workerMessage{workerID: w.id, msg: msg})
}

// Close tells the node that the worker's connection is gone: its jobs are forgotten and any offer
// it had not answered goes to another worker.
func (w *AgentWorker) Close() {
	w.node.system.Root.Send(w.node.agents, &workerGone{workerID: w.id})
}

// RegisterAgentWorker registers a worker. The node sends the RegisterWorkerResponse through
// c.Send before it returns, so that it is the worker's first frame.
func (n *Node) RegisterAgentWorker(ctx context.Context, c AgentWorkerConn) (*AgentWorker, error) {
	if c.Register == nil || c.Send == nil || c.Mint == nil {
		return nil, fmt.Errorf("register, send and mint are required: %w", ErrBadWorker)
	}
	id := newID("AW_")
	if _, err := askAgents[*workerRegistered](ctx, n, &registerWorker{id: id, conn: c}); err != nil {
		// A registration that timed out may still land: make sure it is forgotten.
		n.system.Root.Send(n.agents, &workerGone{workerID: id})
		return nil, err
	}
	return &AgentWorker{node: n, id: id}, nil
}

// CreateAgentDispatch dispatches an agent into a room, creating the room first when rooms are
// auto-created, and offers its job to a matching worker.
func (n *Node) CreateAgentDispatch(ctx context.Context, req *livekit.CreateAgentDispatchRequest) (*livekit.AgentDispatch, error) {
	if req.GetRoom() == "" {
		return nil, fmt.Errorf("room name is empty: %w", ErrInvalidArgument)
	}
	if err := n.checkMetadata(req.GetMetadata()); err != nil {
		return nil, err
	}
	if n.AutoCreate() {
		if _, err := n.CreateRoom(ctx, &livekit.CreateRoomRequest{Name: req.GetRoom()}); err != nil {
			return nil, err
		}
	}
	return askAgents[*livekit.AgentDispatch](ctx, n, &createDispatch{req: req})
}

// DeleteAgentDispatch deletes a dispatch of room and terminates its jobs.
func (n *Node) DeleteAgentDispatch(ctx context.Context, room, id string) (*livekit.AgentDispatch, error) {
	return askAgents[*livekit.AgentDispatch](ctx, n, &deleteDispatch{room: room, id: id})
}

// ListAgentDispatch lists a room's dispatches, or only the one with id when id is set.
func (n *Node) ListAgentDispatch(ctx context.Context, room, id string) ([]*livekit.AgentDispatch, error) {
	res, err := askAgents[*dispatchList](ctx, n, &listDispatch{room: room, id: id})
	if err != nil {
		return nil, err
	}
	return res.dispatches, nil
}

// noteAgentEvent tells the dispatcher of the participant events that start jobs (JT_PARTICIPANT
// at a join, JT_PUBLISHER at a first publish) or end them (an agent participant leaving).
func (n *Node) noteAgentEvent(event string, room *livekit.Room, p *livekit.ParticipantInfo) {
	switch event {
	case EventParticipantJoined, EventTrackPublished, EventParticipantLeft, EventParticipantConnectionAborted:
	default:
		return
	}
	if room == nil || p == nil || n.agents == nil {
		return
	}
	n.system.Root.Send(n.agents, &agentRoomEvent{
		event: event, room: proto.Clone(room).(*livekit.Room), p: proto.Clone(p).(*livekit.ParticipantInfo),
	})
}

// askAgents sends msg to the dispatcher actor and returns its reply as a T.
func askAgents[T any](ctx context.Context, n *Node, msg any) (T, error) {
	var zero T
	if n.closed.Load() {
		return zero, ErrNodeClosed
	}
	res, err := n.system.Root.RequestFuture(n.agents, msg, n.requestTimeout(ctx)).Result()
	switch {
	case errors.Is(err, actor.ErrTimeout):
		return zero, fmt.Errorf("%T: %w", msg, ErrTimeout)
	case err != nil:
		return zero, fmt.Errorf("%T: %w", msg, err)
	}
	if e, ok := res.(*replyError); ok {
		return zero, e.err
	}
	v, ok := res.(T)
	if !ok {
		return zero, fmt.Errorf("%T answered with %T, want %T: %w", msg, res, zero, errUnexpectedReply)
	}
	return v, nil
}

// Messages of the dispatcher actor.
type (
	registerWorker struct {
		id   string
		conn AgentWorkerConn
	}
	workerRegistered struct{}
	workerMessage    struct {
		workerID string
		msg      *livekit.WorkerMessage
	}
	workerGone     struct{ workerID string }
	createDispatch struct {
		req *livekit.CreateAgentDispatchRequest
	}
	deleteDispatch struct{ room, id string }
	listDispatch   struct{ room, id string }
	dispatchList   struct{ dispatches []*livekit.AgentDispatch }
	// agentRoomOpened tells the dispatcher of a new room and the dispatches it was created with.
	agentRoomOpened struct {
		room   *livekit.Room
		agents []*livekit.RoomAgentDispatch
	}
	// agentRoomClosed tells the dispatcher that a room is gone: its jobs end.
	agentRoomClosed struct{ name, sid string }
	// agentRoomEvent is a participant event of a room (noteAgentEvent).
	agentRoomEvent struct {
		event string
		room  *livekit.Room
		p     *livekit.ParticipantInfo
	}
	// offerExpired: a worker did not answer an availability request in time.
	offerExpired struct{ jobID, workerID string }
)
