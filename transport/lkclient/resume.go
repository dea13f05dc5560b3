package lkclient

// Resume: the client half of LiveKit's session resume over /rtc (two PeerConnections). The
// PeerConnections, subscriptions and publications stay; only the signalling connection is
// replaced, and ICE restarts on both PCs.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/pion/webrtc/v3"

	livekit "github.com/actor-sfu/livekit-server/proto/livekit"
)

// resumePCTimeout bounds the wait for the PeerConnections after one resume attempt.
const resumePCTimeout = 5 * time.Second

// Resume reconnects the signalling connection of this session: it dials /rtc again with
// reconnect=1&sid=<our sid> and the latest refresh token (else the token Join was given), reads
// the ReconnectResponse, replaces the old connection (closing it), sends SyncState, restarts ICE
// on the publisher PC if it has been negotiated (the server restarts the subscriber PC with its
// own offer, answered as usual) and waits, at most resumePCTimeout, for the PCs that were in use
// to be connected.
//
// A server that has no such session answers leave{STATE_MISMATCH, RECONNECT}: Resume then
// returns *LeaveError and the caller must join afresh; a refused upgrade returns *HTTPError. The
// session is not closed by a failed Resume.
func (c *Client) Resume(ctx context.Context) error {
	c.resumeMu.Lock()
	defer c.resumeMu.Unlock()
	c.resuming.Store(true)
	defer c.resuming.Store(false)
	ctx, cancel := context.WithTimeout(ctx, c.opts.ConnectTimeout)
	defer cancel()

	sig, rr, err := c.dialResume(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		sig.close()
		return ErrClosed
	}
	c.reconnect = rr
	c.wg.Add(1)
	c.mu.Unlock()
	old := c.sigp.Swap(sig)
	old.close()
	go c.readLoop(sig)

	pubUsed := c.publisherNegotiated()
	if err := c.SendRequest(&livekit.SignalRequest{Message: &livekit.SignalRequest_SyncState{SyncState: c.syncState()}}); err != nil {
		return fmt.Errorf("resume: send sync state: %w", err)
	}
	if pubUsed {
		if err := c.negotiatePublisherWith(ctx, false, &webrtc.OfferOptions{ICERestart: true}); err != nil {
			return fmt.Errorf("resume: publisher ICE restart: %w", err)
		}
	}
	// An ICE restart whose checks all went unanswered (the network was still down) does not
	// recover by itself: give up after resumePCTimeout so that the next attempt restarts again.
	pcCtx, pcCancel := context.WithTimeout(ctx, resumePCTimeout)
	defer pcCancel()
	if err := c.WaitFor(pcCtx, func() bool { return c.sub.connected() && (!pubUsed || c.pub.connected()) }); err != nil {
		return fmt.Errorf("resume: peer connections did not recover: %w", err)
	}
	c.mu.Lock()
	c.resumes++
	c.mu.Unlock()
	c.notify() // wakes WaitFor on Resumes
	c.emitSignal(&livekit.SignalResponse{Message: &livekit.SignalResponse_Reconnect{Reconnect: rr}})
	return nil
}

// dialResume opens the resume socket and reads its first frame, which must be reconnect.
func (c *Client) dialResume(ctx context.Context) (*signalConn, *livekit.ReconnectResponse, error) {
	token := c.RefreshToken()
	if token == "" {
		token = c.token
	}
	opts := c.opts
	opts.ExtraQuery = url.Values{}
	for k, vs := range c.opts.ExtraQuery {
		opts.ExtraQuery[k] = append([]string(nil), vs...)
	}
	opts.ExtraQuery.Set("reconnect", "1")
	opts.ExtraQuery.Set("sid", c.SID())
	sig, err := dialSignal(ctx, c.url, token, opts)
	if err != nil {
		return nil, nil, err
	}
	deadline, _ := ctx.Deadline()
	first, err := sig.read(deadline)
	if err != nil {
		sig.close()
		return nil, nil, fmt.Errorf("resume: %w", err)
	}
	c.recordSignal(first)
	if l := first.GetLeave(); l != nil {
		sig.close()
		return nil, nil, &LeaveError{Leave: l}
	}
	rr := first.GetReconnect()
	if rr == nil {
		sig.close()
		return nil, nil, fmt.Errorf("first message %T: %w", first.GetMessage(), ErrNoReconnectResponse)
	}
	return sig, rr, nil
}

// publisherNegotiated reports whether the publisher PC has been offered on.
func (c *Client) publisherNegotiated() bool {
	c.pubNegMu.Lock()
	defer c.pubNegMu.Unlock()
	return c.pubNegotiated
}

// syncState describes the client's side of the session: its publications and its last
// subscriber answer and offer.
func (c *Client) syncState() *livekit.SyncState {
	s := &livekit.SyncState{Subscription: &livekit.UpdateSubscription{}}
	for _, lt := range c.LocalTracks() {
		if info := lt.Info(); info != nil && info.GetSid() != "" {
			s.PublishTracks = append(s.PublishTracks, &livekit.TrackPublishedResponse{Cid: lt.CID(), Track: info})
		}
	}
	if d := c.sub.pc.LocalDescription(); d != nil {
		s.Answer = &livekit.SessionDescription{Type: d.Type.String(), Sdp: d.SDP}
	}
	if d := c.sub.pc.RemoteDescription(); d != nil {
		s.Offer = &livekit.SessionDescription{Type: d.Type.String(), Sdp: d.SDP}
	}
	return s
}

// startResume runs the AutoResume loop once at a time: resume attempts until one succeeds, the
// server refuses (leave or HTTP error: the session ends with that error) or ConnectTimeout passes.
func (c *Client) startResume() {
	if !c.autoResuming.CompareAndSwap(false, true) {
		return
	}
	started := c.goSafe(func() {
		defer c.autoResuming.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.ConnectTimeout)
		defer cancel()
		go func() { // Close must not wait for a resume in flight
			select {
			case <-c.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		for attempt := 1; ; attempt++ {
			err := c.Resume(ctx)
			if err == nil {
				return
			}
			var le *LeaveError
			var he *HTTPError
			if errors.As(err, &le) || errors.As(err, &he) || errors.Is(err, ErrClosed) || ctx.Err() != nil {
				if le != nil {
					c.mu.Lock()
					c.leave = le.Leave
					c.mu.Unlock()
				}
				c.shutdown(fmt.Errorf("resume: %w", err), false)
				return
			}
			c.log.Debug("resume attempt failed", "attempt", attempt, "err", err)
			select {
			case <-time.After(time.Duration(attempt) * 300 * time.Millisecond):
			case <-c.done:
				return
			}
		}
	})
	if !started {
		c.autoResuming.Store(false)
	}
}

// Resumes counts the successful resumes of this session.
func (c *Client) Resumes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.resumes
}

// ReconnectResponse returns the latest resume's ReconnectResponse, or nil.
func (c *Client) ReconnectResponse() *livekit.ReconnectResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reconnect
}

// CutSignal drops the signalling connection's TCP connection without a close frame, as a network
// failure would; the PeerConnections stay. With AutoResume the client then resumes. For tests.
func (c *Client) CutSignal() {
	conn := c.sigp.Load().ws.UnderlyingConn()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // reset, no FIN handshake
	}
	_ = conn.Close()
}
