// Package testkit starts real nodes for tests: an actors.Node with its HTTP edge on free loopback
// ports, plus helpers to mint tokens and call the Room API. Tests drive it over real HTTP,
// WebSocket and UDP like any client would.
package testkit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/transport"
	"github.com/actor-sfu/livekit-server/transport/auth"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// Test credentials every node started here accepts.
const (
	APIKey    = "devkey"
	APISecret = "secret"
)

// Options adjusts a test node. The zero value is a dev-mode node.
type Options struct {
	// Actors is the node configuration; Media and Logger are filled in for loopback tests.
	Actors actors.Config
	// Server is the edge configuration.
	Server transport.ServerConfig
	// LogLevel defaults to warn; set LIVEKIT_TEST_LOG=debug in the environment to see everything.
	LogLevel slog.Level
}

// Node is a running node and how to reach it.
type Node struct {
	*actors.Node
	// URL is the HTTP base, e.g. http://127.0.0.1:41234.
	URL string
	// WSURL is the WebSocket base, e.g. ws://127.0.0.1:41234.
	WSURL string

	srv *http.Server
}

// Start starts a node on free loopback ports. The caller stops it with Stop: every
// participant gets leave{SERVER_SHUTDOWN}, every actor and PeerConnection is closed.
func Start(opts Options) (*Node, error) {
	level := opts.LogLevel
	if level == 0 {
		level = slog.LevelWarn
	}
	if v := os.Getenv("LIVEKIT_TEST_LOG"); v != "" {
		_ = level.UnmarshalText([]byte(v))
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg := opts.Actors
	if cfg.Logger == nil {
		cfg.Logger = log
	}
	cfg.Media.BindIP = "127.0.0.1"
	cfg.Media.LoopbackOnly = true
	node, err := actors.NewNode(cfg)
	if err != nil {
		return nil, fmt.Errorf("starting node: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = node.Close(ctx)
		return nil, fmt.Errorf("listening: %w", err)
	}
	handler := transport.NewServer(opts.Server, node, auth.KeyProvider{APIKey: APISecret}, log)
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("test http server", "err", err)
		}
	}()
	addr := ln.Addr().String()
	return &Node{Node: node, URL: "http://" + addr, WSURL: "ws://" + addr, srv: srv}, nil
}

// StartNode is Start for a test: it fails the test when the node cannot start and stops the
// node when the test ends.
func StartNode(t testing.TB, opts Options) *Node {
	t.Helper()
	n, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	return n
}

// Stop closes the node (leave{SERVER_SHUTDOWN} to every participant) and its HTTP server.
func (n *Node) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = n.Node.Close(ctx)
	_ = n.srv.Shutdown(ctx)
	n.srv.Close()
}

// Token mints a join token for identity in room, with LiveKit's default grants (publish,
// subscribe, publish data) adjusted by grant when it is given.
func Token(t testing.TB, room, identity string, grant *auth.VideoGrant) string {
	t.Helper()
	if grant == nil {
		grant = &auth.VideoGrant{}
	}
	grant.RoomJoin = true
	grant.Room = room
	tok, err := auth.NewAccessToken(APIKey, APISecret).SetIdentity(identity).SetName(identity).
		SetVideoGrant(grant).SetValidFor(time.Hour).ToJWT()
	if err != nil {
		t.Fatalf("minting token: %v", err)
	}
	return tok
}

// AdminToken mints a service token for the Room API: create, list and admin of room (any room
// when room is empty is not a thing in LiveKit, so admin calls need the room named).
func AdminToken(t testing.TB, room string) string {
	t.Helper()
	tok, err := auth.NewAccessToken(APIKey, APISecret).SetVideoGrant(&auth.VideoGrant{
		RoomCreate: true, RoomList: true, RoomAdmin: true, Room: room,
	}).SetValidFor(time.Hour).ToJWT()
	if err != nil {
		t.Fatalf("minting token: %v", err)
	}
	return tok
}

// RoomService returns a Twirp Room API client (protobuf encoding) that sends token.
func (n *Node) RoomService(token string) livekit.RoomService {
	return livekit.NewRoomServiceProtobufClient(n.URL, &http.Client{Transport: lkclient.BearerTransport{Token: token}, Timeout: 10 * time.Second})
}

// RoomServiceJSON is RoomService with JSON encoding, as the node SDK sends.
func (n *Node) RoomServiceJSON(token string) livekit.RoomService {
	return livekit.NewRoomServiceJSONClient(n.URL, &http.Client{Transport: lkclient.BearerTransport{Token: token}, Timeout: 10 * time.Second})
}

// HasActor reports whether the node's actor tree lists path (e.g. /node/rooms/r1).
func (n *Node) HasActor(path string) bool {
	for _, a := range n.Tree() {
		if a.Path == path || strings.HasPrefix(a.Path, path+"/") {
			return true
		}
	}
	return false
}
