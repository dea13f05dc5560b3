package scenarios

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v3"
	"github.com/twitchtv/twirp"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport/auth"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// testWorker is an agent worker speaking the /agent protocol: protobuf frames over a WebSocket.
type testWorker struct {
	t    testing.TB
	name string
	ws   *websocket.Conn
	id   string
	msgs chan *livekit.ServerMessage
	done chan struct{}
}

// agentToken mints a worker's token: the agent grant and nothing else.
func agentToken(t testing.TB) string {
	t.Helper()
	tok, err := auth.NewAccessToken(testkit.APIKey, testkit.APISecret).
		SetVideoGrant(&auth.VideoGrant{Agent: true}).SetValidFor(time.Hour).ToJWT()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// dialWorker connects a worker for agentName and registers it; the node's first frame must be
// the RegisterWorkerResponse.
func dialWorker(ctx context.Context, t testing.TB, node *testkit.Node, agentName string) *testWorker {
	t.Helper()
	return dialWorkerFor(ctx, t, node, agentName, livekit.JobType_JT_ROOM)
}

// dialWorkerFor is dialWorker for a worker of job type typ.
func dialWorkerFor(ctx context.Context, t testing.TB, node *testkit.Node, agentName string, typ livekit.JobType) *testWorker {
	t.Helper()
	hdr := http.Header{"Authorization": {"Bearer " + agentToken(t)}}
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx, node.WSURL+"/agent", hdr)
	if err != nil {
		t.Fatalf("worker %q dials /agent: %v (%v)", agentName, err, resp)
	}
	_ = resp.Body.Close()
	w := &testWorker{t: t, name: agentName, ws: ws, msgs: make(chan *livekit.ServerMessage, 64), done: make(chan struct{})}
	go w.readLoop()
	t.Cleanup(w.close)
	w.send(&livekit.WorkerMessage{Message: &livekit.WorkerMessage_Register{Register: &livekit.RegisterWorkerRequest{
		Type: typ, AgentName: agentName, Version: "test",
		AllowedPermissions: &livekit.ParticipantPermission{CanSubscribe: true, CanPublish: true, CanPublishData: true, Agent: true},
	}}})
	reg := w.next(ctx).GetRegister()
	if reg == nil || !strings.HasPrefix(reg.GetWorkerId(), "AW_") || reg.GetServerInfo().GetAgentProtocol() != 1 {
		t.Fatalf("worker %q: first frame is not a register response: %v", agentName, reg)
	}
	w.id = reg.GetWorkerId()
	return w
}

func (w *testWorker) readLoop() {
	defer close(w.done)
	for {
		_, data, err := w.ws.ReadMessage()
		if err != nil {
			return
		}
		msg := &livekit.ServerMessage{}
		if err := proto.Unmarshal(data, msg); err != nil {
			w.t.Errorf("worker %q: undecodable frame: %v", w.name, err)
			return
		}
		w.msgs <- msg
	}
}

func (w *testWorker) send(msg *livekit.WorkerMessage) {
	w.t.Helper()
	data, err := proto.Marshal(msg)
	if err == nil {
		err = w.ws.WriteMessage(websocket.BinaryMessage, data)
	}
	if err != nil {
		w.t.Fatalf("worker %q sends: %v", w.name, err)
	}
}

// next returns the next frame from the node.
func (w *testWorker) next(ctx context.Context) *livekit.ServerMessage {
	w.t.Helper()
	select {
	case m := <-w.msgs:
		return m
	case <-w.done:
		w.t.Fatalf("worker %q: socket closed while waiting for a frame", w.name)
	case <-ctx.Done():
		w.t.Fatalf("worker %q: no frame from the node: %v", w.name, ctx.Err())
	}
	return nil
}

// offer waits for an availability request.
func (w *testWorker) offer(ctx context.Context) *livekit.Job {
	w.t.Helper()
	m := w.next(ctx)
	if m.GetAvailability() == nil {
		w.t.Fatalf("worker %q: got %v, want an availability request", w.name, m)
	}
	return m.GetAvailability().GetJob()
}

// answer answers an availability request.
func (w *testWorker) answer(jobID string, available bool) {
	w.send(&livekit.WorkerMessage{Message: &livekit.WorkerMessage_Availability{Availability: &livekit.AvailabilityResponse{
		JobId: jobID, Available: available, ParticipantName: "bot " + w.name,
	}}})
}

// quiet checks that the node sent this worker nothing else so far: a ping's pong is queued
// behind anything the node sent before it, so getting the pong first proves there was nothing.
func (w *testWorker) quiet(ctx context.Context) {
	w.t.Helper()
	ts := time.Now().UnixNano()
	w.send(&livekit.WorkerMessage{Message: &livekit.WorkerMessage_Ping{Ping: &livekit.WorkerPing{Timestamp: ts}}})
	m := w.next(ctx)
	if m.GetPong() == nil || m.GetPong().GetLastTimestamp() != ts || m.GetPong().GetTimestamp() == 0 {
		w.t.Fatalf("worker %q: got %v, want only the pong for %d", w.name, m, ts)
	}
}

// load reports the worker's load; quiet afterwards makes sure the node has taken it in.
func (w *testWorker) load(ctx context.Context, load float32) {
	w.t.Helper()
	w.send(&livekit.WorkerMessage{Message: &livekit.WorkerMessage_UpdateWorker{UpdateWorker: &livekit.UpdateWorkerStatus{Load: load}}})
	w.quiet(ctx)
}

func (w *testWorker) close() {
	_ = w.ws.Close()
	<-w.done
}

func dispatchClient(node *testkit.Node, room string, t testing.TB) livekit.AgentDispatchService {
	return livekit.NewAgentDispatchServiceProtobufClient(node.URL, &http.Client{
		Transport: lkclient.BearerTransport{Token: testkit.AdminToken(t, room)}, Timeout: 10 * time.Second,
	})
}

// An unnamed worker gets a JT_ROOM job for a room created through the Room API, accepts it,
// joins with the assigned token and shows in the room as an AGENT; deleting the dispatch
// terminates the job.
func TestAgentWorkerGetsRoomJob(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := dialWorker(ctx, t, node, "")
	w.quiet(ctx) // ping/pong

	room, err := node.RoomService(testkit.AdminToken(t, "lobby")).CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "lobby"})
	if err != nil {
		t.Fatal(err)
	}
	job := w.offer(ctx)
	if !strings.HasPrefix(job.GetId(), "AJ_") || job.GetType() != livekit.JobType_JT_ROOM || job.GetRoom().GetSid() != room.GetSid() ||
		job.GetState().GetWorkerId() != w.id || !strings.HasPrefix(job.GetDispatchId(), "AD_") {
		t.Fatalf("offered job = %v", job)
	}
	w.answer(job.GetId(), true)
	asg := w.next(ctx).GetAssignment()
	if asg == nil || asg.GetJob().GetId() != job.GetId() || asg.GetToken() == "" || asg.GetUrl() != node.WSURL {
		t.Fatalf("assignment = %v", asg)
	}

	agent, err := testkit.Join(ctx, asg.GetUrl(), asg.GetToken(), lkclient.Options{})
	if err != nil {
		t.Fatalf("the agent joins with its token: %v", err)
	}
	defer agent.Close()
	parts, err := node.RoomService(testkit.AdminToken(t, "lobby")).ListParticipants(ctx, &livekit.ListParticipantsRequest{Room: "lobby"})
	if err != nil || len(parts.GetParticipants()) != 1 {
		t.Fatalf("ListParticipants = %v, %v", parts, err)
	}
	p := parts.GetParticipants()[0]
	if p.GetIdentity() != "agent-"+job.GetId() || p.GetKind() != livekit.ParticipantInfo_AGENT || p.GetName() != "bot " ||
		p.GetAttributes()["lk.agent_name"] != "" || !p.GetPermission().GetCanPublish() || !p.GetPermission().GetAgent() {
		t.Fatalf("the agent's participant = %v", p)
	}
	if _, ok := p.GetAttributes()["lk.agent_name"]; !ok {
		t.Fatalf("the agent's attributes lack lk.agent_name: %v", p.GetAttributes())
	}

	dc := dispatchClient(node, "lobby", t)
	list, err := dc.ListDispatch(ctx, &livekit.ListAgentDispatchRequest{Room: "lobby"})
	if err != nil || len(list.GetAgentDispatches()) != 1 {
		t.Fatalf("ListDispatch = %v, %v", list, err)
	}
	d := list.GetAgentDispatches()[0]
	if d.GetId() != job.GetDispatchId() || len(d.GetState().GetJobs()) != 1 ||
		d.GetState().GetJobs()[0].GetState().GetStatus() != livekit.JobStatus_JS_RUNNING ||
		d.GetState().GetJobs()[0].GetState().GetParticipantIdentity() != p.GetIdentity() {
		t.Fatalf("listed dispatch = %v", d)
	}
	deleted, err := dc.DeleteDispatch(ctx, &livekit.DeleteAgentDispatchRequest{Room: "lobby", DispatchId: d.GetId()})
	if err != nil || deleted.GetState().GetDeletedAt() == 0 {
		t.Fatalf("DeleteDispatch = %v, %v", deleted, err)
	}
	if term := w.next(ctx).GetTermination(); term.GetJobId() != job.GetId() {
		t.Fatalf("after DeleteDispatch the worker got %v, want termination of %s", term, job.GetId())
	}
	_, err = dc.DeleteDispatch(ctx, &livekit.DeleteAgentDispatchRequest{Room: "lobby", DispatchId: d.GetId()})
	var te twirp.Error
	if !errors.As(err, &te) || te.Code() != twirp.NotFound {
		t.Fatalf("deleting it again = %v, want not_found", err)
	}
}

// CreateDispatch with an agent_name reaches the worker of that name only.
func TestAgentDispatchReachesNamedWorker(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alpha := dialWorker(ctx, t, node, "alpha")
	beta := dialWorker(ctx, t, node, "beta")
	unnamed := dialWorker(ctx, t, node, "")

	if _, err := node.RoomService(testkit.AdminToken(t, "r1")).CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "r1"}); err != nil {
		t.Fatal(err)
	}
	implicit := unnamed.offer(ctx) // the room's implicit dispatch is for unnamed workers
	unnamed.answer(implicit.GetId(), false)

	d, err := dispatchClient(node, "r1", t).CreateDispatch(ctx, &livekit.CreateAgentDispatchRequest{Room: "r1", AgentName: "alpha", Metadata: "m"})
	if err != nil || d.GetAgentName() != "alpha" || !strings.HasPrefix(d.GetId(), "AD_") {
		t.Fatalf("CreateDispatch = %v, %v", d, err)
	}
	job := alpha.offer(ctx)
	if job.GetAgentName() != "alpha" || job.GetDispatchId() != d.GetId() || job.GetMetadata() != "m" || job.GetRoom().GetName() != "r1" {
		t.Fatalf("alpha's job = %v", job)
	}
	beta.quiet(ctx)
	unnamed.quiet(ctx)
	alpha.answer(job.GetId(), true)
	if asg := alpha.next(ctx).GetAssignment(); asg.GetJob().GetId() != job.GetId() {
		t.Fatalf("alpha's assignment = %v", asg)
	}

	// The worker reports the job done; the dispatch's state says so.
	alpha.send(&livekit.WorkerMessage{Message: &livekit.WorkerMessage_UpdateJob{UpdateJob: &livekit.UpdateJobStatus{
		JobId: job.GetId(), Status: livekit.JobStatus_JS_SUCCESS,
	}}})
	alpha.quiet(ctx) // the node has taken the update in
	list, err := dispatchClient(node, "r1", t).ListDispatch(ctx, &livekit.ListAgentDispatchRequest{Room: "r1", DispatchId: d.GetId()})
	if err != nil || len(list.GetAgentDispatches()) != 1 {
		t.Fatalf("ListDispatch(%s) = %v, %v", d.GetId(), list, err)
	}
	jobs := list.GetAgentDispatches()[0].GetState().GetJobs()
	if len(jobs) != 1 || jobs[0].GetState().GetStatus() != livekit.JobStatus_JS_SUCCESS || jobs[0].GetState().GetEndedAt() == 0 {
		t.Fatalf("after update_job SUCCESS the dispatch's jobs are %v", jobs)
	}
}

// A worker that declines, or does not answer in time, passes the job to the next one by load.
func TestAgentJobRetriesOnAnotherWorker(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{Actors: actors.Config{Agents: actors.AgentConfig{AvailabilityTimeout: 300 * time.Millisecond}}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first := dialWorker(ctx, t, node, "")
	second := dialWorker(ctx, t, node, "")
	second.load(ctx, 0.5) // the less loaded worker is asked first
	rs := node.RoomService(testkit.AdminToken(t, ""))

	for _, declines := range []bool{true, false} {
		room := map[bool]string{true: "declined", false: "silent"}[declines]
		if _, err := rs.CreateRoom(ctx, &livekit.CreateRoomRequest{Name: room}); err != nil {
			t.Fatal(err)
		}
		job := first.offer(ctx)
		if job.GetRoom().GetName() != room {
			t.Fatalf("%s: first worker's offer = %v", room, job)
		}
		second.quiet(ctx) // not offered to two workers at once
		if declines {
			first.answer(job.GetId(), false)
		}
		again := second.offer(ctx)
		if again.GetId() != job.GetId() || again.GetState().GetWorkerId() != second.id {
			t.Fatalf("%s: second worker's offer = %v, want job %s", room, again, job.GetId())
		}
		second.answer(job.GetId(), true)
		if asg := second.next(ctx).GetAssignment(); asg.GetJob().GetId() != job.GetId() || asg.GetToken() == "" {
			t.Fatalf("%s: assignment = %v", room, asg)
		}
		if !declines { // a late answer from the silent worker changes nothing
			first.answer(job.GetId(), true)
			first.quiet(ctx)
		}
	}
}

// /agent needs a token with the agent grant and a WebSocket upgrade; the dispatch API needs
// roomAdmin on the room.
func TestAgentAuth(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for name, tc := range map[string]struct {
		token   string
		upgrade bool
		status  int
		body    string
	}{
		"no token":       {"", true, http.StatusUnauthorized, ""},
		"join token":     {testkit.Token(t, "r", "alice", nil), true, http.StatusUnauthorized, "no permissions to access the room"},
		"admin token":    {testkit.AdminToken(t, "r"), true, http.StatusUnauthorized, "no permissions to access the room"},
		"bad signature":  {agentToken(t) + "x", true, http.StatusUnauthorized, ""},
		"not an upgrade": {agentToken(t), false, http.StatusNotFound, ""},
	} {
		t.Run(name, func(t *testing.T) {
			hdr := http.Header{}
			if tc.token != "" {
				hdr.Set("Authorization", "Bearer "+tc.token)
			}
			var resp *http.Response
			var err error
			if tc.upgrade {
				var ws *websocket.Conn
				ws, resp, err = websocket.DefaultDialer.DialContext(ctx, node.WSURL+"/agent", hdr)
				if err == nil {
					ws.Close()
					t.Fatal("upgraded")
				}
			} else {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, node.URL+"/agent", nil)
				req.Header = hdr
				resp, err = http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
			}
			if resp == nil {
				t.Fatalf("no HTTP answer: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.body) {
				t.Fatalf("status %d %q, want %d %q", resp.StatusCode, body, tc.status, tc.body)
			}
		})
	}

	// A registration for a job type that does not exist is refused: the socket closes with no
	// register response; so does a first message that is not register.
	for name, first := range map[string]*livekit.WorkerMessage{
		"unknown job type": {Message: &livekit.WorkerMessage_Register{Register: &livekit.RegisterWorkerRequest{Type: 7}}},
		"ping first":       {Message: &livekit.WorkerMessage_Ping{Ping: &livekit.WorkerPing{Timestamp: 1}}},
	} {
		ws, _, err := websocket.DefaultDialer.DialContext(ctx, node.WSURL+"/agent", http.Header{"Authorization": {"Bearer " + agentToken(t)}})
		if err != nil {
			t.Fatal(err)
		}
		data, _ := proto.Marshal(first)
		if err := ws.WriteMessage(websocket.BinaryMessage, data); err != nil {
			t.Fatal(err)
		}
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, frame, err := ws.ReadMessage(); !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
			t.Errorf("%s: read %x, %v; want close 1008", name, frame, err)
		}
		ws.Close()
	}

	if _, err := node.RoomService(testkit.AdminToken(t, "r")).CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "r"}); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		token string
		code  twirp.ErrorCode
	}{
		"no token": {"", twirp.Unauthenticated},
		// A valid token without the grant is unauthenticated too, as LiveKit answers it.
		"other room's admin": {testkit.AdminToken(t, "elsewhere"), twirp.Unauthenticated},
		"worker token":       {agentToken(t), twirp.Unauthenticated},
	} {
		dc := livekit.NewAgentDispatchServiceJSONClient(node.URL, &http.Client{Transport: lkclient.BearerTransport{Token: tc.token}})
		_, err := dc.CreateDispatch(ctx, &livekit.CreateAgentDispatchRequest{Room: "r", AgentName: "x"})
		var te twirp.Error
		if !errors.As(err, &te) || te.Code() != tc.code {
			t.Errorf("CreateDispatch with %s = %v, want %s", name, err, tc.code)
		}
	}
}

// A worker that disconnects is forgotten and leaves no goroutine behind; its pending offer goes
// to another worker.
func TestAgentWorkerDisconnectLeaksNothing(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	baseline := goleak.IgnoreCurrent()

	stay := dialWorker(ctx, t, node, "")
	stay.load(ctx, 0.9)
	leave := dialWorker(ctx, t, node, "")
	if _, err := node.RoomService(testkit.AdminToken(t, "r")).CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "r"}); err != nil {
		t.Fatal(err)
	}
	job := leave.offer(ctx)
	leave.close()
	if again := stay.offer(ctx); again.GetId() != job.GetId() {
		t.Fatalf("after the first worker left, the other got %v, want job %s", again, job.GetId())
	}
	stay.close()
	for workers(node) != 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("the dispatcher still counts %d workers", workers(node))
		case <-time.After(10 * time.Millisecond):
		}
	}
	// The Room API call's kept-alive HTTP connection is not the worker's; close it.
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	goleak.VerifyNone(t, baseline,
		goleak.IgnoreTopFunction("github.com/pion/transport/v2/deadline.(*Deadline).handler"))
}

// workers is the dispatcher's worker count, from the node's actor tree.
func workers(node *testkit.Node) int64 {
	for _, a := range node.Tree() {
		if a.Path == "/node/agents" {
			n, _ := a.Stats["workers"].(int64)
			return n
		}
	}
	return -1
}

// CreateRoom's agents replace the implicit dispatch: the named worker gets the job, the unnamed
// one nothing.
func TestAgentDispatchFromCreateRoom(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alpha := dialWorker(ctx, t, node, "alpha")
	unnamed := dialWorker(ctx, t, node, "")
	_, err := node.RoomService(testkit.AdminToken(t, "r")).CreateRoom(ctx, &livekit.CreateRoomRequest{
		Name: "r", Agents: []*livekit.RoomAgentDispatch{{AgentName: "alpha", Metadata: "from CreateRoom"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if job := alpha.offer(ctx); job.GetMetadata() != "from CreateRoom" || job.GetAgentName() != "alpha" {
		t.Fatalf("alpha's job = %v", job)
	}
	unnamed.quiet(ctx)
}

// A JT_PARTICIPANT worker gets a job per joining participant and a JT_PUBLISHER worker one per
// first publish, both carrying the participant; the agent's own join starts none; the agent
// leaving the room terminates its job.
func TestAgentParticipantAndPublisherJobs(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	perParticipant := dialWorkerFor(ctx, t, node, "", livekit.JobType_JT_PARTICIPANT)
	perPublisher := dialWorkerFor(ctx, t, node, "", livekit.JobType_JT_PUBLISHER)

	alice := join(ctx, t, node, "r", "alice", lkclient.Options{})
	job := perParticipant.offer(ctx)
	if job.GetType() != livekit.JobType_JT_PARTICIPANT || job.GetParticipant().GetIdentity() != "alice" || job.GetRoom().GetName() != "r" {
		t.Fatalf("participant job = %v", job)
	}
	perPublisher.quiet(ctx) // joining is not publishing
	perParticipant.answer(job.GetId(), true)
	asg := perParticipant.next(ctx).GetAssignment()
	if asg.GetToken() == "" {
		t.Fatalf("assignment = %v", asg)
	}
	agent, err := testkit.Join(ctx, asg.GetUrl(), asg.GetToken(), lkclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(agent.Close)

	_, sent := publish(ctx, t, alice, webrtc.RTPCodecTypeAudio, 50) // a track counts once its media flows
	pub := perPublisher.offer(ctx)
	if pub.GetType() != livekit.JobType_JT_PUBLISHER || pub.GetParticipant().GetIdentity() != "alice" {
		t.Fatalf("publisher job = %v", pub)
	}
	perPublisher.answer(pub.GetId(), false)
	perParticipant.quiet(ctx) // the agent's own join started no job

	<-sent
	if err := agent.Leave(); err != nil {
		t.Fatal(err)
	}
	if term := perParticipant.next(ctx).GetTermination(); term.GetJobId() != job.GetId() {
		t.Fatalf("after the agent left, the worker got %v, want termination of %s", term, job.GetId())
	}
}
