package actors

import (
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// agentDispatcher is /node/agents: it owns the registered agent workers (grouped by agent_name),
// the rooms' agent dispatches and their jobs. A job is offered to one worker at a time, the least
// loaded available one of its agent_name and job type; a worker that declines, does not answer in
// time or disconnects passes the offer to the next one it has not yet been offered to.
type agentDispatcher struct {
	node       *Node
	workers    map[string]*agentWorker
	groups     map[string]map[string]*agentWorker // agent_name → worker id → worker
	rooms      map[string]*livekit.Room           // open rooms by name, for Job.room
	dispatches map[string]*agentDispatch          // by AD_ id
	jobs       map[string]*agentJob               // by AJ_ id, ended ones until their dispatch goes
	published  map[string]bool                    // room sid + "/" + identity: JT_PUBLISHER jobs launched
	seq        int                                // registration order, the tie-break between equal loads

	numWorkers, numJobs atomic.Int64 // for the debug inspector
}

// agentWorker is one registered worker connection.
type agentWorker struct {
	id        string
	seq       int
	conn      AgentWorkerConn
	jobType   livekit.JobType
	agentName string
	perm      *livekit.ParticipantPermission
	status    livekit.WorkerStatus
	load      float32
	jobs      map[string]bool // assigned, running jobs
}

// agentDispatch is one dispatch of an agent into a room.
type agentDispatch struct {
	info *livekit.AgentDispatch // state.jobs is filled in when it is read
	jobs []string
}

// agentJob is one job and where its offer stands.
type agentJob struct {
	job        *livekit.Job
	tried      map[string]bool // workers already offered this job
	offeredTo  string          // worker whose availability answer is awaited
	offerTimer *time.Timer
	assignedTo string
}

func newAgentDispatcher(n *Node) *agentDispatcher {
	return &agentDispatcher{
		node:       n,
		workers:    map[string]*agentWorker{},
		groups:     map[string]map[string]*agentWorker{},
		rooms:      map[string]*livekit.Room{},
		dispatches: map[string]*agentDispatch{},
		jobs:       map[string]*agentJob{},
		published:  map[string]bool{},
	}
}

func (a *agentDispatcher) describe() map[string]any {
	return map[string]any{"workers": a.numWorkers.Load(), "jobs": a.numJobs.Load()}
}

// Receive handles the dispatcher's messages.
func (a *agentDispatcher) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *registerWorker:
		a.register(ctx, m.id, m.conn)
	case *workerMessage:
		a.onWorkerMessage(ctx, m)
	case *workerGone:
		a.unregister(ctx, m.workerID)
	case *agentRoomOpened:
		a.roomOpened(ctx, m)
	case *agentRoomClosed:
		a.roomClosed(m)
	case *agentRoomEvent:
		a.roomEvent(ctx, m)
	case *createDispatch:
		room := a.rooms[m.req.GetRoom()]
		if room == nil {
			ctx.Respond(&replyError{fmt.Errorf("room %q: %w", m.req.GetRoom(), ErrRoomNotFound)})
			return
		}
		d := a.newDispatch(ctx, room, &livekit.RoomAgentDispatch{
			AgentName: m.req.GetAgentName(), Metadata: m.req.GetMetadata(), RestartPolicy: m.req.GetRestartPolicy(),
			Deployment: m.req.GetDeployment(), Attributes: m.req.GetAttributes(),
		})
		ctx.Respond(a.snapshot(d))
	case *deleteDispatch:
		a.deleteDispatch(ctx, m)
	case *listDispatch:
		a.listDispatch(ctx, m)
	case *offerExpired:
		if j := a.jobs[m.jobID]; j != nil && j.offeredTo == m.workerID {
			a.node.log.Info("agent worker did not answer an availability request", "job", m.jobID, "worker", m.workerID)
			j.offeredTo = ""
			a.offer(ctx, j)
		}
	case *actor.Stopping:
		for _, j := range a.jobs {
			if j.offerTimer != nil {
				j.offerTimer.Stop()
			}
		}
		for _, w := range a.workers {
			if w.conn.Disconnect != nil {
				w.conn.Disconnect()
			}
		}
	case *actor.Stopped:
		a.node.inspector.remove(ctx.Self().Id)
	}
}

// register admits a worker and sends its RegisterWorkerResponse, the first frame it gets.
func (a *agentDispatcher) register(ctx actor.Context, id string, c AgentWorkerConn) {
	req := c.Register
	if _, known := livekit.JobType_name[int32(req.GetType())]; !known {
		ctx.Respond(&replyError{fmt.Errorf("job type %d: %w", req.GetType(), ErrBadWorker)})
		return
	}
	perm := req.GetAllowedPermissions()
	if perm == nil { // LiveKit's default for a worker that names none
		perm = &livekit.ParticipantPermission{CanSubscribe: true, CanPublish: true, CanPublishData: true, CanUpdateMetadata: true}
	}
	a.seq++
	w := &agentWorker{
		id: id, seq: a.seq, conn: c, jobType: req.GetType(), agentName: req.GetAgentName(),
		perm: perm, jobs: map[string]bool{},
	}
	a.workers[w.id] = w
	if a.groups[w.agentName] == nil {
		a.groups[w.agentName] = map[string]*agentWorker{}
	}
	a.groups[w.agentName][w.id] = w
	a.numWorkers.Store(int64(len(a.workers)))
	cfg := a.node.cfg
	c.Send(&livekit.ServerMessage{Message: &livekit.ServerMessage_Register{Register: &livekit.RegisterWorkerResponse{
		WorkerId: w.id,
		ServerInfo: &livekit.ServerInfo{
			Edition: livekit.ServerInfo_Standard, Version: cfg.Version, Protocol: 16,
			Region: cfg.Region, NodeId: cfg.NodeID, AgentProtocol: 1,
		},
	}}})
	a.node.log.Info("agent worker registered", "worker", w.id, "agentName", w.agentName, "type", w.jobType.String())
	ctx.Respond(&workerRegistered{})
}

// unregister forgets a worker whose connection is gone: its running jobs fail and a pending
// offer moves on to another worker.
func (a *agentDispatcher) unregister(ctx actor.Context, id string) {
	w := a.workers[id]
	if w == nil {
		return
	}
	delete(a.workers, id)
	delete(a.groups[w.agentName], id)
	if len(a.groups[w.agentName]) == 0 {
		delete(a.groups, w.agentName)
	}
	a.numWorkers.Store(int64(len(a.workers)))
	for _, j := range a.jobs {
		switch {
		case j.offeredTo == id:
			j.offerTimer.Stop()
			j.offeredTo = ""
			a.offer(ctx, j)
		case j.assignedTo == id && !jobEnded(j.job):
			a.endJob(j, livekit.JobStatus_JS_FAILED, "agent worker disconnected", false)
		}
	}
	a.node.log.Info("agent worker gone", "worker", id)
}

// onWorkerMessage handles availability answers, worker load and job status updates.
func (a *agentDispatcher) onWorkerMessage(ctx actor.Context, m *workerMessage) {
	w := a.workers[m.workerID]
	if w == nil {
		return
	}
	switch msg := m.msg.GetMessage().(type) {
	case *livekit.WorkerMessage_Availability:
		a.onAvailability(ctx, w, msg.Availability)
	case *livekit.WorkerMessage_UpdateWorker:
		u := msg.UpdateWorker
		if u.Status != nil {
			w.status = u.GetStatus()
		}
		w.load = min(max(u.GetLoad(), 0), 1)
	case *livekit.WorkerMessage_UpdateJob:
		j := a.jobs[msg.UpdateJob.GetJobId()]
		if j == nil || j.assignedTo != w.id || jobEnded(j.job) {
			return
		}
		switch st := msg.UpdateJob.GetStatus(); st {
		case livekit.JobStatus_JS_SUCCESS, livekit.JobStatus_JS_FAILED:
			a.endJob(j, st, msg.UpdateJob.GetError(), false)
		default:
			j.job.State.Status, j.job.State.Error = st, msg.UpdateJob.GetError()
			j.job.State.UpdatedAt = time.Now().UnixNano()
		}
	}
}

// onAvailability takes a worker's answer to an offer: decline → the next worker; accept → the
// assignment with the job participant's token; terminate → the job ends unassigned.
func (a *agentDispatcher) onAvailability(ctx actor.Context, w *agentWorker, r *livekit.AvailabilityResponse) {
	j := a.jobs[r.GetJobId()]
	if j == nil || j.offeredTo != w.id {
		return
	}
	j.offerTimer.Stop()
	j.offeredTo = ""
	switch {
	case r.GetTerminate():
		a.endJob(j, livekit.JobStatus_JS_SUCCESS, "", false)
		return
	case !r.GetAvailable():
		a.node.log.Debug("agent worker declined a job", "job", j.job.GetId(), "worker", w.id)
		a.offer(ctx, j)
		return
	}
	identity := r.GetParticipantIdentity()
	if identity == "" {
		identity = "agent-" + j.job.GetId()
	}
	tok, err := w.conn.Mint(AgentTokenClaims{
		Room: j.job.GetRoom().GetName(), Identity: identity, Name: r.GetParticipantName(),
		Metadata: r.GetParticipantMetadata(), Attributes: r.GetParticipantAttributes(),
		AgentName: w.agentName, Permission: w.perm,
	})
	if err != nil {
		a.node.log.Error("minting an agent token", "job", j.job.GetId(), "err", err)
		a.endJob(j, livekit.JobStatus_JS_FAILED, "could not mint the agent token", false)
		return
	}
	now := time.Now().UnixNano()
	j.assignedTo = w.id
	w.jobs[j.job.GetId()] = true
	st := j.job.State
	st.Status, st.WorkerId, st.ParticipantIdentity, st.UpdatedAt = livekit.JobStatus_JS_RUNNING, w.id, identity, now
	asg := &livekit.JobAssignment{Job: proto.Clone(j.job).(*livekit.Job), Token: tok}
	if w.conn.URL != "" {
		asg.Url = proto.String(w.conn.URL)
	}
	w.conn.Send(&livekit.ServerMessage{Message: &livekit.ServerMessage_Assignment{Assignment: asg}})
	a.node.log.Info("agent job assigned", "job", j.job.GetId(), "worker", w.id, "identity", identity)
}

// offer sends j's availability request to the best worker not yet tried, or fails the job when
// none is left.
func (a *agentDispatcher) offer(ctx actor.Context, j *agentJob) {
	w := a.pick(j)
	if w == nil {
		a.node.log.Info("no agent worker available for a job", "job", j.job.GetId(), "agentName", j.job.GetAgentName(), "tried", len(j.tried))
		a.endJob(j, livekit.JobStatus_JS_FAILED, "no worker available", false)
		return
	}
	j.tried[w.id] = true
	j.offeredTo = w.id
	now := time.Now().UnixNano()
	st := j.job.State
	st.Status, st.WorkerId, st.StartedAt, st.UpdatedAt = livekit.JobStatus_JS_RUNNING, w.id, now, now
	w.conn.Send(&livekit.ServerMessage{Message: &livekit.ServerMessage_Availability{Availability: &livekit.AvailabilityRequest{
		Job: proto.Clone(j.job).(*livekit.Job),
	}}})
	j.offerTimer = sendAfter(ctx, a.node.cfg.Agents.AvailabilityTimeout, &offerExpired{jobID: j.job.GetId(), workerID: w.id})
}

// pick returns the least loaded available worker of j's agent_name and type that has not been
// offered j yet; among equals, the one registered first.
func (a *agentDispatcher) pick(j *agentJob) *agentWorker {
	var best *agentWorker
	for _, w := range a.groups[j.job.GetAgentName()] {
		if w.jobType != j.job.GetType() || w.status != livekit.WorkerStatus_WS_AVAILABLE || j.tried[w.id] {
			continue
		}
		if best == nil || w.load < best.load || (w.load == best.load && w.seq < best.seq) {
			best = w
		}
	}
	return best
}

// endJob records j's end. With terminate, the worker running it is told to stop it (the node
// ended the job); without, the worker ended it itself or is gone.
func (a *agentDispatcher) endJob(j *agentJob, status livekit.JobStatus, reason string, terminate bool) {
	if j.offerTimer != nil {
		j.offerTimer.Stop()
	}
	j.offeredTo = ""
	if w := a.workers[j.assignedTo]; w != nil && w.jobs[j.job.GetId()] {
		delete(w.jobs, j.job.GetId())
		if terminate {
			w.conn.Send(&livekit.ServerMessage{Message: &livekit.ServerMessage_Termination{Termination: &livekit.JobTermination{JobId: j.job.GetId()}}})
		}
	}
	now := time.Now().UnixNano()
	st := j.job.State
	st.Status, st.Error, st.EndedAt, st.UpdatedAt = status, reason, now, now
}

func jobEnded(j *livekit.Job) bool {
	s := j.GetState().GetStatus()
	return s == livekit.JobStatus_JS_SUCCESS || s == livekit.JobStatus_JS_FAILED
}

// roomOpened records a new room and launches its dispatches: the room's own, or one implicit
// dispatch for unnamed workers.
func (a *agentDispatcher) roomOpened(ctx actor.Context, m *agentRoomOpened) {
	a.rooms[m.room.GetName()] = m.room
	agents := m.agents
	if len(agents) == 0 {
		agents = []*livekit.RoomAgentDispatch{{}}
	}
	for _, ad := range agents {
		a.newDispatch(ctx, m.room, ad)
	}
}

// roomClosed ends the jobs of a closed room and forgets its dispatches.
func (a *agentDispatcher) roomClosed(m *agentRoomClosed) {
	if r := a.rooms[m.name]; r == nil || r.GetSid() != m.sid {
		return
	}
	delete(a.rooms, m.name)
	for key := range a.published {
		if strings.HasPrefix(key, m.sid+"/") {
			delete(a.published, key)
		}
	}
	for id, d := range a.dispatches {
		if d.info.GetRoom() == m.name {
			a.dropDispatch(id, d)
		}
	}
}

// newDispatch creates a dispatch in room and launches its JT_ROOM job.
func (a *agentDispatcher) newDispatch(ctx actor.Context, room *livekit.Room, ad *livekit.RoomAgentDispatch) *agentDispatch {
	d := &agentDispatch{info: &livekit.AgentDispatch{
		Id: newID("AD_"), AgentName: ad.GetAgentName(), Room: room.GetName(), Metadata: ad.GetMetadata(),
		RestartPolicy: ad.GetRestartPolicy(), Deployment: ad.GetDeployment(), Attributes: ad.GetAttributes(),
		State: &livekit.AgentDispatchState{CreatedAt: time.Now().UnixNano()},
	}}
	a.dispatches[d.info.Id] = d
	a.launch(ctx, d, room, livekit.JobType_JT_ROOM, nil)
	return d
}

// launch creates a job of dispatch d and offers it, unless no worker could take it (then, as in
// LiveKit, nothing is dispatched and the dispatch stays without that job).
func (a *agentDispatcher) launch(ctx actor.Context, d *agentDispatch, room *livekit.Room, typ livekit.JobType, p *livekit.ParticipantInfo) {
	ad := d.info
	j := &agentJob{tried: map[string]bool{}, job: &livekit.Job{
		Id: newID("AJ_"), DispatchId: ad.GetId(), Type: typ, Room: proto.Clone(room).(*livekit.Room), Participant: p,
		Metadata: ad.GetMetadata(), AgentName: ad.GetAgentName(), Deployment: ad.GetDeployment(), Attributes: ad.GetAttributes(),
		State: &livekit.JobState{Status: livekit.JobStatus_JS_PENDING, UpdatedAt: time.Now().UnixNano()},
	}}
	if a.pick(j) == nil {
		a.node.log.Debug("no agent worker for a job", "room", room.GetName(), "agentName", ad.GetAgentName(), "type", typ.String())
		return
	}
	a.jobs[j.job.Id] = j
	a.numJobs.Store(int64(len(a.jobs)))
	d.jobs = append(d.jobs, j.job.Id)
	a.offer(ctx, j)
}

// roomEvent launches JT_PARTICIPANT jobs at a participant's join and JT_PUBLISHER jobs at its
// first publish, for each of the room's dispatches, and ends the jobs whose agent participant left.
// Agents and recorders start no jobs.
func (a *agentDispatcher) roomEvent(ctx actor.Context, m *agentRoomEvent) {
	room := a.rooms[m.room.GetName()]
	if room == nil || room.GetSid() != m.room.GetSid() {
		return
	}
	key := room.GetSid() + "/" + m.p.GetIdentity()
	var typ livekit.JobType
	switch m.event {
	case EventParticipantLeft, EventParticipantConnectionAborted:
		delete(a.published, key)
		a.agentLeft(room.GetName(), m.p.GetIdentity())
		return
	case EventParticipantJoined:
		typ = livekit.JobType_JT_PARTICIPANT
	case EventTrackPublished:
		if a.published[key] {
			return
		}
		a.published[key] = true
		typ = livekit.JobType_JT_PUBLISHER
	}
	perm := m.p.GetPermission()
	if m.p.GetKind() == livekit.ParticipantInfo_AGENT || m.p.GetKind() == livekit.ParticipantInfo_EGRESS || perm.GetAgent() || perm.GetRecorder() {
		return
	}
	for _, d := range a.dispatches {
		if d.info.GetRoom() == room.GetName() {
			a.launch(ctx, d, room, typ, m.p)
		}
	}
}

// agentLeft fails the running jobs whose agent participant left the room, and tells their workers.
func (a *agentDispatcher) agentLeft(room, identity string) {
	for _, j := range a.jobs {
		st := j.job.GetState()
		if j.assignedTo != "" && !jobEnded(j.job) && st.GetParticipantIdentity() == identity && j.job.GetRoom().GetName() == room {
			a.endJob(j, livekit.JobStatus_JS_FAILED, "agent worker left the room", true)
		}
	}
}

// endDispatch ends a dispatch's live jobs as SUCCESS (the dispatch is gone, not the agent's
// fault) and tells their workers to stop them.
func (a *agentDispatcher) endDispatch(d *agentDispatch) {
	for _, jid := range d.jobs {
		if j := a.jobs[jid]; j != nil && !jobEnded(j.job) {
			a.endJob(j, livekit.JobStatus_JS_SUCCESS, "", true)
		}
	}
}

// dropDispatch ends a dispatch and forgets it and its jobs.
func (a *agentDispatcher) dropDispatch(id string, d *agentDispatch) {
	a.endDispatch(d)
	for _, jid := range d.jobs {
		delete(a.jobs, jid)
	}
	delete(a.dispatches, id)
	a.numJobs.Store(int64(len(a.jobs)))
}

func (a *agentDispatcher) deleteDispatch(ctx actor.Context, m *deleteDispatch) {
	d := a.dispatches[m.id]
	if d == nil || d.info.GetRoom() != m.room {
		ctx.Respond(&replyError{fmt.Errorf("dispatch %q in room %q: %w", m.id, m.room, ErrDispatchNotFound)})
		return
	}
	a.endDispatch(d)
	d.info.State.DeletedAt = time.Now().UnixNano()
	out := a.snapshot(d)
	a.dropDispatch(m.id, d)
	ctx.Respond(out)
}

func (a *agentDispatcher) listDispatch(ctx actor.Context, m *listDispatch) {
	if a.rooms[m.room] == nil {
		ctx.Respond(&replyError{fmt.Errorf("room %q: %w", m.room, ErrRoomNotFound)})
		return
	}
	var out []*livekit.AgentDispatch
	for id, d := range a.dispatches {
		if d.info.GetRoom() == m.room && (m.id == "" || m.id == id) {
			out = append(out, a.snapshot(d))
		}
	}
	sort.Slice(out, func(i, k int) bool { return out[i].GetState().GetCreatedAt() < out[k].GetState().GetCreatedAt() })
	ctx.Respond(&dispatchList{dispatches: out})
}

// snapshot is a copy of d with its jobs' current state.
func (a *agentDispatcher) snapshot(d *agentDispatch) *livekit.AgentDispatch {
	out := proto.Clone(d.info).(*livekit.AgentDispatch)
	for _, jid := range d.jobs {
		if j := a.jobs[jid]; j != nil {
			out.State.Jobs = append(out.State.Jobs, proto.Clone(j.job).(*livekit.Job))
		}
	}
	return out
}
