package lkclient

import (
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"

	livekit "github.com/actor-sfu/livekit-server/proto/livekit"
)

// Handlers are optional callbacks. Except OnRTP, they run one at a time, in
// the order the events happened, on a dedicated event goroutine; they may
// call any Client method (including Close). A slow handler delays later
// handlers but never the signalling or media paths. Handlers still queued
// when the client closes run after Close returns.
type Handlers struct {
	// OnSignal sees every SignalResponse before the client acts on it.
	OnSignal func(*livekit.SignalResponse)
	// OnParticipantConnected fires for a participant not known before (including those in the JoinResponse).
	OnParticipantConnected func(*livekit.ParticipantInfo)
	// OnParticipantUpdated fires for every accepted update of a known participant.
	OnParticipantUpdated func(*livekit.ParticipantInfo)
	// OnParticipantDisconnected fires on state=DISCONNECTED or when a new session replaces the identity.
	OnParticipantDisconnected func(*livekit.ParticipantInfo)
	// OnLocalParticipantUpdated fires on accepted updates about ourselves.
	OnLocalParticipantUpdated func(*livekit.ParticipantInfo)
	// OnTrackPublished, OnTrackUnpublished, OnTrackMuted and OnTrackUnmuted
	// report remote publications as seen in ParticipantUpdates.
	OnTrackPublished   func(*livekit.ParticipantInfo, *livekit.TrackInfo)
	OnTrackUnpublished func(*livekit.ParticipantInfo, *livekit.TrackInfo)
	OnTrackMuted       func(*livekit.ParticipantInfo, *livekit.TrackInfo)
	OnTrackUnmuted     func(*livekit.ParticipantInfo, *livekit.TrackInfo)
	// OnTrackSubscribed fires when media of a remote track arrives on the subscriber PC.
	OnTrackSubscribed func(*RemoteTrack)
	// OnTrackUnsubscribed fires when a remote track's RTP stream ends.
	OnTrackUnsubscribed func(*RemoteTrack)
	// OnRTP runs on the track's reader goroutine for every packet, before the
	// packet is offered to RemoteTrack.Packets. It must be fast and must not
	// call Close or Leave.
	OnRTP func(*RemoteTrack, *rtp.Packet)
	// OnData fires for every data packet received on any channel.
	OnData func(*ReceivedData)
	// OnSpeakersChanged passes the speakers_changed delta as received.
	OnSpeakersChanged func([]*livekit.SpeakerInfo)
	// OnLocalTrackMuted fires when the server mutes or unmutes one of our tracks.
	OnLocalTrackMuted func(*LocalTrack, bool)
	// OnLeave fires when the server sends leave (the client then closes).
	OnLeave func(*livekit.LeaveRequest)
	// OnDisconnected fires once when the session ends; err is Client.Err().
	OnDisconnected func(err error)
}

// eventQueue runs queued callbacks in order on one goroutine.
type eventQueue struct {
	mu      sync.Mutex
	queue   []func()
	stopped bool
	wake    chan struct{}
	exited  chan struct{}
	busy    atomic.Bool
}

func newEventQueue() *eventQueue {
	q := &eventQueue{wake: make(chan struct{}, 1), exited: make(chan struct{})}
	go q.run()
	return q
}

// push queues f; it is dropped after stop.
func (q *eventQueue) push(f func()) {
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		return
	}
	q.queue = append(q.queue, f)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// stop lets the goroutine drain what is queued and exit.
func (q *eventQueue) stop() {
	q.mu.Lock()
	q.stopped = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *eventQueue) run() {
	defer close(q.exited)
	for range q.wake {
		for {
			q.mu.Lock()
			if len(q.queue) == 0 {
				stopped := q.stopped
				q.mu.Unlock()
				if stopped {
					return
				}
				break
			}
			f := q.queue[0]
			q.queue[0] = nil
			q.queue = q.queue[1:]
			q.mu.Unlock()
			q.busy.Store(true)
			f()
			q.busy.Store(false)
		}
	}
}
