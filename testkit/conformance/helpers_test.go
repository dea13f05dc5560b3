package conformance

import (
	"context"
	"testing"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"
)

// roomClient is the SDK's RoomService client with the node's credentials.
func roomClient() *lksdk.RoomServiceClient {
	return lksdk.NewRoomServiceClient(httpURL, apiKey, apiSecret)
}

// join connects identity to room with the SDK (and opts) and disconnects at cleanup.
func join(t *testing.T, room, identity string, cb *lksdk.RoomCallback, opts ...lksdk.ConnectOption) *lksdk.Room {
	t.Helper()
	if cb == nil {
		cb = lksdk.NewRoomCallback()
	}
	start := time.Now()
	r, err := lksdk.ConnectToRoom(wsURL, lksdk.ConnectInfo{
		APIKey: apiKey, APISecret: apiSecret,
		RoomName: room, ParticipantIdentity: identity, ParticipantName: identity,
	}, cb, append([]lksdk.ConnectOption{lksdk.WithConnectTimeout(15 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatalf("%s: ConnectToRoom(%s): %v", identity, room, err)
	}
	t.Logf("%s joined %s in %v (sid %s, server %s)", identity, room, time.Since(start).Round(time.Millisecond),
		r.LocalParticipant.SID(), r.ServerInfo().GetVersion())
	t.Cleanup(r.Disconnect)
	return r
}

// eventually polls cond every 20 ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitChan waits for ch to be closed or receive, up to d.
func waitChan[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
	var zero T
	return zero
}

// testCtx is a context bounded by d and cancelled at cleanup.
func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
