package lkclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v3"

	livekit "github.com/actor-sfu/livekit-server/proto/livekit"
)

// Data channel labels used by LiveKit.
const (
	ReliableLabel = "_reliable"
	LossyLabel    = "_lossy"
)

// Client is one participant connected over /rtc (v0, two PeerConnections).
// All methods are safe for concurrent use.
type Client struct {
	opts   Options
	log    *slog.Logger
	sigp   atomic.Pointer[signalConn] // the current signalling connection (a resume replaces it)
	url    string
	token  string // the token Join was given; resumes prefer the latest refresh token
	api    *webrtc.API
	pub    *pcTransport
	sub    *pcTransport
	joinRe *livekit.JoinResponse

	pubReliable, pubLossy *webrtc.DataChannel

	leaving atomic.Bool // Leave sent: a socket error after it is a normal end
	// resuming is set while Resume runs, autoResuming while the AutoResume loop runs: a failing
	// old connection is then expected, not the end of the session.
	resuming, autoResuming atomic.Bool
	resumeMu               sync.Mutex // serialises Resume
	events                 *eventQueue
	wg                     sync.WaitGroup // our goroutines, except the event queue
	// rtcpReaders counts the published tracks' RTCP readers; shutdown lets them end before the
	// publisher PeerConnection stops its senders (see stopRTCPReaders).
	rtcpReaders sync.WaitGroup
	done        chan struct{}
	closeOnce   sync.Once

	pubNegMu      sync.Mutex // serialises publisher negotiations
	pubNegotiated bool       // guarded by pubNegMu
	pubAnswers    chan *livekit.SessionDescription
	offerID       atomic.Uint32
	dataSeq       atomic.Uint32

	mu             sync.Mutex
	closed         bool
	changed        chan struct{}
	err            error
	leave          *livekit.LeaveRequest
	participants   *participantTable
	room           *livekit.Room
	remoteTracks   map[string]*RemoteTrack // by track SID
	localTracks    map[string]*LocalTrack  // by cid
	pendingPublish map[string]chan publishResult
	subChannels    map[string]*webrtc.DataChannel // server-created, by label
	speakers       map[string]*livekit.SpeakerInfo
	streamStates   map[string]livekit.StreamState
	signals        []*livekit.SignalResponse
	data           []*ReceivedData
	refreshToken   string
	resumes        int                        // successful resumes
	reconnect      *livekit.ReconnectResponse // the latest resume's answer
	lastRTT        time.Duration
	pongs          int
	subOffers      int
}

type publishResult struct {
	track *livekit.TrackInfo
	err   error
}

// Join connects to a LiveKit-compatible server at url (ws://host:port or
// http://host:port) with an access token. It returns once the JoinResponse
// has arrived and the primary PeerConnection (the subscriber PC when the
// server says subscriber_primary, else the publisher PC, which it then
// negotiates at once) is connected, unless opts.NoWaitConnected is set.
// A refused upgrade returns *HTTPError; a leave instead of join returns *LeaveError.
func Join(ctx context.Context, url, token string, opts Options) (*Client, error) {
	opts = opts.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout)
	defer cancel()

	sig, err := dialSignal(ctx, url, token, opts)
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	first, err := sig.read(deadline)
	if err != nil {
		sig.close()
		return nil, fmt.Errorf("join: %w", err)
	}
	join := first.GetJoin()
	if join == nil {
		sig.close()
		if l := first.GetLeave(); l != nil {
			return nil, &LeaveError{Leave: l}
		}
		return nil, fmt.Errorf("first message %T: %w", first.GetMessage(), ErrNoJoinResponse)
	}
	if join.GetParticipant() == nil {
		sig.close()
		return nil, fmt.Errorf("join response without participant: %w", ErrNoJoinResponse)
	}
	c, err := newClient(sig, join, opts)
	if err != nil {
		sig.close()
		return nil, err
	}
	c.url, c.token = url, token
	c.recordSignal(first)
	c.emitSignal(first)
	for _, p := range join.GetOtherParticipants() {
		c.emitChanges([]change{{kind: participantConnected, participant: p}})
		for _, tr := range p.GetTracks() {
			c.emitChanges([]change{{kind: trackPublished, participant: p, track: tr}})
		}
	}
	c.wg.Add(1)
	go c.readLoop(sig)
	if opts.Ping {
		c.wg.Add(1)
		go c.pingLoop()
	}
	if opts.NoWaitConnected {
		return c, nil
	}
	primary := c.sub
	if !join.GetSubscriberPrimary() {
		primary = c.pub
		if err := c.negotiatePublisher(ctx, true); err != nil {
			c.Close()
			return nil, fmt.Errorf("join: negotiate publisher: %w", err)
		}
	}
	if err := c.WaitFor(ctx, primary.connected); err != nil {
		c.Close()
		return nil, fmt.Errorf("join: could not establish pc connection (%s): %w", primary.target, err)
	}
	return c, nil
}

func newClient(sig *signalConn, join *livekit.JoinResponse, opts Options) (*Client, error) {
	api, err := newAPI(opts)
	if err != nil {
		return nil, err
	}
	c := &Client{
		opts: opts, api: api, joinRe: join,
		log:            opts.Logger.With("identity", join.GetParticipant().GetIdentity()),
		done:           make(chan struct{}),
		changed:        make(chan struct{}),
		pubAnswers:     make(chan *livekit.SessionDescription, 8),
		participants:   newParticipantTable(join.GetParticipant(), join.GetOtherParticipants()),
		room:           join.GetRoom(),
		remoteTracks:   map[string]*RemoteTrack{},
		localTracks:    map[string]*LocalTrack{},
		pendingPublish: map[string]chan publishResult{},
		subChannels:    map[string]*webrtc.DataChannel{},
		speakers:       map[string]*livekit.SpeakerInfo{},
		streamStates:   map[string]livekit.StreamState{},
	}
	c.sigp.Store(sig)
	c.events = newEventQueue()
	fail := func(err error) (*Client, error) {
		if c.pub != nil {
			c.pub.close()
		}
		if c.sub != nil {
			c.sub.close()
		}
		c.events.stop()
		return nil, err
	}
	if c.sub, err = newTransport(api, livekit.SignalTarget_SUBSCRIBER, c.log, c.sendInternal, c.notify); err != nil {
		return fail(err)
	}
	if c.pub, err = newTransport(api, livekit.SignalTarget_PUBLISHER, c.log, c.sendInternal, c.notify); err != nil {
		return fail(err)
	}
	ordered := false
	var zero uint16
	if c.pubReliable, err = c.pub.pc.CreateDataChannel(ReliableLabel, &webrtc.DataChannelInit{Ordered: &[]bool{true}[0]}); err != nil {
		return fail(fmt.Errorf("create %s: %w", ReliableLabel, err))
	}
	if c.pubLossy, err = c.pub.pc.CreateDataChannel(LossyLabel, &webrtc.DataChannelInit{Ordered: &ordered, MaxRetransmits: &zero}); err != nil {
		return fail(fmt.Errorf("create %s: %w", LossyLabel, err))
	}
	c.wireDataChannel(c.pubReliable)
	c.wireDataChannel(c.pubLossy)
	c.sub.pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		c.mu.Lock()
		c.subChannels[dc.Label()] = dc
		c.mu.Unlock()
		c.wireDataChannel(dc)
		c.notify()
	})
	c.sub.pc.OnTrack(c.onRemoteTrack)
	return c, nil
}

// JoinResponse returns the server's join response (read-only).
func (c *Client) JoinResponse() *livekit.JoinResponse { return c.joinRe }

// LocalParticipant returns our latest ParticipantInfo (read-only).
func (c *Client) LocalParticipant() *livekit.ParticipantInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.participants.local
}

// Identity is our identity.
func (c *Client) Identity() string { return c.joinRe.GetParticipant().GetIdentity() }

// SID is our participant SID.
func (c *Client) SID() string { return c.joinRe.GetParticipant().GetSid() }

// Room returns the latest Room (from join, then room_update).
func (c *Client) Room() *livekit.Room {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.room
}

// Participants returns the remote participants by identity (a fresh map of read-only infos).
func (c *Client) Participants() map[string]*livekit.ParticipantInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.participants.byIdentity()
}

// Participant returns the remote participant with that identity, or nil.
func (c *Client) Participant(identity string) *livekit.ParticipantInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.participants.identity(identity)
}

// ParticipantBySID returns the participant (remote or local) with that SID, or nil.
func (c *Client) ParticipantBySID(sid string) *livekit.ParticipantInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.participants.sid(sid)
}

// Publisher returns the publisher PeerConnection (for inspection: stats, state).
func (c *Client) Publisher() *webrtc.PeerConnection { return c.pub.pc }

// Subscriber returns the subscriber PeerConnection (for inspection: stats, state).
func (c *Client) Subscriber() *webrtc.PeerConnection { return c.sub.pc }

// Done is closed when the session ends (Leave, Close, server leave, socket error).
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is nil while connected, then why the session ended: ErrClosed after
// Leave/Close, *LeaveError after a server leave, or the socket error.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// LeaveRequest returns the leave the server sent, or nil.
func (c *Client) LeaveRequest() *livekit.LeaveRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leave
}

// RefreshToken returns the latest refresh_token the server sent.
func (c *Client) RefreshToken() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refreshToken
}

// SubscriberOffers counts the offers the server has sent on the subscriber PC.
func (c *Client) SubscriberOffers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.subOffers
}

// SendRequest sends a raw SignalRequest (for tests of odd or bad input).
func (c *Client) SendRequest(req *livekit.SignalRequest) error {
	select {
	case <-c.done:
		return ErrClosed
	default:
	}
	return c.sigp.Load().send(req)
}

// SendRaw sends one WebSocket frame as is (websocket.BinaryMessage or TextMessage), e.g. garbage bytes.
func (c *Client) SendRaw(messageType int, payload []byte) error {
	select {
	case <-c.done:
		return ErrClosed
	default:
	}
	return c.sigp.Load().sendRaw(messageType, payload)
}

// sendInternal is SendRequest for the client's own traffic.
func (c *Client) sendInternal(req *livekit.SignalRequest) error { return c.SendRequest(req) }

// Leave sends leave{CLIENT_INITIATED, DISCONNECT}, closes the socket with a
// close frame and closes both PeerConnections.
func (c *Client) Leave() error {
	c.leaving.Store(true)
	err := c.SendRequest(&livekit.SignalRequest{Message: &livekit.SignalRequest_Leave{Leave: &livekit.LeaveRequest{
		Reason: livekit.DisconnectReason_CLIENT_INITIATED, Action: livekit.LeaveRequest_DISCONNECT,
	}}})
	c.shutdown(ErrClosed, true)
	c.wait()
	if err != nil && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("send leave: %w", err)
	}
	return nil
}

// Close ends the session abruptly: no leave, no close frame; both
// PeerConnections are closed. It waits for the client's goroutines.
func (c *Client) Close() {
	c.shutdown(ErrClosed, false)
	c.wait()
}

func (c *Client) wait() {
	c.wg.Wait()
	if !c.events.busy.Load() { // not called from a handler
		<-c.events.exited
	}
}

// shutdown ends the session once; reason becomes Err.
func (c *Client) shutdown(reason error, graceful bool) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		if c.err == nil {
			c.err = reason
		}
		err := c.err
		c.mu.Unlock()
		close(c.done)
		if graceful {
			c.sigp.Load().closeGracefully()
		} else {
			c.sigp.Load().close()
		}
		c.stopRTCPReaders()
		c.pub.close()
		c.sub.close()
		c.notify()
		c.emit(func(h *Handlers) {
			if h.OnDisconnected != nil {
				h.OnDisconnected(err)
			}
		})
		c.events.stop()
	})
}

// goSafe starts f as a tracked goroutine unless the client is closed.
// rtcpStopWait bounds how long stopRTCPReaders waits.
const rtcpStopWait = time.Second

// stopRTCPReaders makes every published track's RTCP reader return (a read deadline in the past)
// and waits for them, bounded. pion v3's RTPSender.ReadSimulcast reads the sender's encodings
// without its lock while Stop, run by PeerConnection.Close, rewrites them: a simulcast reader still
// looping when the PeerConnection closes is a data race. Setting the deadline blocks until SRTP is
// up, so a client whose DTLS never connected gives up after rtcpStopWait; the helper goroutine
// then ends when Close stops the senders.
func (c *Client) stopRTCPReaders() {
	tracks := c.LocalTracks()
	now := time.Now()
	done := make(chan struct{})
	go func() {
		for _, lt := range tracks {
			lt.stopRTCP(now)
		}
		c.rtcpReaders.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(rtcpStopWait):
	}
}

func (c *Client) goSafe(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// notify wakes every WaitFor.
func (c *Client) notify() {
	c.mu.Lock()
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// emit queues a handler call.
func (c *Client) emit(f func(*Handlers)) {
	h := &c.opts.Handlers
	c.events.push(func() { f(h) })
}

// readLoop reads sig until it fails. A failure of a connection a resume has replaced is
// ignored; with Options.AutoResume a lost connection starts a resume instead of ending the
// session.
func (c *Client) readLoop(sig *signalConn) {
	defer c.wg.Done()
	for {
		res, err := sig.read(time.Time{})
		if err != nil {
			select {
			case <-c.done:
			default:
				if c.sigp.Load() != sig {
					return // replaced by a resume
				}
				c.log.Debug("signal closed", "err", err)
				switch {
				case c.leaving.Load():
					c.shutdown(ErrClosed, false)
				case c.opts.AutoResume:
					c.startResume()
				case c.resuming.Load():
				default:
					c.shutdown(fmt.Errorf("signal connection: %w", err), false)
				}
			}
			return
		}
		c.handle(res)
	}
}

func (c *Client) pingLoop() {
	defer c.wg.Done()
	interval := time.Duration(c.joinRe.GetPingInterval()) * time.Second
	if interval <= 0 {
		interval = 5 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		now := time.Now().UnixMilli()
		c.mu.Lock()
		rtt := c.lastRTT.Milliseconds()
		c.mu.Unlock()
		_ = c.SendRequest(&livekit.SignalRequest{Message: &livekit.SignalRequest_Ping{Ping: now}})
		_ = c.SendRequest(&livekit.SignalRequest{Message: &livekit.SignalRequest_PingReq{PingReq: &livekit.Ping{Timestamp: now, Rtt: rtt}}})
	}
}

// Ping sends one ping_req now (independent of Options.Ping).
func (c *Client) Ping() error {
	return c.SendRequest(&livekit.SignalRequest{Message: &livekit.SignalRequest_PingReq{
		PingReq: &livekit.Ping{Timestamp: time.Now().UnixMilli()},
	}})
}

// PingStats returns how many pong_resp arrived and the last RTT they gave.
func (c *Client) PingStats() (pongs int, lastRTT time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pongs, c.lastRTT
}
