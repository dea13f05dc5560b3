package scenarios

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport"
	"github.com/actor-sfu/livekit-server/transport/auth"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// The attacks of issue 13 ("safe on the open internet"), each against a real node: the attacker
// gets its answer, a bystander pair in the same room (alice publishes video and sends data, bob
// receives both) does not notice, and the process's heap and goroutines stay bounded.

// resources samples the test process's live heap and goroutines (node and clients together)
// until stop, keeping the peaks.
type resources struct {
	baseHeap          uint64
	baseGoroutines    int
	peakHeap          atomic.Uint64
	peakGoroutines    atomic.Int64
	peakPartMailbox   atomic.Int64 // deepest participant mailbox seen
	peakRoomMailbox   atomic.Int64 // deepest room mailbox seen
	stopOnce          sync.Once
	stopped, finished chan struct{}
}

func sampleResources(node *testkit.Node) *resources {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r := &resources{baseHeap: ms.HeapAlloc, baseGoroutines: runtime.NumGoroutine(), stopped: make(chan struct{}), finished: make(chan struct{})}
	go func() {
		defer close(r.finished)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.GC() // live heap, not garbage the collector has not reached yet
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			r.peakHeap.Store(max(r.peakHeap.Load(), ms.HeapAlloc))
			r.peakGoroutines.Store(max(r.peakGoroutines.Load(), int64(runtime.NumGoroutine())))
			st := node.Stats()
			r.peakPartMailbox.Store(max(r.peakPartMailbox.Load(), st.Actors["participant"].MailboxMax))
			r.peakRoomMailbox.Store(max(r.peakRoomMailbox.Load(), st.Actors["room"].MailboxMax))
			select {
			case <-r.stopped:
				return
			case <-tick.C:
			}
		}
	}()
	return r
}

// stop ends sampling and returns the heap growth in MiB and the goroutine growth over the baseline.
func (r *resources) stop() (heapMiB float64, goroutines int) {
	r.stopOnce.Do(func() { close(r.stopped) })
	<-r.finished
	grown := int64(r.peakHeap.Load()) - int64(r.baseHeap)
	return float64(grown) / (1 << 20), int(r.peakGoroutines.Load()) - r.baseGoroutines
}

// rssMiB is the test process's resident set in MiB (Linux; 0 elsewhere), for the logs.
func rssMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

// bystanders starts alice (video, data) and bob (receives both, with bobSees as his handlers) in
// room. Both keep a short history: the flood tests send them megabytes.
func bystanders(ctx context.Context, t *testing.T, node *testkit.Node, room string, bobSees lkclient.Handlers) *healthyRoom {
	t.Helper()
	alice := join(ctx, t, node, room, "alice", lkclient.Options{History: 64})
	bob := join(ctx, t, node, room, "bob", lkclient.Options{History: 64, Handlers: bobSees})
	cam, _ := publish(ctx, t, alice, webrtc.RTPCodecTypeVideo, 0)
	rt, err := bob.WaitSubscribed(ctx, cam.SID())
	if err != nil {
		t.Fatal(err)
	}
	return &healthyRoom{node: node, alice: alice, bob: bob, rt: rt}
}

// stallData makes c stop reading its subscriber PC's reliable channel, as a client that stops
// reading would: pion's read loop for the channel blocks, SCTP's receive window closes, and the
// node's side of the channel can only buffer. It reads again when the test ends.
func stallData(ctx context.Context, t *testing.T, c *lkclient.Client) {
	t.Helper()
	var dc *webrtc.DataChannel
	if err := c.WaitFor(ctx, func() bool {
		dc = c.DataChannel(lkclient.ReliableLabel, true)
		return dc != nil && dc.ReadyState() == webrtc.DataChannelStateOpen
	}); err != nil {
		t.Fatalf("%s's subscriber data channel did not open: %v", c.Identity(), err)
	}
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	dc.OnMessage(func(webrtc.DataChannelMessage) { <-release })
}

// floodData sends msg on c's publisher reliable channel as fast as the channel takes it, for d,
// keeping at most 4 MiB in the client's own buffer, and returns how many messages it sent.
func floodData(ctx context.Context, c *lkclient.Client, msg []byte, d time.Duration) int {
	dc := c.DataChannel(lkclient.ReliableLabel, false)
	sent := 0
	for end := time.Now().Add(d); time.Now().Before(end) && ctx.Err() == nil; {
		if dc.BufferedAmount() > 4<<20 {
			time.Sleep(time.Millisecond)
			continue
		}
		if dc.Send(msg) != nil {
			break
		}
		sent++
	}
	return sent
}

// A participant floods the room with 64 KiB reliable messages at full speed for 10 s while another
// stops reading its data channel and a third never opens one. The node relays at most the sender's data budget (DataBytesPerSecond
// with its one-second burst) and drops the rest, drops toward the stalled receiver once its channel
// buffers DataChannelMaxBufferedAmount, counts both in Stats, and alice's video and data keep
// reaching bob throughout; heap and goroutines stay bounded.
func TestAttackDataFlood(t *testing.T) {
	// A budget below what pion's SCTP carries on a loaded machine under -race (about 2 MiB/s), so
	// that the flood always exceeds it; the buffered-amount cap is the default.
	const budget = 256 << 10
	node := testkit.StartNode(t, testkit.Options{Actors: actors.Config{Limits: actors.Limits{DataBytesPerSecond: budget}}})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const room = "flood"
	var fromMallory atomic.Int64 // bytes bob received from mallory
	h := bystanders(ctx, t, node, room, lkclient.Handlers{OnData: func(d *lkclient.ReceivedData) {
		if d.Identity == "mallory" {
			fromMallory.Add(int64(len(d.Payload)))
		}
	}})
	bob := h.bob
	eve := join(ctx, t, node, room, "eve", lkclient.Options{History: 16})
	mallory := join(ctx, t, node, room, "mallory", lkclient.Options{NoAutoSubscribe: true, History: 16})
	if err := mallory.PublishData(ctx, []byte("hello"), lkclient.DataOptions{Reliable: true}); err != nil {
		t.Fatal(err) // opens mallory's channel
	}
	if _, err := bob.WaitData(ctx, func(d *lkclient.ReceivedData) bool { return d.Identity == "mallory" }); err != nil {
		t.Fatal(err)
	}
	stallData(ctx, t, eve)
	fromMallory.Store(0)
	// zoe joins but never answers the subscriber offer, so her data channel never opens and
	// reliable data for her can only queue.
	zoe, _, err := websocket.DefaultDialer.DialContext(ctx, node.WSURL+"/rtc?access_token="+testkit.Token(t, room, "zoe", nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { zoe.Close() })
	if _, err := bob.WaitParticipant(ctx, "zoe"); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 64<<10-64) // the encoded DataPacket is just under 64 KiB
	msg, err := proto.Marshal(lkclient.NewUserPacket(payload, lkclient.DataOptions{Reliable: true}))
	if err != nil {
		t.Fatal(err)
	}
	res := sampleResources(node)
	rssBefore := rssMiB()
	const floodFor = 10 * time.Second
	start := time.Now()
	sent := make(chan int, 1)
	go func() { sent <- floodData(ctx, mallory, msg, floodFor) }()
	checks := 0
	for time.Since(start) < floodFor {
		checkCtx, cancelCheck := context.WithTimeout(ctx, 15*time.Second)
		h.check(checkCtx, t)
		cancelCheck()
		if _, err := node.ListParticipants(ctx, room); err != nil {
			t.Fatalf("the room stopped answering the Room API during the flood: %v", err)
		}
		checks++
	}
	n := <-sent
	heapMiB, goroutines := res.stop()
	drops := node.Stats().DataDropped
	// What mallory's client still buffers keeps arriving after the loop; her budget is counted up
	// to the moment bob's count is read.
	got, elapsed := fromMallory.Load(), time.Since(start)
	t.Logf("mallory sent %d messages (%.1f MiB/s) in %v; bob got %.1f MiB of them; drops %+v; "+
		"bystander checks %d; heap +%.1f MiB, RSS %.0f → %.0f MiB, goroutines +%d, deepest mailbox participant %d room %d",
		n, float64(n)*float64(len(msg))/(1<<20)/elapsed.Seconds(), elapsed.Round(time.Millisecond), float64(got)/(1<<20),
		drops, checks, heapMiB, rssBefore, rssMiB(), goroutines, res.peakPartMailbox.Load(), res.peakRoomMailbox.Load())

	if want := int64(budget * (elapsed.Seconds() + 2)); got > want {
		t.Errorf("bob received %d bytes from mallory in %v, more than her budget allows (%d)", got, elapsed, want)
	}
	if drops.RateLimited == 0 {
		t.Error("nothing was counted as rate-limited")
	}
	if drops.BufferFull == 0 {
		t.Error("nothing was dropped toward eve, who stopped reading")
	}
	if drops.QueueFull == 0 {
		t.Error("nothing was dropped toward zoe, whose data channel never opened")
	}
	if heapMiB > 64 {
		t.Errorf("heap grew by %.1f MiB during the flood", heapMiB)
	}
	if goroutines > 50 {
		t.Errorf("goroutines grew by %d during the flood", goroutines)
	}
	h.check(ctx, t)
}

// updateMeter counts the ParticipantUpdates about one identity that a client receives, and their
// bytes, while on.
type updateMeter struct {
	identity     string
	on           atomic.Bool
	count, bytes atomic.Int64
}

func (m *updateMeter) see(r *livekit.SignalResponse) {
	if !m.on.Load() {
		return
	}
	for _, p := range r.GetUpdate().GetParticipants() {
		if p.GetIdentity() == m.identity {
			m.count.Add(1)
			m.bytes.Add(int64(proto.Size(r)))
			return
		}
	}
}

// One participant tries to make the node amplify its signalling into everyone's signal queue:
// sixteen add_tracks with 60 KB names (and oversized layers, codecs and stream), a 60 KB name,
// attributes grown past their limit a piece at a time, a burst of metadata updates, then 50 mute
// toggles a second for 5 s while its info carries 60 KB of metadata. Every oversized request is
// refused with a request_response that says which limit; the toggles coalesce so that bob gets a
// bounded number of bytes about mallory; alice and bob stay connected with media and data
// flowing, and bob ends up with mallory's final mute state.
func TestAttackSignalAmplification(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{}) // default limits, edge and node
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const room = "amplify"
	meter := &updateMeter{identity: "mallory"}
	h := bystanders(ctx, t, node, room, lkclient.Handlers{OnSignal: meter.see})
	yes := true
	mallory, err := testkit.Join(ctx, node.WSURL, testkit.Token(t, room, "mallory", &auth.VideoGrant{CanUpdateOwnMetadata: &yes}), lkclient.Options{NoAutoSubscribe: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mallory.Close)

	big := strings.Repeat("n", 60<<10)
	send := func(req *livekit.SignalRequest) {
		t.Helper()
		if err := mallory.SendRequest(req); err != nil {
			t.Fatalf("mallory's request was not sent: %v", err)
		}
	}
	addTrack := func(add *livekit.AddTrackRequest, want string) {
		t.Helper()
		send(&livekit.SignalRequest{Message: &livekit.SignalRequest_AddTrack{AddTrack: add}})
		if _, err := mallory.WaitSignal(ctx, func(r *livekit.SignalResponse) bool {
			rr := r.GetRequestResponse()
			return rr.GetAddTrack().GetCid() == add.Cid && rr.GetReason() == livekit.RequestResponse_LIMIT_EXCEEDED && strings.Contains(rr.GetMessage(), want)
		}); err != nil {
			t.Fatalf("add_track %s was not refused with %q naming it: %v", add.Cid, want, err)
		}
	}
	for i := range 16 {
		addTrack(&livekit.AddTrackRequest{Cid: fmt.Sprintf("big-%d", i), Name: big, Type: livekit.TrackType_VIDEO}, "name is 61440 bytes, limit 256")
	}
	layers := make([]*livekit.VideoLayer, 10)
	for i := range layers {
		layers[i] = &livekit.VideoLayer{Quality: livekit.VideoQuality_HIGH, Width: 1280, Height: 720}
	}
	addTrack(&livekit.AddTrackRequest{Cid: "layers", Type: livekit.TrackType_VIDEO, Layers: layers}, "10 layers, limit 4")
	addTrack(&livekit.AddTrackRequest{Cid: "codecs", Type: livekit.TrackType_VIDEO, SimulcastCodecs: make([]*livekit.SimulcastCodec, 10)}, "10 simulcast codecs, limit 4")
	addTrack(&livekit.AddTrackRequest{Cid: "stream", Type: livekit.TrackType_VIDEO, Stream: big}, "stream is 61440 bytes, limit 256")
	for _, c := range []*lkclient.Client{h.alice, h.bob} {
		if tracks := c.Participant("mallory").GetTracks(); len(tracks) > 0 {
			t.Fatalf("%s sees a track of mallory's that was refused: %v", c.Identity(), tracks[0].GetSid())
		}
	}

	update := func(id uint32, u *livekit.UpdateParticipantMetadata) {
		u.RequestId = id
		send(&livekit.SignalRequest{Message: &livekit.SignalRequest_UpdateMetadata{UpdateMetadata: u}})
	}
	waitAnswer := func(id uint32, want string) {
		t.Helper()
		if _, err := mallory.WaitSignal(ctx, func(r *livekit.SignalResponse) bool {
			rr := r.GetRequestResponse()
			return rr.GetRequestId() == id && rr.GetReason() == livekit.RequestResponse_LIMIT_EXCEEDED && strings.Contains(rr.GetMessage(), want)
		}); err != nil {
			t.Fatalf("update_metadata %d was not refused with %q: %v", id, want, err)
		}
	}
	update(1, &livekit.UpdateParticipantMetadata{Name: big})
	waitAnswer(1, "name is 61440 bytes, limit 256")
	piece := strings.Repeat("a", 16<<10)
	for i := range 4 {
		update(uint32(3+i), &livekit.UpdateParticipantMetadata{Attributes: map[string]string{fmt.Sprint(i): piece}})
	}
	waitAnswer(6, "attributes would be 65540 bytes, limit 65536")
	_, err = node.RoomService(testkit.AdminToken(t, room)).UpdateParticipant(ctx, &livekit.UpdateParticipantRequest{
		Room: room, Identity: "mallory", Attributes: map[string]string{"more": piece},
	})
	if twirpCode(err) != "invalid_argument" || !strings.Contains(err.Error(), "attributes would be") {
		t.Fatalf("Room API growing the attributes past the limit = %v, want invalid_argument", err)
	}
	for i := range 20 { // 60 KB metadata, rewritten as fast as the socket takes it
		update(uint32(10+i), &livekit.UpdateParticipantMetadata{Metadata: big[:60000-i]})
	}
	waitAnswer(29, "too many metadata updates: limit 5 per second")
	h.check(ctx, t)

	mic, _ := publish(ctx, t, mallory, webrtc.RTPCodecTypeAudio, 0)
	if _, err := h.bob.WaitPublication(ctx, "mallory", func(ti *livekit.TrackInfo) bool { return ti.GetSid() == mic.SID() }); err != nil {
		t.Fatal(err)
	}
	info, _ := node.GetParticipant(ctx, room, "mallory")
	infoSize := proto.Size(info)
	res := sampleResources(node)

	// The storm: 50 toggles a second for 5 s, ending unmuted.
	const stormFor, toggles = 5 * time.Second, 250
	meter.on.Store(true)
	start := time.Now()
	stormed := make(chan error, 1)
	go func() {
		tick := time.NewTicker(stormFor / toggles)
		defer tick.Stop()
		for i := range toggles {
			<-tick.C
			if err := mallory.SendRequest(&livekit.SignalRequest{Message: &livekit.SignalRequest_Mute{Mute: &livekit.MuteTrackRequest{Sid: mic.SID(), Muted: i%2 == 0}}}); err != nil {
				stormed <- err
				return
			}
		}
		stormed <- nil
	}()
	for time.Since(start) < stormFor {
		h.check(ctx, t)
	}
	if err := <-stormed; err != nil {
		t.Fatalf("mallory's storm was cut short: %v", err)
	}
	if _, err := h.bob.WaitPublication(ctx, "mallory", func(ti *livekit.TrackInfo) bool { return ti.GetSid() == mic.SID() && !ti.GetMuted() }); err != nil {
		t.Fatal("bob did not end with mallory's final mute state (unmuted)")
	}
	settle()
	elapsed := time.Since(start)
	meter.on.Store(false)
	heapMiB, goroutines := res.stop()
	n, bytes := meter.count.Load(), meter.bytes.Load()
	t.Logf("%d mute toggles in %v reached bob as %d updates, %.1f KiB (mallory's info: %d bytes); heap +%.1f MiB, goroutines +%d, deepest mailbox participant %d room %d",
		toggles, elapsed.Round(time.Millisecond), n, float64(bytes)/1024, infoSize, heapMiB, goroutines, res.peakPartMailbox.Load(), res.peakRoomMailbox.Load())
	if maxBytes := int64(64<<10*elapsed.Seconds()) + 2*int64(infoSize); bytes > maxBytes {
		t.Errorf("bob got %d bytes of updates about mallory, more than %d", bytes, maxBytes)
	}
	if maxCount := int64(elapsed/(100*time.Millisecond)) + 2; n > maxCount {
		t.Errorf("bob got %d updates about mallory, more than one per 100 ms (%d)", n, maxCount)
	}
	if n == 0 {
		t.Error("bob got no update about mallory during the storm")
	}
	if heapMiB > 64 || goroutines > 50 {
		t.Errorf("heap grew by %.1f MiB and goroutines by %d", heapMiB, goroutines)
	}
	h.check(ctx, t)
}

// loudAudio publishes an audio track whose packets carry a speech-level ssrc-audio-level, until
// ctx ends.
func loudAudio(ctx context.Context, t *testing.T, c *lkclient.Client) *lkclient.LocalTrack {
	t.Helper()
	mic, err := c.PublishTrack(ctx, lkclient.TrackOptions{Kind: webrtc.RTPCodecTypeAudio, RawRTP: true})
	if err != nil {
		t.Fatalf("%s publishes audio: %v", c.Identity(), err)
	}
	extID := mic.AudioLevelExtensionID()
	if extID == 0 {
		t.Fatal("ssrc-audio-level was not negotiated with the node")
	}
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111}, Payload: []byte{0xfc, 0xff, 0xfe}}
		for seq := uint16(1); ctx.Err() == nil; seq++ {
			<-tick.C
			pkt.SequenceNumber, pkt.Timestamp = seq, uint32(seq)*960
			if pkt.Header.SetExtension(extID, []byte{0x80 | 10}) != nil || mic.WriteRTP(pkt) != nil {
				return
			}
		}
	}()
	return mic
}

// spokeOf reports whether c was ever told that the participant with sid speaks.
func spokeOf(c *lkclient.Client, sid string) bool {
	for _, s := range c.Signals() {
		for _, sp := range s.GetSpeakersChanged().GetSpeakers() {
			if sp.GetSid() == sid {
				return true
			}
		}
	}
	return false
}

// Subscriptions and permissions as attack surface: one subscription frame naming 100,000 SIDs is
// applied up to MaxSubscriptionTracks and the rest refused; a hidden participant's tracks and
// speaking are invisible to everyone else (while a visible one's are not); narrowing
// canPublishSources through the Room API unpublishes the tracks already published from the
// sources no longer allowed. Bystanders notice none of it.
func TestAttackSubscriptionsAndPermissions(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const room = "perm"
	h := bystanders(ctx, t, node, room, lkclient.Handlers{})
	carol := join(ctx, t, node, room, "carol", lkclient.Options{})
	carolMic := loudAudio(ctx, t, carol)
	carolCam, _ := publish(ctx, t, carol, webrtc.RTPCodecTypeVideo, 0)
	for _, sid := range []string{carolMic.SID(), carolCam.SID()} {
		if _, err := h.bob.WaitSubscribed(ctx, sid); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("100,000 SIDs in one subscription", func(t *testing.T) {
		mallory := join(ctx, t, node, room, "mallory", lkclient.Options{NoAutoSubscribe: true})
		sids := make([]string, 100_000)
		for i := range sids {
			sids[i] = fmt.Sprintf("%x", i)
		}
		sids[0], sids[len(sids)-1] = h.rt.TrackSID, carolMic.SID()
		res := sampleResources(node)
		if err := mallory.UpdateSubscription(sids, nil, true); err != nil {
			t.Fatal(err)
		}
		refusal(ctx, t, mallory, livekit.RequestResponse_LIMIT_EXCEEDED, "subscription names 100000 tracks, limit 1000: the first 1000 were applied")
		rt, err := mallory.WaitSubscribed(ctx, h.rt.TrackSID)
		if err != nil {
			t.Fatal("the SID within the cap was not applied")
		}
		if err := rt.WaitPackets(ctx, 10); err != nil {
			t.Fatal(err)
		}
		settle()
		if mallory.RemoteTrack(carolMic.SID()) != nil {
			t.Error("a SID beyond the cap was applied")
		}
		_, err = node.RoomService(testkit.AdminToken(t, room)).UpdateSubscriptions(ctx, &livekit.UpdateSubscriptionsRequest{Room: room, Identity: "mallory", TrackSids: sids, Subscribe: true})
		if twirpCode(err) != "invalid_argument" {
			t.Errorf("Room API UpdateSubscriptions with 100,000 SIDs = %v, want invalid_argument", err)
		}
		heapMiB, goroutines := res.stop()
		t.Logf("heap +%.1f MiB, goroutines +%d, deepest mailbox participant %d room %d", heapMiB, goroutines, res.peakPartMailbox.Load(), res.peakRoomMailbox.Load())
		h.check(ctx, t)
	})

	t.Run("hidden participant publishes", func(t *testing.T) {
		ghost, err := testkit.Join(ctx, node.WSURL, testkit.Token(t, room, "ghost", &auth.VideoGrant{Hidden: true}), lkclient.Options{NoAutoSubscribe: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(ghost.Close)
		mic := loudAudio(ctx, t, ghost)
		cam, _ := publish(ctx, t, ghost, webrtc.RTPCodecTypeVideo, 0)
		if err := waitUntil(ctx, func() bool {
			p, err := node.GetParticipant(ctx, room, "ghost")
			return err == nil && len(p.GetTracks()) == 2
		}); err != nil {
			t.Fatal("the node never published the hidden participant's tracks")
		}
		// The visible speaker is announced after the hidden one started; once bob heard of carol
		// speaking twice over, the ghost has had time to be announced as well.
		for range 2 {
			if _, err := h.bob.WaitSignal(ctx, func(r *livekit.SignalResponse) bool { return len(r.GetSpeakersChanged().GetSpeakers()) > 0 }); err != nil {
				t.Fatal(err)
			}
			time.Sleep(700 * time.Millisecond)
		}
		if !spokeOf(h.bob, carol.SID()) {
			t.Fatal("bob never heard carol speak: the check below would prove nothing")
		}
		if err := h.bob.UpdateSubscription([]string{mic.SID(), cam.SID()}, nil, true); err != nil {
			t.Fatal(err)
		}
		settle()
		for _, c := range []*lkclient.Client{h.alice, h.bob, carol} {
			if spokeOf(c, ghost.SID()) {
				t.Errorf("%s was told the hidden participant speaks", c.Identity())
			}
			for _, sid := range []string{mic.SID(), cam.SID()} {
				if c.RemoteTrack(sid) != nil {
					t.Errorf("%s receives the hidden participant's track %s", c.Identity(), sid)
				}
			}
			if c.Participant("ghost") != nil {
				t.Errorf("%s sees the hidden participant", c.Identity())
			}
		}
		h.check(ctx, t)
	})

	t.Run("canPublishSources narrowed", func(t *testing.T) {
		_, err := node.RoomService(testkit.AdminToken(t, room)).UpdateParticipant(ctx, &livekit.UpdateParticipantRequest{
			Room: room, Identity: "carol",
			Permission: &livekit.ParticipantPermission{CanPublish: true, CanSubscribe: true, CanPublishData: true,
				CanPublishSources: []livekit.TrackSource{livekit.TrackSource_MICROPHONE}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := carol.WaitSignal(ctx, func(r *livekit.SignalResponse) bool { return r.GetTrackUnpublished().GetTrackSid() == carolCam.SID() }); err != nil {
			t.Fatal("carol was not told her camera was unpublished")
		}
		if err := h.bob.WaitUnsubscribed(ctx, carolCam.SID()); err != nil {
			t.Fatal("bob still receives carol's camera")
		}
		if err := h.bob.WaitFor(ctx, func() bool { return len(h.bob.Participant("carol").GetTracks()) == 1 }); err != nil {
			t.Fatalf("bob's view of carol still lists %d tracks", len(h.bob.Participant("carol").GetTracks()))
		}
		rt := h.bob.RemoteTrack(carolMic.SID())
		if rt == nil {
			t.Fatal("carol's microphone, still allowed, went too")
		}
		if err := rt.WaitPackets(ctx, rt.Stats().Packets+20); err != nil {
			t.Fatalf("carol's microphone stopped: %v", err)
		}
		_, err = carol.PublishTrack(ctx, lkclient.TrackOptions{Kind: webrtc.RTPCodecTypeVideo, Width: 320, Height: 240})
		var re *lkclient.RequestError
		if !errors.As(err, &re) || re.Response.GetReason() != livekit.RequestResponse_NOT_ALLOWED {
			t.Fatalf("publishing a camera again = %v, want NOT_ALLOWED", err)
		}
		h.check(ctx, t)
	})
}

// udpCounter counts the datagrams that reach a loopback UDP socket.
type udpCounter struct {
	conn *net.UDPConn
	n    atomic.Int64
}

func listenUDP(t *testing.T) *udpCounter {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	u := &udpCounter{conn: conn}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			if _, _, err := conn.ReadFromUDP(buf); err != nil {
				return
			}
			u.n.Add(1)
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return u
}

func (u *udpCounter) port() int { return u.conn.LocalAddr().(*net.UDPAddr).Port }

// A client offers on its publisher PC and never completes ICE, so that the node keeps checking
// every candidate it takes, then trickles 10,000 candidates: six the node must never contact
// (link-local, the metadata service, multicast, unspecified, a host name, ICE-TCP that would make
// the node dial), MaxICECandidatesPerPC it may (one of them a socket of the test), and thousands
// more beyond the cap, all at a second socket of the test. The first socket is checked, the second
// never is; every refused candidate is counted; bystanders do not notice. The edge's signalling
// rate limit is off, so that the node's own cap is what stops the flood.
func TestAttackICECandidates(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{Server: transport.ServerConfig{SignalRateLimit: -1}})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const room = "ice"
	h := bystanders(ctx, t, node, room, lkclient.Handlers{})
	mallory := join(ctx, t, node, room, "mallory", lkclient.Options{NoAutoSubscribe: true})
	se := webrtc.SettingEngine{}
	lkclient.LoopbackICE(&se)
	raw, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	if _, err := raw.CreateDataChannel(lkclient.ReliableLabel, nil); err != nil {
		t.Fatal(err)
	}
	offer, err := raw.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := mallory.SendRequest(&livekit.SignalRequest{Message: &livekit.SignalRequest_Offer{Offer: &livekit.SessionDescription{Type: "offer", Sdp: offer.SDP, Id: 77}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := mallory.WaitSignal(ctx, func(r *livekit.SignalResponse) bool { return r.GetAnswer().GetId() == 77 }); err != nil {
		t.Fatal(err)
	}

	checked, beyond := listenUDP(t), listenUDP(t)
	const total, limit = 10_000, 50 // limit: MaxICECandidatesPerPC's default
	cands := []string{
		"candidate:1 1 udp 2130706431 169.254.10.10 5000 typ host",
		"candidate:2 1 udp 2130706431 169.254.169.254 80 typ host",
		"candidate:3 1 udp 2130706431 224.0.0.251 5353 typ host",
		"candidate:4 1 udp 2130706431 0.0.0.0 5000 typ host",
		"candidate:5 1 udp 2130706431 0f1e2d3c-0000-4000-8000-000000000000.local 5000 typ host",
		"candidate:6 1 tcp 1518280447 127.0.0.1 22 typ host tcptype passive",
		fmt.Sprintf("candidate:7 1 udp 2130706431 127.0.0.1 %d typ host", checked.port()),
	}
	refused := len(cands) - 1
	for i := 2; len(cands) < refused+limit; i++ { // more allowed ones, at addresses nobody listens on
		cands = append(cands, fmt.Sprintf("candidate:%d 1 udp 2130706431 127.0.0.%d %d typ host", 100+i, i, checked.port()))
	}
	for i := len(cands); i < total; i++ {
		cands = append(cands, fmt.Sprintf("candidate:%d 1 udp %d 127.0.0.1 %d typ host", 1000+i, 2130706431-i, beyond.port()))
	}
	res := sampleResources(node)
	for _, c := range cands {
		if err := mallory.SendRequest(&livekit.SignalRequest{Message: &livekit.SignalRequest_Trickle{Trickle: &livekit.TrickleRequest{
			CandidateInit: fmt.Sprintf(`{"candidate":%q,"sdpMid":"0","sdpMLineIndex":0}`, c), Target: livekit.SignalTarget_PUBLISHER,
		}}}); err != nil {
			t.Fatalf("trickle not sent: %v", err)
		}
	}
	wantIgnored := int64(total - limit)
	if err := waitUntil(ctx, func() bool { return node.Stats().ICECandidatesIgnored >= wantIgnored }); err != nil {
		t.Fatalf("%d candidates counted as ignored, want %d", node.Stats().ICECandidatesIgnored, wantIgnored)
	}
	if err := waitUntil(ctx, func() bool { return checked.n.Load() > 0 }); err != nil {
		t.Fatal("the node never checked a candidate within the cap: the check below would prove nothing")
	}
	h.check(ctx, t)
	time.Sleep(2 * time.Second) // pion checks every pair it has several times within this
	heapMiB, goroutines := res.stop()
	ignored := node.Stats().ICECandidatesIgnored
	t.Logf("%d candidates trickled: %d ignored; %d datagrams to the allowed socket, %d beyond the cap; heap +%.1f MiB, goroutines +%d, deepest mailbox participant %d",
		total, ignored, checked.n.Load(), beyond.n.Load(), heapMiB, goroutines, res.peakPartMailbox.Load())
	if ignored != wantIgnored {
		t.Errorf("%d candidates ignored, want exactly %d (%d refused by address, the rest beyond the cap)", ignored, wantIgnored, refused)
	}
	if n := beyond.n.Load(); n > 0 {
		t.Errorf("the node sent %d datagrams to a candidate beyond the cap", n)
	}
	if heapMiB > 64 || goroutines > 100 { // 10,000 candidates taken would be thousands of pairs
		t.Errorf("heap grew by %.1f MiB and goroutines by %d", heapMiB, goroutines)
	}
	h.check(ctx, t)
}
