package transport

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/transport/auth"
)

// fakeNode stands in for *actors.Node: it records calls and returns canned answers, so that the
// edge's status codes, grant checks and framing can be tested without WebRTC.
type fakeNode struct {
	mu       sync.Mutex
	rooms    map[string]bool
	err      error // returned by every room call when set
	joinErr  error
	onJoin   func(req actors.JoinRequest) // runs inside join, after the JoinResponse is queued
	joins    chan actors.JoinRequest
	sessions chan *fakeSession
	calls    []string
	tree     []actors.ActorInfo

	noAutoCreate bool // AutoCreate answers false
}

func newFakeNode() *fakeNode {
	return &fakeNode{
		rooms:    map[string]bool{},
		joins:    make(chan actors.JoinRequest, 16),
		sessions: make(chan *fakeSession, 16),
	}
}

func (f *fakeNode) call(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
	return f.err
}

func (f *fakeNode) CreateRoom(_ context.Context, req *livekit.CreateRoomRequest) (*livekit.Room, error) {
	if err := f.call("CreateRoom"); err != nil {
		return nil, err
	}
	return &livekit.Room{Sid: "RM_1", Name: req.GetName()}, nil
}

func (f *fakeNode) ListRooms(_ context.Context, names []string) ([]*livekit.Room, error) {
	if err := f.call("ListRooms"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*livekit.Room
	for name := range f.rooms {
		if len(names) == 0 || names[0] == name {
			out = append(out, &livekit.Room{Name: name})
		}
	}
	return out, nil
}

func (f *fakeNode) DeleteRoom(context.Context, string) error { return f.call("DeleteRoom") }

func (f *fakeNode) ListParticipants(context.Context, string) ([]*livekit.ParticipantInfo, error) {
	if err := f.call("ListParticipants"); err != nil {
		return nil, err
	}
	return []*livekit.ParticipantInfo{{Identity: "alice"}}, nil
}

func (f *fakeNode) GetParticipant(_ context.Context, _, identity string) (*livekit.ParticipantInfo, error) {
	if err := f.call("GetParticipant"); err != nil {
		return nil, err
	}
	return &livekit.ParticipantInfo{Identity: identity}, nil
}

func (f *fakeNode) RemoveParticipant(context.Context, string, string) error {
	return f.call("RemoveParticipant")
}

func (f *fakeNode) MutePublishedTrack(_ context.Context, req *livekit.MuteRoomTrackRequest) (*livekit.TrackInfo, error) {
	if err := f.call("MutePublishedTrack"); err != nil {
		return nil, err
	}
	return &livekit.TrackInfo{Sid: req.GetTrackSid(), Muted: req.GetMuted()}, nil
}

func (f *fakeNode) UpdateParticipant(_ context.Context, req *livekit.UpdateParticipantRequest) (*livekit.ParticipantInfo, error) {
	if err := f.call("UpdateParticipant"); err != nil {
		return nil, err
	}
	return &livekit.ParticipantInfo{Identity: req.GetIdentity(), Metadata: req.GetMetadata()}, nil
}

func (f *fakeNode) UpdateSubscriptions(context.Context, *livekit.UpdateSubscriptionsRequest) error {
	return f.call("UpdateSubscriptions")
}

func (f *fakeNode) SendData(context.Context, *livekit.SendDataRequest) error {
	return f.call("SendData")
}

func (f *fakeNode) UpdateRoomMetadata(_ context.Context, room, md string) (*livekit.Room, error) {
	if err := f.call("UpdateRoomMetadata"); err != nil {
		return nil, err
	}
	return &livekit.Room{Name: room, Metadata: md}, nil
}

func (f *fakeNode) PerformRpc(context.Context, *livekit.PerformRpcRequest) (string, error) {
	return "", f.call("PerformRpc")
}

func (f *fakeNode) Tree() []actors.ActorInfo { return f.tree }

func (f *fakeNode) AutoCreate() bool { return !f.noAutoCreate }

func (f *fakeNode) join(_ context.Context, req actors.JoinRequest) (session, error) {
	if f.joinErr != nil {
		return nil, f.joinErr
	}
	s := &fakeSession{sink: req.Sink, signals: make(chan *livekit.SignalRequest, 64), closed: make(chan bool, 1)}
	if err := req.Sink.Send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Join{Join: &livekit.JoinResponse{
		Room:        &livekit.Room{Name: req.Room},
		Participant: &livekit.ParticipantInfo{Sid: "PA_1", Identity: req.Identity},
		ServerInfo:  &livekit.ServerInfo{Version: "1.9.0"},
	}}}); err != nil {
		return nil, err
	}
	if f.onJoin != nil {
		f.onJoin(req)
	}
	f.joins <- req
	f.sessions <- s
	return s, nil
}

// fakeSession records what the edge hands to the participant actor.
type fakeSession struct {
	sink    actors.SignalSink
	signals chan *livekit.SignalRequest
	closed  chan bool // receives abrupt once
	once    sync.Once
}

func (s *fakeSession) Signal(req *livekit.SignalRequest) { s.signals <- req }

func (s *fakeSession) Close(abrupt bool) { s.once.Do(func() { s.closed <- abrupt }) }

func (s *fakeSession) ParticipantSID() string { return "PA_1" }

var errBoom = errors.New("boom")

var testKeys = auth.KeyProvider{"devkey": "secret"}

// testLogger writes to stderr when LK_TEST_LOG is set, else nowhere.
func testLogger() *slog.Logger {
	if os.Getenv("LK_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startServer serves a fake-backed Server on a loopback httptest server.
func startServer(t *testing.T, cfg ServerConfig, node *fakeNode) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(newServer(cfg, node, testKeys, testLogger()))
	t.Cleanup(srv.Close)
	return srv
}

// token mints a token signed with the test key.
func token(t *testing.T, identity string, g *auth.VideoGrant) string {
	t.Helper()
	tok, err := auth.NewAccessToken("devkey", "secret").SetIdentity(identity).SetVideoGrant(g).SetValidFor(time.Hour).ToJWT()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
