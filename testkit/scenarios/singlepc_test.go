package scenarios

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// Alice joins over /rtc/v1 with four audio tracks published inside her join; Bob joins over
// /rtc/v1 and auto-subscribes. Bob's first offer has three audio sections, so the node asks for
// one more with media_sections_requirement; then Alice publishes a fifth track after connecting
// (she re-offers) and Bob is asked for another section again. Every packet Bob gets is
// byte-identical to what Alice sent, on the mid the answers mapped to its track SID, the node
// never offers, and a two-PC subscriber (Carol, on /rtc) gets Alice's single-PC media too.
func TestSinglePCPublishSubscribe(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()

	var pubs []v1Publish
	for _, cid := range []string{"a1", "a2", "a3", "a4"} {
		pubs = append(pubs, newOpusTrack(t, cid))
	}
	alice := joinV1(ctx, t, node, "r1", "alice", newV1PC(t), "", pubs...)
	if j := <-alice.join; j.GetSubscriberPrimary() || j.GetServerInfo().GetVersion() == "" {
		t.Fatalf("join response: subscriber_primary=%v server version %q, want false and set", j.GetSubscriberPrimary(), j.GetServerInfo().GetVersion())
	}
	sids := map[string]string{} // cid → TR sid
	for range pubs {
		select {
		case tp := <-alice.published:
			sids[tp.GetCid()] = tp.GetTrack().GetSid()
		case <-ctx.Done():
			t.Fatal("alice's add_track requests inside the join were not all answered")
		}
	}
	sent := make(chan uint64, 8)
	for _, p := range pubs {
		go func() { sent <- sendOpus(ctx, p.track, 150) }()
	}
	waitPublished(ctx, t, node, "alice", 4)

	bob := joinV1(ctx, t, node, "r1", "bob", newV1PC(t), "")
	<-bob.join
	carol := join(ctx, t, node, "r1", "carol", lkclient.Options{})
	got, err := bob.waitTracks(ctx, 4)
	if err != nil {
		t.Fatalf("bob: %v", err)
	}
	rc, err := carol.WaitSubscribed(ctx, sids["a1"])
	if err != nil {
		t.Fatalf("carol (two PCs) never got alice's single-PC track: %v", err)
	}
	carolGot := collect(rc)

	fifth := newOpusTrack(t, "a5")
	alice.publishLater(fifth)
	select {
	case tp := <-alice.published:
		sids["a5"] = tp.GetTrack().GetSid()
	case <-ctx.Done():
		t.Fatal("alice's later add_track was not answered")
	}
	go func() { sent <- sendOpus(ctx, fifth.track, 100) }()
	more, err := bob.waitTracks(ctx, 1)
	if err != nil {
		t.Fatalf("bob, fifth track: %v", err)
	}
	got = append(got, more...)

	collectors := map[string]*collector{}
	for _, tr := range got {
		sid := bob.trackFor(tr.mid)
		if sid == "" || sid != tr.remote.ID() || !strings.HasSuffix(tr.remote.StreamID(), "|"+sid) {
			t.Errorf("mid %q: mid_to_track_id says %q, msid %q %q", tr.mid, sid, tr.remote.StreamID(), tr.remote.ID())
		}
		collectors[sid] = collectV1(tr.remote)
	}
	var total uint64
	for range 5 {
		total += <-sent
	}
	settle()
	for cid, sid := range sids {
		c := collectors[sid]
		if c == nil {
			t.Errorf("bob never received %s (%s)", cid, sid)
			continue
		}
		last := uint64(150 - 1)
		if cid == "a5" {
			last = 100 - 1
		}
		c.requireDelivery(t, "bob "+cid, last)
	}
	carolGot.requireDelivery(t, "carol a1", 150-1)
	if total != 4*150+100 {
		t.Errorf("alice sent %d packets, want %d", total, 4*150+100)
	}

	reqs, offers, refused := bob.stats()
	var audios uint32
	for _, r := range reqs {
		audios += r.GetNumAudios()
	}
	if audios < 2 {
		t.Errorf("bob was asked for %d more audio sections (requirements %v), want ≥ 2: one at join, one for the fifth track", audios, reqs)
	}
	_, aliceOffers, aliceRefused := alice.stats()
	if offers+aliceOffers > 0 || refused+aliceRefused > 0 {
		t.Errorf("the node sent %d offers and %d refusals in single-PC mode, want none", offers+aliceOffers, refused+aliceRefused)
	}
}

// count is how many distinct packets have arrived intact.
func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

// waitPublished waits until identity publishes n tracks with media.
func waitPublished(ctx context.Context, t testing.TB, node *testkit.Node, identity string, n int) {
	t.Helper()
	for ctx.Err() == nil {
		if p, err := node.GetParticipant(ctx, "r1", identity); err == nil && len(p.GetTracks()) >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never published %d tracks", identity, n)
}

// A single-PC session survives its WebSocket: Bob's socket drops, he resumes over /rtc/v1 with
// reconnect=true, participant_sid and an ICE-restart offer inside the join_request, gets a
// ReconnectResponse and an answer, and Alice's media keeps arriving on the same PC.
func TestSinglePCResume(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	mic := newOpusTrack(t, "m1")
	alice := joinV1(ctx, t, node, "r1", "alice", newV1PC(t), "", mic)
	<-alice.join
	<-alice.published
	sent := make(chan uint64, 1)
	go func() { sent <- sendOpus(ctx, mic.track, 200) }()
	waitPublished(ctx, t, node, "alice", 1)

	pc := newV1PC(t)
	bob := joinV1(ctx, t, node, "r1", "bob", pc, "")
	j := <-bob.join
	tracks, err := bob.waitTracks(ctx, 1)
	if err != nil {
		t.Fatalf("bob: %v", err)
	}
	got := collectV1(tracks[0].remote)
	time.Sleep(500 * time.Millisecond)
	_ = bob.ws.Close() // the network drops the socket; the PC stays

	again := joinV1(ctx, t, node, "r1", "bob", pc, j.GetParticipant().GetSid())
	select {
	case rr := <-again.reconnect:
		if len(rr.GetIceServers()) != 0 {
			t.Logf("reconnect response lists %d ICE servers", len(rr.GetIceServers()))
		}
	case <-again.join:
		t.Fatal("resume over /rtc/v1 made a new join")
	case <-ctx.Done():
		t.Fatal("no ReconnectResponse")
	}
	deadline := time.Now().Add(5 * time.Second)
	for pc.SignalingState() != webrtc.SignalingStateStable && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if pc.SignalingState() != webrtc.SignalingStateStable {
		t.Fatalf("the ICE-restart offer inside the resume was not answered (signaling %s)", pc.SignalingState())
	}
	// The ICE restart may cost a few packets (Opus is not retransmitted); what matters is that
	// media goes on flowing on the same PC, intact.
	resumedAt := got.count()
	within(t, 3*time.Second, "media flowing after the resume", func(ctx context.Context) error {
		return waitUntil(ctx, func() bool { return got.count() > resumedAt+30 })
	})
	n := <-sent
	settle()
	if have, want, corrupt := got.ratio(n - 1); corrupt > 0 || float64(have) < 0.95*float64(want) {
		t.Errorf("bob across the resume: %d of %d packets, %d corrupt (need ≥ 95%%, none corrupt)", have, want, corrupt)
	}
	if p, err := node.GetParticipant(ctx, "r1", "bob"); err != nil || p.GetSid() != j.GetParticipant().GetSid() {
		t.Errorf("bob after resume: %v %v, want the same session %s", p.GetSid(), err, j.GetParticipant().GetSid())
	}
}

// When Bob unsubscribes on his single PC the node removes the sender and asks for an offer
// (media_sections_requirement 0/0); the answer to it no longer sends on that section.
func TestSinglePCUnsubscribe(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	mic := newOpusTrack(t, "m1")
	alice := joinV1(ctx, t, node, "r1", "alice", newV1PC(t), "", mic)
	<-alice.join
	tp := <-alice.published
	go sendOpus(ctx, mic.track, 250)
	waitPublished(ctx, t, node, "alice", 1)

	pc := newV1PC(t)
	bob := joinV1(ctx, t, node, "r1", "bob", pc, "")
	<-bob.join
	tracks, err := bob.waitTracks(ctx, 1)
	if err != nil {
		t.Fatalf("bob: %v", err)
	}
	mid := tracks[0].mid
	if !sectionSends(pc, mid) {
		t.Fatalf("section %s does not carry alice's track before the unsubscribe", mid)
	}
	before, _, _ := bob.stats()
	bob.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Subscription{Subscription: &livekit.UpdateSubscription{
		TrackSids: []string{tp.GetTrack().GetSid()}, Subscribe: false,
	}}})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && (sectionSends(pc, mid) || pc.SignalingState() != webrtc.SignalingStateStable) {
		time.Sleep(20 * time.Millisecond)
	}
	after, offers, _ := bob.stats()
	if len(after) <= len(before) {
		t.Fatalf("no media_sections_requirement after the unsubscribe (%d before, %d after)", len(before), len(after))
	}
	if last := after[len(after)-1]; last.GetNumAudios() != 0 || last.GetNumVideos() != 0 {
		t.Errorf("requirement after an unsubscribe = %v, want 0/0 (offer again)", last)
	}
	if sectionSends(pc, mid) {
		t.Errorf("the node still sends on section %s after the unsubscribe", mid)
	}
	if offers != 0 {
		t.Errorf("the node sent %d offers in single-PC mode", offers)
	}
}

// sectionSends reports whether the node's current answer sends media on mid.
func sectionSends(pc *webrtc.PeerConnection, mid string) bool {
	rd := pc.CurrentRemoteDescription()
	if rd == nil {
		return false
	}
	var parsed sdp.SessionDescription // parsed here: rd.Unmarshal would write to pion's own copy
	if err := parsed.UnmarshalString(rd.SDP); err != nil {
		return false
	}
	for _, md := range parsed.MediaDescriptions {
		if m, _ := md.Attribute("mid"); m == mid {
			_, sendonly := md.Attribute("sendonly")
			_, sendrecv := md.Attribute("sendrecv")
			return sendonly || sendrecv
		}
	}
	return false
}
