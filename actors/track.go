package actors

import (
	"log/slog"
	"sort"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actor-sfu/livekit-server/actors/media"
	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// trackActor is /node/rooms/<room>/<identity>/<TR_sid>: the owner of one published track's
// forwarding. It is the only writer of the receiver's subscriber snapshot (it adds and removes
// DownTracks; nothing else does, not even DownTrack.Close); the forwarder goroutines inside the
// receiver only read it, so no packet ever passes through a mailbox. A DownTrack whose transport
// closed is reported here by message, and removed here.
type trackActor struct {
	node     *Node
	log      *slog.Logger
	info     *livekit.TrackInfo
	receiver *media.Receiver
	subs     map[string]*media.DownTrack // by subscriber actor id
	snapshot *subscriberSet              // t.subs as published for the room and the inspector; set at spawn
	stats    *actorStats
}

// downTrackFailed reports that a subscriber's DownTrack can no longer write because its transport
// closed (track). The DownTrack sends it once, from its own goroutine.
type downTrackFailed struct {
	subscriber *actor.PID
	downTrack  *media.DownTrack
	err        error
}

// trackFailed reports that one of the receiver's own goroutines (a forwarder, a publisher RTCP
// drain, a fan-out writer), which no actor supervises, panicked (track). The receiver is broken;
// the track actor stops, as it would had it panicked itself, and the track is unpublished.
type trackFailed struct{ err error }

func newTrackActor(n *Node, participantLog *slog.Logger, info *livekit.TrackInfo, r *media.Receiver, st *actorStats) *trackActor {
	t := &trackActor{
		node:     n,
		log:      participantLog.With("track", info.Sid),
		info:     info,
		receiver: r,
		subs:     map[string]*media.DownTrack{},
		stats:    st,
	}
	kind, mime, source, name := info.Type.String(), info.MimeType, info.Source.String(), info.Name
	rate := newBitrateMeter()
	st.describe = func() map[string]any {
		s := r.Stats()
		out := map[string]any{
			"sid":         info.Sid,
			"type":        kind,
			"mime":        mime,
			"source":      source,
			"subscribers": st.subscribers.Load(),
			"packetsIn":   s.Packets,
			"bytesIn":     s.Bytes,
			"bitrateBps":  rate.update(s.Bytes),
			"lost":        s.Lost,
			"plis":        s.PLIsSent,
			"layers":      r.Layers(),
		}
		if name != "" {
			out["name"] = name
		}
		if subs := t.snapshot.load(); len(subs) > 0 {
			out["downTracks"] = describeDownTracks(subs)
		}
		return out
	}
	return t
}

// describeDownTracks lists a track's subscribers with their DownTrack counters, for the inspector.
func describeDownTracks(subs []subscriberRef) []map[string]any {
	out := make([]map[string]any, 0, len(subs))
	for _, s := range subs {
		d := s.down.Stats()
		out = append(out, map[string]any{
			"subscriber":       "/" + s.actorID,
			"packets":          d.Packets,
			"bytes":            d.Bytes,
			"bitrateBps":       s.rate.update(d.Bytes),
			"nacks":            d.NACKsReceived,
			"nacksAnswered":    d.NACKsAnswered,
			"nacksMissed":      d.NACKsMissed,
			"nacksSuppressed":  d.NACKsSuppressed,
			"nacksThrottled":   d.NACKsThrottled,
			"nackPairsDropped": d.NACKPairsDropped,
			"retransmitBytes":  d.RetransmitBytes,
			"rttMs":            d.RTT.Milliseconds(),
			"plis":             d.PLIsReceived,
			"dropped":          d.Dropped,
			"layer":            d.CurrentLayer,
			"paused":           d.Paused,
		})
	}
	return out
}

// Receive handles the track's messages.
func (t *trackActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		self, root := ctx.Self(), ctx.ActorSystem().Root
		t.receiver.OnFailure(func(err error) { root.Send(self, &trackFailed{err: err}) })
	case *trackFailed:
		t.log.Error("track forwarding failed; unpublishing", "err", m.err)
		ctx.Stop(ctx.Self())
	case *addLayer:
		t.receiver.AddLayer(m.remote, m.receiver)
	case *addDownTrack:
		t.attach(ctx, m.subscriber, m.downTrack)
	case *removeDownTrack:
		t.detach(ctx, m.subscriber)
	case *downTrackFailed:
		t.downTrackFailed(ctx, m)
	case *actor.Terminated:
		t.detach(ctx, m.Who)
	case *upstreamEnded:
		t.log.Debug("publisher stopped sending")
		ctx.Stop(ctx.Self())
	case *actor.Stopping:
		t.receiver.Close()
	case *actor.Stopped:
		t.node.inspector.remove(ctx.Self().Id)
	}
}

// attach adds a subscriber's DownTrack to the fan-out, replacing the one it had. The DownTrack
// reports a closed transport back here, once, by message: the forwarders never wait for the actor.
func (t *trackActor) attach(ctx actor.Context, subscriber *actor.PID, dt *media.DownTrack) {
	t.detach(ctx, subscriber)
	self, root := ctx.Self(), ctx.ActorSystem().Root
	dt.OnWriteFailed(func(err error) {
		root.Send(self, &downTrackFailed{subscriber: subscriber, downTrack: dt, err: err})
	})
	t.subs[subscriber.Id] = dt
	t.subscribersChanged()
	t.receiver.AddDownTrack(dt)
	ctx.Watch(subscriber)
}

// downTrackFailed takes a DownTrack whose transport closed out of the fan-out and unsubscribes its
// subscriber the way a client's own unsubscribe does, so the participant drops the subscription
// and renegotiates the track away. A report about a DownTrack that is no longer attached (the
// subscriber left or subscribed again meanwhile) is stale and ignored.
func (t *trackActor) downTrackFailed(ctx actor.Context, m *downTrackFailed) {
	if dt, found := t.subs[m.subscriber.Id]; !found || dt != m.downTrack {
		return
	}
	t.log.Info("subscriber transport closed; unsubscribing", "subscriber", m.subscriber.Id, "err", m.err)
	t.detach(ctx, m.subscriber)
	ctx.Send(m.subscriber, &unsubscribeTrack{trackSID: t.info.Sid})
}

// detach removes a subscriber's DownTrack from the fan-out, if it has one.
func (t *trackActor) detach(ctx actor.Context, subscriber *actor.PID) {
	dt, found := t.subs[subscriber.Id]
	if !found {
		return
	}
	delete(t.subs, subscriber.Id)
	t.subscribersChanged()
	t.receiver.RemoveDownTrack(dt)
	ctx.Unwatch(subscriber)
}

// subscribersChanged publishes a new immutable snapshot of the subscribers for the room and the
// inspector. Bitrate meters carry over for subscribers that stay.
func (t *trackActor) subscribersChanged() {
	meters := map[*media.DownTrack]*bitrateMeter{}
	for _, s := range t.snapshot.load() {
		meters[s.down] = s.rate
	}
	subs := make([]subscriberRef, 0, len(t.subs))
	for id, dt := range t.subs {
		rate := meters[dt]
		if rate == nil {
			rate = newBitrateMeter()
		}
		subs = append(subs, subscriberRef{actorID: id, down: dt, rate: rate})
	}
	sort.Slice(subs, func(i, j int) bool { return subs[i].actorID < subs[j].actorID })
	t.snapshot.store(subs)
	t.stats.subscribers.Store(int64(len(t.subs)))
}
