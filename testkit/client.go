package testkit

import (
	"context"

	"github.com/pion/webrtc/v3"

	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// Loopback returns opts with ICE confined to the loopback interface (lkclient.LoopbackICE:
// loopback candidates, UDP4, no mDNS), as every test client joining a node of this package
// needs. A ConfigureSettingEngine already in opts runs after the loopback settings.
func Loopback(opts lkclient.Options) lkclient.Options {
	extra := opts.ConfigureSettingEngine
	opts.ConfigureSettingEngine = func(se *webrtc.SettingEngine) {
		lkclient.LoopbackICE(se)
		if extra != nil {
			extra(se)
		}
	}
	return opts
}

// Join is lkclient.Join with Loopback(opts): a test client joining a node on 127.0.0.1. Its
// errors are lkclient.Join's, unchanged.
func Join(ctx context.Context, url, token string, opts lkclient.Options) (*lkclient.Client, error) {
	return lkclient.Join(ctx, url, token, Loopback(opts))
}
