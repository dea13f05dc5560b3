package lkclient_test

import (
	"context"
	"fmt"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/testkit/lkclient"
	"github.com/actor-sfu/livekit-server/testkit/lkclient/lkmedia"
)

// Alice publishes synthetic VP8; Bob receives it and checks every frame byte for byte.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const url = "ws://127.0.0.1:7880"
	var aliceToken, bobToken string // signed by the test for room "r"

	alice, err := lkclient.Join(ctx, url, aliceToken, lkclient.Options{})
	if err != nil {
		return
	}
	defer alice.Close()
	bob, err := lkclient.Join(ctx, url, bobToken, lkclient.Options{BearerHeader: true})
	if err != nil {
		return
	}
	defer bob.Leave()

	cam, err := alice.PublishTrack(ctx, lkclient.TrackOptions{Kind: webrtc.RTPCodecTypeVideo, Width: 320, Height: 240})
	if err != nil {
		return
	}
	go cam.PublishSynthetic(ctx, lkclient.SyntheticOptions{FPS: 30, FrameSize: 4000})

	rt, err := bob.WaitSubscribed(ctx, cam.SID())
	if err != nil {
		return
	}
	asm := lkmedia.NewVP8Assembler()
	for p := range rt.Packets() {
		for _, f := range asm.Push(p) {
			n, _, err := lkmedia.ParseSyntheticVP8(f.Data)
			fmt.Println(rt.PublisherIdentity, n, err)
		}
	}
}
