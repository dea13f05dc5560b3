package scenarios

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// jsonLines decodes every line written to b as one JSON object.
func jsonLines(t *testing.T, b *testkit.SyncBuffer) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// Every log line about a participant names its room and the participant (identity and SID), and
// every line about a track names the track and its publisher too, so that one grep for a room,
// a participant or a track finds its whole story. The scenario covers join, publish, subscribe,
// a participant leaving and the room closing, with the node logging JSON at debug level.
func TestLogLinesCarryRoomParticipantTrack(t *testing.T) {
	logs := &testkit.SyncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	node := testkit.StartNode(t, testkit.Options{Actors: actors.Config{Logger: logger}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	alice := join(ctx, t, node, "logs", "alice", lkclient.Options{})
	bob := join(ctx, t, node, "logs", "bob", lkclient.Options{})
	pubCtx, stopPublishing := context.WithCancel(ctx)
	cam, camSent := publish(pubCtx, t, alice, webrtc.RTPCodecTypeVideo, 0)
	mic, micSent := publish(pubCtx, t, alice, webrtc.RTPCodecTypeAudio, 0)
	for _, sid := range []string{cam.SID(), mic.SID()} {
		if _, err := bob.WaitSubscribed(ctx, sid); err != nil {
			stopPublishing()
			t.Fatalf("bob never got %s: %v", sid, err)
		}
	}
	stopPublishing()
	<-camSent
	<-micSent
	if err := bob.Leave(); err != nil {
		t.Fatalf("bob leaves: %v", err)
	}
	if err := alice.WaitParticipantGone(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := node.DeleteRoom(ctx, "logs"); err != nil {
		t.Fatal(err)
	}

	// The room logs its end after its participants are gone; DeleteRoom may return first.
	for !strings.Contains(logs.String(), `"msg":"room stopped"`) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}

	sids := map[string]string{"alice": alice.SID(), "bob": bob.SID()}
	tracks := map[string]bool{cam.SID(): true, mic.SID(): true}
	lines := jsonLines(t, logs)
	var about = map[string]int{}
	for _, l := range lines {
		has := func(k string) bool { _, ok := l[k]; return ok }
		str := func(k string) string { s, _ := l[k].(string); return s }
		if has("participant") || has("pID") || has("track") {
			if str("room") != "logs" || str("roomID") == "" {
				t.Errorf("line about a participant or track lacks room/roomID: %v", l)
			}
			if str("participant") == "" || str("pID") == "" {
				t.Errorf("line about a participant lacks its identity or SID: %v", l)
			} else if want, known := sids[str("participant")]; known && str("pID") != want {
				t.Errorf("line names %s with SID %s, want %s: %v", str("participant"), str("pID"), want, l)
			}
		}
		if has("track") {
			if !tracks[str("track")] {
				t.Errorf("line names an unknown track: %v", l)
			}
			if str("participant") != "alice" {
				t.Errorf("line about alice's track does not name alice: %v", l)
			}
		}
		if str("room") == "logs" {
			about[str("msg")]++
		}
	}
	for _, msg := range []string{"participant joined", "track published", "participant left", "room stopped"} {
		if about[msg] == 0 {
			t.Errorf("no %q line about room logs among %d lines", msg, len(lines))
		}
	}
}
