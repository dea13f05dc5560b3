package actors

import (
	"log/slog"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actor-sfu/livekit-server/actors/media"
	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// trackActor is /node/rooms/<room>/<identity>/<TR_sid>: the owner of one published track's
// forwarding. It is the only writer of the receiver's subscriber snapshot; the forwarder
// goroutines inside the receiver only read it, so no packet ever passes through a mailbox.
type trackActor struct {
	node     *Node
	log      *slog.Logger
	info     *livekit.TrackInfo
	receiver *media.Receiver
	subs     map[string]*media.DownTrack // by subscriber actor id
	numSubs  atomic.Int64
}

func newTrackActor(n *Node, participantLog *slog.Logger, info *livekit.TrackInfo, r *media.Receiver, st *actorStats) *trackActor {
	t := &trackActor{
		node:     n,
		log:      participantLog.With("track", info.Sid),
		info:     info,
		receiver: r,
		subs:     map[string]*media.DownTrack{},
	}
	kind, mime := info.Type.String(), info.MimeType
	st.describe = func() map[string]any {
		s := r.Stats()
		return map[string]any{
			"type":        kind,
			"mime":        mime,
			"subscribers": t.numSubs.Load(),
			"packetsIn":   s.Packets,
			"bytesIn":     s.Bytes,
			"bitrateBps":  s.BitrateBps,
			"lost":        s.Lost,
			"plis":        s.PLIsSent,
			"layers":      r.Layers(),
		}
	}
	return t
}

// Receive handles the track's messages.
func (t *trackActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *addLayer:
		t.receiver.AddLayer(m.remote, m.receiver)
	case *addDownTrack:
		t.detach(ctx, m.subscriber)
		t.subs[m.subscriber.Id] = m.downTrack
		t.numSubs.Store(int64(len(t.subs)))
		t.receiver.AddDownTrack(m.downTrack)
		ctx.Watch(m.subscriber)
	case *removeDownTrack:
		t.detach(ctx, m.subscriber)
	case *actor.Terminated:
		t.detach(ctx, m.Who)
	case *upstreamEnded:
		t.log.Debug("publisher stopped sending")
		ctx.Stop(ctx.Self())
	case *injectPanic:
		panic("injected panic in track actor")
	case *actor.Stopping:
		t.receiver.Close()
	case *actor.Stopped:
		t.node.inspector.remove(ctx.Self().Id)
	}
}

// detach removes a subscriber's DownTrack from the fan-out, if it has one.
func (t *trackActor) detach(ctx actor.Context, subscriber *actor.PID) {
	dt, found := t.subs[subscriber.Id]
	if !found {
		return
	}
	delete(t.subs, subscriber.Id)
	t.numSubs.Store(int64(len(t.subs)))
	t.receiver.RemoveDownTrack(dt)
	ctx.Unwatch(subscriber)
}
