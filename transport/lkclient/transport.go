package lkclient

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"

	"github.com/pion/webrtc/v3"

	livekit "github.com/actor-sfu/livekit-server/proto/livekit"
)

// pcTransport is one PeerConnection plus its trickle bookkeeping: remote
// candidates wait until a remote description is set (pion's AddICECandidate
// would fail before), and local candidates wait until our first description
// has been sent, so the server never sees a candidate before the SDP.
type pcTransport struct {
	target livekit.SignalTarget
	pc     *webrtc.PeerConnection
	log    *slog.Logger
	send   func(*livekit.SignalRequest) error

	mu            sync.Mutex
	remoteSet     bool
	pendingRemote []webrtc.ICECandidateInit
	localSent     bool
	pendingLocal  []webrtc.ICECandidateInit
}

func newTransport(api *webrtc.API, target livekit.SignalTarget, log *slog.Logger,
	send func(*livekit.SignalRequest) error, onChange func()) (*pcTransport, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("new %s peer connection: %w", target, err)
	}
	t := &pcTransport{target: target, pc: pc, log: log.With("pc", target.String()), send: send}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		init := c.ToJSON()
		t.mu.Lock()
		if !t.localSent {
			t.pendingLocal = append(t.pendingLocal, init)
			t.mu.Unlock()
			return
		}
		t.mu.Unlock()
		t.trickle(init)
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		t.log.Debug("connection state", "state", s.String())
		onChange()
	})
	return t, nil
}

func (t *pcTransport) trickle(init webrtc.ICECandidateInit) {
	b, err := json.Marshal(init)
	if err != nil {
		t.log.Warn("marshal candidate", "err", err)
		return
	}
	err = t.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Trickle{
		Trickle: &livekit.TrickleRequest{CandidateInit: string(b), Target: t.target},
	}})
	if err != nil {
		t.log.Debug("send trickle", "err", err)
	}
}

// localDescriptionSent releases local candidates held back until the SDP went out.
func (t *pcTransport) localDescriptionSent() {
	t.mu.Lock()
	if t.localSent {
		t.mu.Unlock()
		return
	}
	t.localSent = true
	pending := t.pendingLocal
	t.pendingLocal = nil
	t.mu.Unlock()
	for _, c := range pending {
		t.trickle(c)
	}
}

// addRemoteCandidate applies or queues a candidate from the server.
func (t *pcTransport) addRemoteCandidate(candidateInit string) error {
	var init webrtc.ICECandidateInit
	if err := json.Unmarshal([]byte(candidateInit), &init); err != nil {
		return fmt.Errorf("parse candidate %q: %w", candidateInit, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.remoteSet {
		t.pendingRemote = append(t.pendingRemote, init)
		return nil
	}
	if err := t.pc.AddICECandidate(init); err != nil {
		return fmt.Errorf("add candidate: %w", err)
	}
	return nil
}

// setRemote applies a remote description and flushes queued candidates.
func (t *pcTransport) setRemote(sd webrtc.SessionDescription) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.pc.SetRemoteDescription(sd); err != nil {
		return fmt.Errorf("set remote %s: %w", sd.Type, err)
	}
	t.remoteSet = true
	for _, c := range t.pendingRemote {
		if err := t.pc.AddICECandidate(c); err != nil {
			t.log.Warn("add queued candidate", "err", err)
		}
	}
	t.pendingRemote = nil
	return nil
}

func (t *pcTransport) connected() bool {
	return t.pc.ConnectionState() == webrtc.PeerConnectionStateConnected
}

func (t *pcTransport) close() {
	if err := t.pc.Close(); err != nil {
		t.log.Debug("close peer connection", "err", err)
	}
}
