package transport

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
)

const testWait = 5 * time.Second

// dial opens /rtc with a join token for alice in r1, the Go SDK way (Bearer header).
func dial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	h := http.Header{"Authorization": {"Bearer " + token(t, "alice", joinGrant("r1"))}}
	ws, res, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+"/rtc?sdk=go&protocol=17", h)
	if err != nil {
		t.Fatalf("dial: %v (response %v)", err, res)
	}
	t.Cleanup(func() { ws.Close() })
	_ = ws.SetReadDeadline(time.Now().Add(testWait))
	return ws
}

func readBinary(t *testing.T, ws *websocket.Conn) *livekit.SignalResponse {
	t.Helper()
	mt, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if mt != websocket.BinaryMessage {
		t.Fatalf("frame type %d, want binary", mt)
	}
	m := &livekit.SignalResponse{}
	if err := proto.Unmarshal(data, m); err != nil {
		t.Fatal(err)
	}
	return m
}

func sendBinary(t *testing.T, ws *websocket.Conn, req *livekit.SignalRequest) {
	t.Helper()
	data, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteMessage(websocket.BinaryMessage, data); err != nil {
		t.Fatal(err)
	}
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testWait):
		t.Fatalf("no %s", what)
		panic("unreachable")
	}
}

// closeCode reads until the connection fails and returns the close code the server sent.
func closeCode(t *testing.T, ws *websocket.Conn) (int, string) {
	t.Helper()
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code, ce.Text
			}
			t.Fatalf("read ended without close frame: %v", err)
		}
	}
}

// closeOrReset is closeCode that also accepts a connection reset (code -1).
func closeOrReset(ws *websocket.Conn) (int, string) {
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code, ce.Text
			}
			return -1, err.Error()
		}
	}
}

func TestSignalJoinAndRequests(t *testing.T) {
	node := newFakeNode()
	srv := startServer(t, ServerConfig{}, node)
	ws := dial(t, srv.URL)

	join := readBinary(t, ws).GetJoin()
	if join.GetParticipant().GetIdentity() != "alice" || join.GetServerInfo().GetVersion() == "" {
		t.Fatalf("first frame is not the join: %v", join)
	}
	sess := recv(t, node.sessions, "session")

	offer := &livekit.SignalRequest{Message: &livekit.SignalRequest_Offer{Offer: &livekit.SessionDescription{Type: "offer", Sdp: "v=0"}}}
	sendBinary(t, ws, offer)
	if got := recv(t, sess.signals, "offer"); !proto.Equal(got, offer) {
		t.Fatalf("actor got %v", got)
	}
	// An empty request (or one from a newer protocol) is answered with UNSUPPORTED_TYPE, not fatal.
	sendBinary(t, ws, &livekit.SignalRequest{})
	if rr := readBinary(t, ws).GetRequestResponse(); rr.GetReason() != livekit.RequestResponse_UNSUPPORTED_TYPE {
		t.Fatalf("empty request answered with %v, want UNSUPPORTED_TYPE", rr)
	}

	// Actor → client.
	ans := &livekit.SignalResponse{Message: &livekit.SignalResponse_Answer{Answer: &livekit.SessionDescription{Type: "answer", Sdp: "v=0"}}}
	if err := sess.sink.Send(ans); err != nil {
		t.Fatal(err)
	}
	if got := readBinary(t, ws); !proto.Equal(got, ans) {
		t.Fatalf("client got %v", got)
	}

	// leave, then the client closes: not abrupt.
	sendBinary(t, ws, &livekit.SignalRequest{Message: &livekit.SignalRequest_Leave{Leave: &livekit.LeaveRequest{}}})
	recv(t, sess.signals, "leave")
	_ = ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	if abrupt := recv(t, sess.closed, "session close"); abrupt {
		t.Error("Close(abrupt=true) after a leave")
	}
	if err := sess.sink.Send(ans); err == nil {
		t.Error("Send on a closed connection succeeded")
	}
}

func TestSignalAbruptClose(t *testing.T) {
	node := newFakeNode()
	srv := startServer(t, ServerConfig{}, node)
	ws := dial(t, srv.URL)
	readBinary(t, ws)
	sess := recv(t, node.sessions, "session")
	ws.Close() // no leave, no close frame
	if abrupt := recv(t, sess.closed, "session close"); !abrupt {
		t.Error("Close(abrupt=false) without a leave")
	}
}

func TestSignalJSONMode(t *testing.T) {
	node := newFakeNode()
	srv := startServer(t, ServerConfig{}, node)
	ws := dial(t, srv.URL)
	readBinary(t, ws) // the join goes out before the client said anything: binary
	sess := recv(t, node.sessions, "session")

	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"trickle":{"candidateInit":"{}","target":"SUBSCRIBER"},"unknownField":1}`)); err != nil {
		t.Fatal(err)
	}
	got := recv(t, sess.signals, "trickle")
	if got.GetTrickle().GetTarget() != livekit.SignalTarget_SUBSCRIBER {
		t.Fatalf("actor got %v", got)
	}
	if err := sess.sink.Send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Pong{Pong: 42}}); err != nil {
		t.Fatal(err)
	}
	mt, data, err := ws.ReadMessage()
	if err != nil || mt != websocket.TextMessage {
		t.Fatalf("frame %d %v, want text", mt, err)
	}
	var m livekit.SignalResponse
	if err := protojson.Unmarshal(data, &m); err != nil || m.GetPong() != 42 {
		t.Fatalf("json %s: %v", data, err)
	}
}

func TestSignalMalformedRequestCloses(t *testing.T) {
	node := newFakeNode()
	srv := startServer(t, ServerConfig{}, node)
	ws := dial(t, srv.URL)
	readBinary(t, ws)
	sess := recv(t, node.sessions, "session")
	if err := ws.WriteMessage(websocket.BinaryMessage, []byte{0xff, 0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	if code, _ := closeCode(t, ws); code != websocket.CloseUnsupportedData {
		t.Errorf("close code %d, want %d", code, websocket.CloseUnsupportedData)
	}
	if abrupt := recv(t, sess.closed, "session close"); !abrupt {
		t.Error("want abrupt close")
	}
}

func TestSignalReadLimit(t *testing.T) {
	node := newFakeNode()
	srv := startServer(t, ServerConfig{MaxSignalMessageSize: 1024}, node)
	ws := dial(t, srv.URL)
	readBinary(t, ws)
	sess := recv(t, node.sessions, "session")
	big := &livekit.SignalRequest{Message: &livekit.SignalRequest_Offer{Offer: &livekit.SessionDescription{Sdp: strings.Repeat("a", 4096)}}}
	data, _ := proto.Marshal(big)
	_ = ws.WriteMessage(websocket.BinaryMessage, data) // the server may reset before all is written
	// Either the client reads the 1009 close frame, or the reset of the unread rest beats it.
	if code, _ := closeOrReset(ws); code != websocket.CloseMessageTooBig && code != -1 {
		t.Errorf("close code %d, want %d", code, websocket.CloseMessageTooBig)
	}
	recv(t, sess.closed, "session close")
}

// TestSignalQueueOverflow fills the queue before the writer exists: the connection must close with
// 1013 instead of blocking the sender.
func TestSignalQueueOverflow(t *testing.T) {
	node := newFakeNode()
	var sendErr error
	node.onJoin = func(req actors.JoinRequest) {
		for i := 0; i < 10 && sendErr == nil; i++ {
			sendErr = req.Sink.Send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Pong{Pong: int64(i)}})
		}
	}
	srv := startServer(t, ServerConfig{SignalQueueSize: 4}, node)
	ws := dial(t, srv.URL)
	sess := recv(t, node.sessions, "session")
	if !errors.Is(sendErr, errQueueFull) {
		t.Errorf("Send error = %v, want errQueueFull", sendErr)
	}
	if code, reason := closeCode(t, ws); code != websocket.CloseTryAgainLater || reason != "signal queue overflow" {
		t.Errorf("close %d %q", code, reason)
	}
	recv(t, sess.closed, "session close")
}

// TestSignalSinkCloseFlushes: the actor queues a leave and closes the sink; the client must get the
// leave and then a normal close.
func TestSignalSinkCloseFlushes(t *testing.T) {
	node := newFakeNode()
	srv := startServer(t, ServerConfig{}, node)
	ws := dial(t, srv.URL)
	readBinary(t, ws)
	sess := recv(t, node.sessions, "session")
	leave := &livekit.SignalResponse{Message: &livekit.SignalResponse_Leave{Leave: &livekit.LeaveRequest{Reason: livekit.DisconnectReason_SERVER_SHUTDOWN}}}
	if err := sess.sink.Send(leave); err != nil {
		t.Fatal(err)
	}
	sess.sink.Close()
	if got := readBinary(t, ws); got.GetLeave().GetReason() != livekit.DisconnectReason_SERVER_SHUTDOWN {
		t.Fatalf("got %v", got)
	}
	if code, _ := closeCode(t, ws); code != websocket.CloseNormalClosure {
		t.Errorf("close code %d", code)
	}
	if abrupt := recv(t, sess.closed, "session close"); abrupt {
		t.Error("a close the actor asked for reported as abrupt")
	}
}

func TestRateLimiterBurstThenRate(t *testing.T) {
	t0 := time.Unix(0, 0)
	l := newRateLimiter(10, 3, t0)
	for i := range 3 {
		if !l.allow(t0) {
			t.Fatalf("burst request %d refused", i)
		}
	}
	if l.allow(t0) {
		t.Fatal("a fourth request at once was allowed")
	}
	if !l.allow(t0.Add(100 * time.Millisecond)) {
		t.Fatal("one token per 100 ms at 10/s was not refilled")
	}
	if l.allow(t0.Add(100 * time.Millisecond)) {
		t.Fatal("refill gave more than one token")
	}
	if !l.allow(t0.Add(time.Hour)) || !l.allow(t0.Add(time.Hour)) || !l.allow(t0.Add(time.Hour)) || l.allow(t0.Add(time.Hour)) {
		t.Fatal("a long pause must refill to the burst, no more")
	}
	if off := newRateLimiter(-1, 0, t0); !off.allow(t0) || !off.allow(t0) {
		t.Fatal("a negative rate must disable the limiter")
	}
}

// A panic on the writer goroutine ends that connection only: it is recovered, logged, and the
// socket is dead for further sends, instead of taking the process down.
func TestSignalWriterPanicEndsOnlyItsConnection(t *testing.T) {
	c := newParticipantSocket(ServerConfig{SignalQueueSize: 4}, slog.New(slog.DiscardHandler))
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer c.recoverWriter()
		panic("writer bug")
	}()
	<-done
	select {
	case <-c.dead:
	default:
		t.Fatal("the connection is still alive after its writer panicked")
	}
	if err := c.Send(&livekit.SignalResponse{}); err == nil {
		t.Fatal("Send succeeded on a connection whose writer died")
	}
}
