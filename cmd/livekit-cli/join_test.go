package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport/lkclient/lkmedia"
)

const (
	testIVF = "../../testkit/testdata/vp8-320x240-15fps-3s.ivf"
	testOgg = "../../testkit/testdata/opus-48k-mono-3s.ogg"
)

// background runs the command line in a goroutine; wait returns its result.
func background(ctx context.Context, t *testing.T, node *testkit.Node, args ...string) (wait func() result) {
	t.Helper()
	var r result
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r = cli(ctx, t, node, args...)
	}()
	return func() result { wg.Wait(); return r }
}

// waitParticipant polls the Room API until identity is in room.
func waitParticipant(ctx context.Context, t *testing.T, node *testkit.Node, room, identity string) {
	t.Helper()
	svc := node.RoomService(testkit.AdminToken(t, room))
	for {
		if _, err := svc.GetParticipant(ctx, &livekit.RoomParticipantIdentity{Room: room, Identity: identity}); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never joined %s", identity, room)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestPublishAndRecord runs the README flow: one CLI publishes the test IVF and Ogg files, another
// CLI in the same room records what it receives; the recordings hold the very same VP8 frames and
// Opus packets (a contiguous run of the looping source, starting at a keyframe for video).
func TestPublishAndRecord(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	node := testkit.StartNode(t, testkit.Options{})
	out := t.TempDir()

	room, _ := parseCreateRoom(t, mustCLI(ctx, t, node, "create-room", "--name", "demo"))

	recCtx, stopRecorder := context.WithCancel(ctx)
	defer stopRecorder()
	// The recorder finds the room by SID, as the original README does.
	waitRec := background(recCtx, t, node, "join", "--room-id", room.GetSid(), "--identity", "rec", "--out", out,
		"--duration", "25s")
	waitParticipant(ctx, t, node, "demo", "rec")

	pub := mustCLI(ctx, t, node, "join", "--room", "demo", "--identity", "pub", "--video", testIVF, "--audio", testOgg,
		"--loop", "--duration", "5s")
	for _, want := range []string{"joined room demo", "publishing " + testIVF, "publishing " + testOgg, "sent 2 track(s): "} {
		if !strings.Contains(pub.stderr, want) {
			t.Errorf("publisher stderr lacks %q:\n%s", want, pub.stderr)
		}
	}
	if !strings.Contains(pub.stdout, "sent     TR_") {
		t.Errorf("publisher stdout lacks its stats:\n%s", pub.stdout)
	}

	// The publisher has left: its tracks end at the recorder, which then writes its summary.
	stopRecorder()
	rec := waitRec()
	if rec.code != exitOK {
		t.Fatalf("recorder: exit %d\nstdout: %s\nstderr: %s", rec.code, rec.stdout, rec.stderr)
	}
	t.Logf("recorder stdout:\n%s", rec.stdout)

	ivfs, _ := filepath.Glob(filepath.Join(out, "pub-TR_*.ivf"))
	oggs, _ := filepath.Glob(filepath.Join(out, "pub-TR_*.ogg"))
	if len(ivfs) != 1 || len(oggs) != 1 {
		entries, _ := os.ReadDir(out)
		t.Fatalf("recorded files %v, want one pub-TR_….ivf and one .ogg", entries)
	}
	for _, f := range append(ivfs, oggs...) {
		if !strings.Contains(rec.stdout, "to "+f) {
			t.Errorf("recorder stdout does not name %s", f)
		}
	}

	srcInfo, srcVideo, err := lkmedia.LoadIVF(testIVF)
	if err != nil {
		t.Fatal(err)
	}
	recInfo, recVideo, err := lkmedia.LoadIVF(ivfs[0])
	if err != nil {
		t.Fatalf("recorded IVF: %v", err)
	}
	if recInfo.FourCC != "VP80" || recInfo.Width != srcInfo.Width || recInfo.Height != srcInfo.Height {
		t.Errorf("recorded IVF header %+v, source %+v", recInfo, srcInfo)
	}
	if len(recVideo) < 10 {
		t.Fatalf("recorded %d VP8 frames, want at least 10", len(recVideo))
	}
	if !lkmedia.IsVP8Keyframe(recVideo[0].Data) {
		t.Error("the recording does not start with a keyframe")
	}
	if err := contiguousInLoop(srcVideo, recVideo); err != "" {
		t.Errorf("VP8 frames: %s", err)
	}

	_, srcAudio, err := lkmedia.LoadOgg(testOgg)
	if err != nil {
		t.Fatal(err)
	}
	_, recAudio, err := lkmedia.LoadOgg(oggs[0])
	if err != nil {
		t.Fatalf("recorded Ogg: %v", err)
	}
	if len(recAudio) < 50 {
		t.Fatalf("recorded %d Opus packets, want at least 50", len(recAudio))
	}
	if err := contiguousInLoop(srcAudio, recAudio); err != "" {
		t.Errorf("Opus packets: %s", err)
	}
	t.Logf("recorded %d of the VP8 frames and %d Opus packets, all identical to the source", len(recVideo), len(recAudio))
}

// TestPublishLoopsByDefault: join without --loop repeats its files until stopped, so that a
// participant who joins after the first 3 seconds still receives media; --once and --loop=false
// send each file once.
func TestPublishLoopsByDefault(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	node := testkit.StartNode(t, testkit.Options{})
	srcFrames := map[string]int{}
	for _, f := range []string{testIVF, testOgg} {
		var n int
		var err error
		if strings.HasSuffix(f, ".ivf") {
			_, frames, e := lkmedia.LoadIVF(f)
			n, err = len(frames), e
		} else {
			_, frames, e := lkmedia.LoadOgg(f)
			n, err = len(frames), e
		}
		if err != nil {
			t.Fatal(err)
		}
		srcFrames[f] = n
	}
	runs := []struct {
		name  string
		extra []string
		loops bool
	}{
		{"default", nil, true},
		{"once", []string{"--once"}, false},
		{"loop=false", []string{"--loop=false"}, false},
	}
	waits := make([]func() result, len(runs))
	for i, run := range runs {
		args := append([]string{"join", "--room", "loop-" + run.name, "--video", testIVF, "--audio", testOgg,
			"--duration", "8s"}, run.extra...) // 8 s: room for a slow join on a loaded machine, then > 3 s of media
		waits[i] = background(ctx, t, node, args...)
	}
	for i, run := range runs {
		r := waits[i]()
		if r.code != exitOK {
			t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", run.name, r.code, r.stdout, r.stderr)
		}
		for f, n := range srcFrames {
			sent := -1
			for _, line := range strings.Split(r.stdout, "\n") {
				if _, rest, ok := strings.Cut(line, " from "+f+": "); ok {
					fmt.Sscanf(rest, "%d frames", &sent)
				}
			}
			if run.loops && sent <= n || !run.loops && sent != n {
				t.Errorf("%s: sent %d frames of %s (%d in the file), want looping=%v\nstdout: %s",
					run.name, sent, f, n, run.loops, r.stdout)
			}
		}
		if finished := strings.Contains(r.stderr, "finished publishing"); finished == run.loops {
			t.Errorf("%s: stderr says finished=%v:\n%s", run.name, finished, r.stderr)
		}
	}
}

// contiguousInLoop checks that got is a contiguous run of src repeated end to end (the publisher
// loops); it returns "" or what is wrong.
func contiguousInLoop(src, got []lkmedia.MediaFrame) string {
	best, bestAt := -1, 0
	for start := range src {
		n := 0
		for n < len(got) && bytes.Equal(got[n].Data, src[(start+n)%len(src)].Data) {
			n++
		}
		if n == len(got) {
			return ""
		}
		if n > best {
			best, bestAt = n, start
		}
	}
	if best <= 0 {
		return "the first recorded frame is not in the source"
	}
	return fmt.Sprintf("recorded frame %d (of %d) differs from source frame %d", best, len(got), (bestAt+best)%len(src))
}
