package lkclient_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"
	"go.uber.org/goleak"

	livekit "github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit/synth"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
	"github.com/actor-sfu/livekit-server/transport/lkclient/lkmedia"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// join is lkclient.Join with ICE on loopback, where the fake SFU listens.
func join(ctx context.Context, url, token string, opts lkclient.Options) (*lkclient.Client, error) {
	opts.ConfigureSettingEngine = lkclient.LoopbackICE
	return lkclient.Join(ctx, url, token, opts)
}

func TestJoinRefused(t *testing.T) {
	defer goleak.VerifyNone(t)
	sfu := newFakeSFU(t)
	defer sfu.close()
	_, err := join(testCtx(t), sfu.url(), "bad", lkclient.Options{})
	var he *lkclient.HTTPError
	if !errors.As(err, &he) || he.StatusCode != 401 || he.Body != "invalid authorization token" {
		t.Fatalf("err %v", err)
	}
	sfu.close()
}

// TestFakeSFUSession drives the whole client against the in-test fake SFU:
// join over each framing/auth variant, receive bob's track and check
// frames byte for byte, publish synthetic video and data, then leave.
func TestFakeSFUSession(t *testing.T) {
	for _, v := range []struct {
		name string
		opts lkclient.Options
	}{
		{"protobuf query token", lkclient.Options{}},
		{"json bearer", lkclient.Options{JSON: true, BearerHeader: true, Ping: true}},
	} {
		t.Run(v.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			ctx := testCtx(t)
			sfu := newFakeSFU(t)
			defer sfu.close()
			var mu sync.Mutex
			var events []string
			record := func(s string) { mu.Lock(); events = append(events, s); mu.Unlock() }
			v.opts.Handlers = lkclient.Handlers{
				OnParticipantConnected: func(p *livekit.ParticipantInfo) { record("connected:" + p.GetIdentity()) },
				OnTrackPublished:       func(p *livekit.ParticipantInfo, tr *livekit.TrackInfo) { record("published:" + tr.GetSid()) },
				OnTrackSubscribed:      func(rt *lkclient.RemoteTrack) { record("subscribed:" + rt.TrackSID) },
				OnDisconnected:         func(error) { record("disconnected") },
			}
			c, err := join(ctx, sfu.url(), "good", v.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Identity() != "alice" || c.SID() != "PA_alice" || c.Room().GetName() != "r" || c.Subscriber().ConnectionState() != webrtc.PeerConnectionStateConnected {
				t.Fatalf("join state: %s %s %v", c.Identity(), c.SID(), c.Subscriber().ConnectionState())
			}
			if _, err := c.WaitParticipant(ctx, "bob"); err != nil {
				t.Fatal(err)
			}

			// Bob's track: identity from the stream id, frames intact and in order.
			rt, err := c.WaitSubscribed(ctx, "TR_bobv")
			if err != nil {
				t.Fatal(err)
			}
			if rt.ParticipantSID != "PA_bob" || rt.PublisherIdentity != "bob" || rt.Codec.MimeType != webrtc.MimeTypeVP8 {
				t.Fatalf("remote track %+v", rt)
			}
			asm := lkmedia.NewVP8Assembler()
			last, verified := -1, 0
			for verified < 10 {
				select {
				case p := <-rt.Packets():
					for _, f := range asm.Push(p) {
						n, _, err := synth.ParseSyntheticVP8(f.Data)
						if err != nil || int(n) <= last {
							t.Fatalf("frame %d after %d: %v", n, last, err)
						}
						last, verified = int(n), verified+1
					}
				case <-ctx.Done():
					t.Fatal(ctx.Err())
				}
			}

			// Publish synthetic video; the SFU reassembles what it got.
			lt, err := c.PublishTrack(ctx, lkclient.TrackOptions{Kind: webrtc.RTPCodecTypeVideo, Name: "cam", Width: 320, Height: 240})
			if err != nil {
				t.Fatal(err)
			}
			if lt.SID() != "TR_"+lt.CID() {
				t.Fatalf("sid %s cid %s", lt.SID(), lt.CID())
			}
			var sentMu sync.Mutex
			sent := map[uint64][]byte{}
			pubCtx, stopPub := context.WithCancel(ctx)
			pubDone := make(chan error, 1)
			go func() {
				_, err := synth.Publish(pubCtx, lt, synth.Options{FPS: 30, FrameSize: 2500, OnFrame: func(_ string, n uint64, f []byte) {
					sentMu.Lock()
					sent[n] = f
					sentMu.Unlock()
				}})
				pubDone <- err
			}()
			sess := sfu.session(t)
			eventually(ctx, t, "published frames", func() bool { return len(sess.publishedFrames()) >= 10 })
			stopPub()
			if err := <-pubDone; err != nil {
				t.Fatal(err)
			}
			for _, f := range sess.publishedFrames() {
				n, _, err := synth.ParseSyntheticVP8(f.Data)
				sentMu.Lock()
				want := sent[n]
				sentMu.Unlock()
				if err != nil || string(want) != string(f.Data) {
					t.Fatalf("published frame %d differs: %v", n, err)
				}
			}

			// Data round trip: the SFU echoes, stamped with the sender.
			if err := c.PublishData(ctx, []byte("hello"), lkclient.DataOptions{Reliable: true, Topic: "t"}); err != nil {
				t.Fatal(err)
			}
			d, err := c.WaitData(ctx, func(d *lkclient.ReceivedData) bool { return string(d.Payload) == "hello" })
			if err != nil {
				t.Fatal(err)
			}
			if d.Identity != "alice" || d.Topic != "t" || !d.Reliable() || !d.Subscriber || d.Packet.GetSequence() != 1 {
				t.Fatalf("data %+v seq %d", d, d.Packet.GetSequence())
			}
			if err := c.PublishData(ctx, []byte("lossy"), lkclient.DataOptions{}); err != nil {
				t.Fatal(err)
			}
			if d, err = c.WaitData(ctx, func(d *lkclient.ReceivedData) bool { return string(d.Payload) == "lossy" }); err != nil || d.Reliable() {
				t.Fatalf("lossy %+v %v", d, err)
			}

			if err := c.SetTrackMuted(lt.SID(), true); err != nil || !lt.Muted() {
				t.Fatalf("mute: %v", err)
			}
			if err := c.UnpublishTrack(lt); err != nil {
				t.Fatal(err)
			}
			if err := c.Leave(); err != nil {
				t.Fatal(err)
			}
			if !errors.Is(c.Err(), lkclient.ErrClosed) {
				t.Fatalf("err %v", c.Err())
			}
			eventually(ctx, t, "leave at sfu", func() bool {
				return len(sess.requestsOf(func(r *livekit.SignalRequest) bool { return r.GetLeave() != nil })) == 1
			})
			trickles := sess.requestsOf(func(r *livekit.SignalRequest) bool { return r.GetTrickle() != nil })
			targets := map[livekit.SignalTarget]int{}
			for _, r := range trickles {
				targets[r.GetTrickle().GetTarget()]++
			}
			if targets[livekit.SignalTarget_SUBSCRIBER] == 0 || targets[livekit.SignalTarget_PUBLISHER] == 0 {
				t.Fatalf("trickle targets %v", targets)
			}
			mutes := sess.requestsOf(func(r *livekit.SignalRequest) bool { return r.GetMute() != nil })
			if len(mutes) != 1 || mutes[0].GetMute().GetSid() != lt.SID() {
				t.Fatalf("mutes %v", mutes)
			}
			if v.opts.Ping && len(sess.requestsOf(func(r *livekit.SignalRequest) bool { return r.GetPingReq() != nil })) == 0 {
				// The fake's ping interval is 1 s and the session lasts longer than that only sometimes; not asserted.
				t.Log("no ping_req seen")
			}
			sfu.close()
			mu.Lock()
			defer mu.Unlock()
			want := []string{"connected:bob", "published:TR_bobv", "subscribed:TR_bobv"}
			for i, w := range want {
				if i >= len(events) || events[i] != w {
					t.Fatalf("events %v, want prefix %v", events, want)
				}
			}
		})
	}
}

func TestServerLeaveEndsSession(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx := testCtx(t)
	sfu := newFakeSFU(t)
	defer sfu.close()
	left := make(chan *livekit.LeaveRequest, 1)
	c, err := join(ctx, sfu.url(), "good", lkclient.Options{Handlers: lkclient.Handlers{OnLeave: func(l *livekit.LeaveRequest) { left <- l }}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sfu.session(t).send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Leave{Leave: &livekit.LeaveRequest{
		Reason: livekit.DisconnectReason_PARTICIPANT_REMOVED,
	}}})
	l, err := c.WaitDone(ctx)
	if err != nil || l.GetReason() != livekit.DisconnectReason_PARTICIPANT_REMOVED {
		t.Fatalf("leave %v %v", l, err)
	}
	var le *lkclient.LeaveError
	if !errors.As(c.Err(), &le) {
		t.Fatalf("err %v", c.Err())
	}
	if got := <-left; got.GetReason() != livekit.DisconnectReason_PARTICIPANT_REMOVED {
		t.Fatalf("handler got %v", got)
	}
	c.Close()
	sfu.close()
}

func TestParticipantUpdatesAndServerMute(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx := testCtx(t)
	sfu := newFakeSFU(t)
	defer sfu.close()
	muted := make(chan bool, 1)
	c, err := join(ctx, sfu.url(), "good", lkclient.Options{Handlers: lkclient.Handlers{OnLocalTrackMuted: func(_ *lkclient.LocalTrack, m bool) { muted <- m }}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sess := sfu.session(t)
	sess.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Update{Update: &livekit.ParticipantUpdate{Participants: []*livekit.ParticipantInfo{
		{Sid: "PA_bob", Identity: "bob", Version: 2, State: livekit.ParticipantInfo_ACTIVE}, // older: ignored
		{Sid: "PA_carol", Identity: "carol", Version: 1, State: livekit.ParticipantInfo_JOINED},
	}}}})
	if _, err := c.WaitParticipant(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	if len(c.Participant("bob").GetTracks()) != 1 {
		t.Fatal("older bob update applied")
	}
	sess.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Update{Update: &livekit.ParticipantUpdate{Participants: []*livekit.ParticipantInfo{
		{Sid: "PA_bob", Identity: "bob", Version: 4, State: livekit.ParticipantInfo_DISCONNECTED},
	}}}})
	if err := c.WaitParticipantGone(ctx, "bob"); err != nil {
		t.Fatal(err)
	}

	lt, err := c.PublishTrack(ctx, lkclient.TrackOptions{Codec: webrtc.MimeTypeOpus})
	if err != nil {
		t.Fatal(err)
	}
	sess.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Mute{Mute: &livekit.MuteTrackRequest{Sid: lt.SID(), Muted: true}}})
	if m := <-muted; !m || !lt.Muted() {
		t.Fatal("server mute not applied")
	}
	eventually(ctx, t, "mute echo", func() bool {
		return len(sess.requestsOf(func(r *livekit.SignalRequest) bool { return r.GetMute().GetSid() == lt.SID() && r.GetMute().GetMuted() })) == 1
	})
	c.Close()
	sfu.close()
}

func TestPublishSimulcast(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx := testCtx(t)
	sfu := newFakeSFU(t)
	defer sfu.close()
	c, err := join(ctx, sfu.url(), "good", lkclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	lt, err := c.PublishTrack(ctx, lkclient.TrackOptions{Codec: webrtc.MimeTypeVP8, Simulcast: true, Width: 640, Height: 480})
	if err != nil {
		t.Fatal(err)
	}
	if got := lt.RIDs(); len(got) != 3 || got[0] != "q" || got[2] != "f" {
		t.Fatalf("rids %v", got)
	}
	pubCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _, _ = synth.Publish(pubCtx, lt, synth.Options{FPS: 30}) }()
	sess := sfu.session(t)
	eventually(ctx, t, "three layers", func() bool {
		r := sess.ridCounts()
		return r["q"] > 5 && r["h"] > 5 && r["f"] > 5
	})
	stop()
	<-done
	for _, f := range sess.publishedFrames() {
		if _, h, err := synth.ParseSyntheticVP8(f.Data); err != nil || (h.Keyframe && h.Width != 640) {
			t.Fatalf("top layer frame: %+v %v", h, err)
		}
	}
	c.Close()
	sfu.close()
}
