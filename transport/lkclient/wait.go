package lkclient

import (
	"context"
	"fmt"

	livekit "github.com/actor-sfu/livekit-server/proto/livekit"
)

// WaitFor blocks until cond returns true, re-checking it after every state
// change (signal message, data, track, connection state). cond must not
// block; it may call Client getters. It returns ctx's error, or Err() when
// the session ends with cond still false.
func (c *Client) WaitFor(ctx context.Context, cond func() bool) error {
	for {
		c.mu.Lock()
		ch := c.changed
		c.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait: %w", ctx.Err())
		case <-c.done:
			if cond() {
				return nil
			}
			return fmt.Errorf("wait: session ended: %w", c.Err())
		}
	}
}

// WaitParticipant waits until a remote participant with that identity is known.
func (c *Client) WaitParticipant(ctx context.Context, identity string) (*livekit.ParticipantInfo, error) {
	var p *livekit.ParticipantInfo
	err := c.WaitFor(ctx, func() bool { p = c.Participant(identity); return p != nil })
	if err != nil {
		return nil, fmt.Errorf("participant %q: %w", identity, err)
	}
	return p, nil
}

// WaitParticipantGone waits until no remote participant has that identity.
func (c *Client) WaitParticipantGone(ctx context.Context, identity string) error {
	if err := c.WaitFor(ctx, func() bool { return c.Participant(identity) == nil }); err != nil {
		return fmt.Errorf("participant %q still present: %w", identity, err)
	}
	return nil
}

// WaitPublication waits until the remote participant identity lists a track
// matching match (nil: any track) and returns it.
func (c *Client) WaitPublication(ctx context.Context, identity string, match func(*livekit.TrackInfo) bool) (*livekit.TrackInfo, error) {
	var found *livekit.TrackInfo
	err := c.WaitFor(ctx, func() bool {
		for _, t := range c.Participant(identity).GetTracks() {
			if match == nil || match(t) {
				found = t
				return true
			}
		}
		return false
	})
	if err != nil {
		return nil, fmt.Errorf("publication of %q: %w", identity, err)
	}
	return found, nil
}

// WaitRemoteTrack waits until a received track matches (nil: any) and returns it.
func (c *Client) WaitRemoteTrack(ctx context.Context, match func(*RemoteTrack) bool) (*RemoteTrack, error) {
	var found *RemoteTrack
	err := c.WaitFor(ctx, func() bool {
		for _, t := range c.RemoteTracks() {
			if match == nil || match(t) {
				found = t
				return true
			}
		}
		return false
	})
	if err != nil {
		return nil, fmt.Errorf("remote track: %w", err)
	}
	return found, nil
}

// WaitSubscribed waits until media of the track with that SID arrives.
func (c *Client) WaitSubscribed(ctx context.Context, trackSID string) (*RemoteTrack, error) {
	return c.WaitRemoteTrack(ctx, func(t *RemoteTrack) bool { return t.TrackSID == trackSID })
}

// WaitUnsubscribed waits until no track with that SID is being received.
func (c *Client) WaitUnsubscribed(ctx context.Context, trackSID string) error {
	return c.WaitFor(ctx, func() bool { return c.RemoteTrack(trackSID) == nil })
}

// WaitData waits until a received data packet (any so far, oldest first,
// within Options.History) matches (nil: any) and returns it.
func (c *Client) WaitData(ctx context.Context, match func(*ReceivedData) bool) (*ReceivedData, error) {
	var found *ReceivedData
	err := c.WaitFor(ctx, func() bool {
		for _, d := range c.Data() {
			if match == nil || match(d) {
				found = d
				return true
			}
		}
		return false
	})
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	return found, nil
}

// Signals returns the SignalResponses received so far (bounded by Options.History), join first.
func (c *Client) Signals() []*livekit.SignalResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*livekit.SignalResponse(nil), c.signals...)
}

// WaitSignal waits until a received SignalResponse (any so far, within
// Options.History) matches and returns it.
func (c *Client) WaitSignal(ctx context.Context, match func(*livekit.SignalResponse) bool) (*livekit.SignalResponse, error) {
	var found *livekit.SignalResponse
	err := c.WaitFor(ctx, func() bool {
		for _, s := range c.Signals() {
			if match(s) {
				found = s
				return true
			}
		}
		return false
	})
	if err != nil {
		return nil, fmt.Errorf("signal: %w", err)
	}
	return found, nil
}

// WaitDone waits until the session ends and returns the server's leave (nil if none).
func (c *Client) WaitDone(ctx context.Context) (*livekit.LeaveRequest, error) {
	select {
	case <-c.done:
		return c.LeaveRequest(), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for session end: %w", ctx.Err())
	}
}
