package lkclient_test

import (
	"context"
	"fmt"
	"time"

	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/transport/lkclient"
	"github.com/actor-sfu/livekit-server/transport/lkclient/lkmedia"
)

// Alice publishes a VP8 IVF file; Bob receives it and rebuilds whole frames.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const url = "ws://127.0.0.1:7880"
	var aliceToken, bobToken string // signed with the server's API secret for room "r"
	local := lkclient.Options{ConfigureSettingEngine: lkclient.LoopbackICE}

	alice, err := lkclient.Join(ctx, url, aliceToken, local)
	if err != nil {
		return
	}
	defer alice.Close()
	bobOpts := local
	bobOpts.BearerHeader = true
	bob, err := lkclient.Join(ctx, url, bobToken, bobOpts)
	if err != nil {
		return
	}
	defer bob.Leave()

	info, frames, err := lkmedia.LoadIVF("camera.ivf")
	if err != nil {
		return
	}
	cam, err := alice.PublishTrack(ctx, lkclient.TrackOptions{
		Kind: webrtc.RTPCodecTypeVideo, Width: uint32(info.Width), Height: uint32(info.Height),
	})
	if err != nil {
		return
	}
	go cam.PublishFrames(ctx, frames, true)

	rt, err := bob.WaitSubscribed(ctx, cam.SID())
	if err != nil {
		return
	}
	asm := lkmedia.NewVP8Assembler()
	for p := range rt.Packets() {
		for _, f := range asm.Push(p) {
			fmt.Println(rt.PublisherIdentity, f.Timestamp, len(f.Data), f.Keyframe)
		}
	}
}
