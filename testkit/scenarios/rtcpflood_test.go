package scenarios

import (
	"context"
	"encoding/binary"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// Mallory subscribes to Alice's video and floods NACKs at 1,000 packets a second, every BLP bit
// set, over and over the ~1,000 most recent sequence numbers the node sent her (which it can still
// resend), newest first: for one second with 372 pairs a packet (1.5 KB, 6,324 sequence numbers),
// then for four seconds with 356, the most the node accepts: with the SRTCP trailer a 372-pair
// packet exceeds pion's 1,460-byte receive MTU and the UDP mux drops it. Over the whole flood the
// node resends her at most half of what it forwards her (plus a 32 KiB burst) and expands at most
// its 1,000 pairs a second, Bob in the same room still gets ≥ 99 % of the frames, and the node's
// goroutines and heap stay flat.
func TestNACKFloodFromSubscriber(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	alice := join(ctx, t, node, "flood", "alice", lkclient.Options{})
	bob := join(ctx, t, node, "flood", "bob", lkclient.Options{})
	mallory := join(ctx, t, node, "flood", "mallory", lkclient.Options{})
	cam, camSent := publish(ctx, t, alice, webrtc.RTPCodecTypeVideo, 270) // 9 s at 30 fps
	rb, err := bob.WaitSubscribed(ctx, cam.SID())
	if err != nil {
		t.Fatalf("bob never got alice's video: %v", err)
	}
	bobVideo := collect(rb)
	rm, err := mallory.WaitSubscribed(ctx, cam.SID())
	if err != nil {
		t.Fatalf("mallory never got alice's video: %v", err)
	}
	go func() {
		for range rm.Packets() { // keep her receive path drained
		}
	}()
	if err := rm.WaitPackets(ctx, 100); err != nil {
		t.Fatal(err)
	}

	before := malloryDownTrack(t, node.Tree(), cam.SID())
	g0, h0 := runtime.NumGoroutine(), heapInUse()
	sent1, took1, gMax1, hMax1 := floodNACKs(ctx, t, mallory.Subscriber(), rm, 372, time.Second)
	mid := malloryDownTrack(t, node.Tree(), cam.SID())
	sent2, took2, gMax2, hMax2 := floodNACKs(ctx, t, mallory.Subscriber(), rm, 356, 4*time.Second)
	after := malloryDownTrack(t, node.Tree(), cam.SID())
	sent, took, gMax, hMax := sent1+sent2, took1+took2, max(gMax1, gMax2), max(hMax1, hMax2)
	t.Logf("372-pair phase: %d packets in %v, %d sequence numbers reached the DownTrack; 356-pair phase: %d packets in %v",
		sent1, took1.Round(time.Millisecond), mid["nacks"]-before["nacks"], sent2, took2.Round(time.Millisecond))

	fwd := after["bytes"] - before["bytes"]
	resent := after["retransmitBytes"] - before["retransmitBytes"]
	t.Logf("flood: %d NACK packets in %v (%.0f/s); node forwarded mallory %d B, resent %d B (%.0f B/s); "+
		"seqs asked %d, answered %d, suppressed %d, throttled %d, missed %d, pairs dropped %d",
		sent, took.Round(time.Millisecond), float64(sent)/took.Seconds(), fwd, resent, float64(resent)/took.Seconds(),
		after["nacks"]-before["nacks"], after["nacksAnswered"]-before["nacksAnswered"], after["nacksSuppressed"]-before["nacksSuppressed"],
		after["nacksThrottled"]-before["nacksThrottled"], after["nacksMissed"]-before["nacksMissed"], after["nackPairsDropped"]-before["nackPairsDropped"])
	t.Logf("goroutines %d before, max %d during; heap in use %.1f MiB before, max %.1f MiB during",
		g0, gMax, float64(h0)/(1<<20), float64(hMax)/(1<<20))
	if sent < 2500 {
		t.Fatalf("the flood only managed %d packets: the test machine is too slow to say anything", sent)
	}
	if budget := fwd/2 + 32<<10; resent > budget {
		t.Errorf("resent %d B to mallory, cap %d B (half of the %d B forwarded + 32 KiB)", resent, budget, fwd)
	}
	// Work on the node: at most 1,000 pairs a second (burst 200) are expanded, whatever comes in.
	if pairs := (after["nacks"] - before["nacks"]) / 17; float64(pairs) > took.Seconds()*1000+200+100 {
		t.Errorf("the node expanded %d NACK pairs in %v", pairs, took)
	}
	if resent == 0 || after["nackPairsDropped"] == before["nackPairsDropped"] {
		t.Errorf("the flood was not seen: resent %d B, pairs dropped %d", resent, after["nackPairsDropped"]-before["nackPairsDropped"])
	}
	if gMax > g0+50 {
		t.Errorf("goroutines grew from %d to %d during the flood", g0, gMax)
	}
	if hMax > h0+64<<20 {
		t.Errorf("heap in use grew from %d to %d B during the flood", h0, hMax)
	}

	n := <-camSent
	settle()
	bobVideo.requireDelivery(t, "bob's video during mallory's flood", n-1)
}

// floodNACKs sends NACK packets of the given number of pairs, cycling over the latest 1,020
// sequence numbers rt has seen (newest first), 1,000 a second in batches of 10, for d. It returns
// how many it sent, how long that took and the most goroutines and heap in use seen meanwhile.
func floodNACKs(ctx context.Context, t *testing.T, pc *webrtc.PeerConnection, rt *lkclient.RemoteTrack, pairs int, d time.Duration) (sent int, took time.Duration, gMax int, hMax uint64) {
	t.Helper()
	pkt := make([]byte, 12+4*pairs)
	pkt[0], pkt[1] = 0x81, 205 // V=2, FMT=1 generic NACK, RTPFB
	binary.BigEndian.PutUint16(pkt[2:4], uint16(len(pkt)/4-1))
	binary.BigEndian.PutUint32(pkt[4:8], 0x5eed)
	binary.BigEndian.PutUint32(pkt[8:12], rt.SSRC)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for i := 0; time.Since(start) < d && ctx.Err() == nil; i++ {
		<-tick.C
		last := rt.Stats().LastSeq
		for p := range pairs { // newest first: the node looks at the first pairs only
			binary.BigEndian.PutUint16(pkt[12+4*p:], last-16-uint16(p%60*17))
			binary.BigEndian.PutUint16(pkt[14+4*p:], 0xffff)
		}
		raw := rtcp.RawPacket(pkt)
		for range 10 {
			if err := pc.WriteRTCP([]rtcp.Packet{&raw}); err != nil {
				t.Fatalf("mallory's NACK: %v", err)
			}
			sent++
		}
		if i%20 == 0 {
			gMax, hMax = max(gMax, runtime.NumGoroutine()), max(hMax, heapInUse())
		}
	}
	return sent, time.Since(start), gMax, hMax
}

// malloryDownTrack returns the counters of mallory's DownTrack of the track with that SID, as the
// node's actor tree (the debug view) shows them.
func malloryDownTrack(t *testing.T, tree []actors.ActorInfo, sid string) map[string]uint64 {
	t.Helper()
	for _, a := range tree {
		if !strings.HasSuffix(a.Path, "/"+sid) {
			continue
		}
		dts, _ := a.Stats["downTracks"].([]map[string]any)
		for _, dt := range dts {
			if s, _ := dt["subscriber"].(string); strings.HasSuffix(s, "/mallory") {
				out := map[string]uint64{}
				for k, v := range dt {
					if n, ok := v.(uint64); ok {
						out[k] = n
					}
				}
				return out
			}
		}
	}
	t.Fatalf("no DownTrack for mallory on track %s", sid)
	return nil
}

func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
