package actors

// Publishing: add_track reservations, matching arriving media to them, the track actors of
// published tracks, unpublishing, and mutes.

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/pion/webrtc/v3"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/actors/media"
	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// publication is one track this participant publishes.
type publication struct {
	info *livekit.TrackInfo
	cid  string
	pid  *actor.PID
}

// addTrack reserves a TrackInfo for a track the client is about to send and answers with its SID.
func (p *participantActor) addTrack(req *livekit.AddTrackRequest) {
	if !p.mayPublish(req.GetSource()) {
		p.refuse(fmt.Sprintf("not allowed to publish %s", req.GetSource().String()), livekit.RequestResponse_NOT_ALLOWED, echoAddTrack(req))
		return
	}
	if req.GetCid() == "" {
		p.refuse("add_track without a cid", livekit.RequestResponse_INVALID_REQUEST, echoAddTrack(req))
		return
	}
	if p.trackByCID(req.GetCid()) != nil {
		// A cid names one client track; a second request for it would make two publications
		// race for the same media. The first publication stands.
		p.refuse(fmt.Sprintf("track cid %q is already in use", req.GetCid()), livekit.RequestResponse_DUPLICATE_NAME, echoAddTrack(req))
		return
	}
	if err := checkAddTrack(req, p.node.cfg.Limits); err != nil {
		// Echo the request without its oversized fields: the client matches refusals by cid.
		echo := &livekit.AddTrackRequest{Cid: req.GetCid(), Type: req.GetType(), Source: req.GetSource()}
		if len(echo.Cid) > p.node.cfg.Limits.MaxTrackNameSize {
			echo.Cid = ""
		}
		p.refuse(fmt.Sprintf("add_track refused: %v", err), livekit.RequestResponse_LIMIT_EXCEEDED, echoAddTrack(echo))
		return
	}
	if len(p.pending)+len(p.published) >= p.node.cfg.Limits.MaxTracksPerParticipant {
		p.refuse(fmt.Sprintf("too many tracks: limit %d per participant", p.node.cfg.Limits.MaxTracksPerParticipant), livekit.RequestResponse_LIMIT_EXCEEDED, echoAddTrack(req))
		return
	}
	prefix := "TR_A"
	if req.GetType() == livekit.TrackType_VIDEO {
		prefix = "TR_V"
	}
	info := &livekit.TrackInfo{
		Sid:        newID(prefix),
		Type:       req.GetType(),
		Name:       req.GetName(),
		Muted:      req.GetMuted(),
		Width:      req.GetWidth(),
		Height:     req.GetHeight(),
		Simulcast:  len(req.GetLayers()) > 1,
		DisableDtx: req.GetDisableDtx(),
		Source:     req.GetSource(),
		Layers:     req.GetLayers(),
		Stereo:     req.GetStereo(),
		DisableRed: req.GetDisableRed(),
		Encryption: req.GetEncryption(),
		Stream:     req.GetStream(),
	}
	if info.Stream == "" {
		info.Stream = "camera"
		if info.Source == livekit.TrackSource_SCREEN_SHARE || info.Source == livekit.TrackSource_SCREEN_SHARE_AUDIO {
			info.Stream = "screen"
		}
	}
	for _, c := range req.GetSimulcastCodecs() {
		info.Codecs = append(info.Codecs, &livekit.SimulcastCodecInfo{
			MimeType: mimeOf(c.GetCodec(), req.GetType()), Cid: c.GetCid(), Layers: c.GetLayers(),
		})
	}
	p.pending[req.GetCid()] = info
	p.pendingOrder = append(p.pendingOrder, req.GetCid())
	p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_TrackPublished{TrackPublished: &livekit.TrackPublishedResponse{
		Cid: req.GetCid(), Track: proto.Clone(info).(*livekit.TrackInfo),
	}}})
}

// checkAddTrack bounds what an add_track may put into the TrackInfo that every participant of the
// room receives, again with every change of the publisher's info: names, layers and codecs.
func checkAddTrack(req *livekit.AddTrackRequest, l Limits) error {
	strs := []struct{ what, s string }{{"name", req.GetName()}, {"stream", req.GetStream()}, {"cid", req.GetCid()}, {"sid", req.GetSid()}}
	if n := len(req.GetLayers()); n > l.MaxTrackLayers {
		return fmt.Errorf("%d layers, limit %d", n, l.MaxTrackLayers)
	}
	for _, layer := range req.GetLayers() {
		strs = append(strs, struct{ what, s string }{"layer rid", layer.GetRid()})
	}
	if n := len(req.GetSimulcastCodecs()); n > l.MaxSimulcastCodecs {
		return fmt.Errorf("%d simulcast codecs, limit %d", n, l.MaxSimulcastCodecs)
	}
	for _, c := range req.GetSimulcastCodecs() {
		if n := len(c.GetLayers()); n > l.MaxTrackLayers {
			return fmt.Errorf("simulcast codec with %d layers, limit %d", n, l.MaxTrackLayers)
		}
		strs = append(strs, struct{ what, s string }{"codec", c.GetCodec()}, struct{ what, s string }{"codec cid", c.GetCid()})
		for _, layer := range c.GetLayers() {
			strs = append(strs, struct{ what, s string }{"layer rid", layer.GetRid()})
		}
	}
	for _, f := range strs {
		if len(f.s) > l.MaxTrackNameSize {
			return fmt.Errorf("%s is %d bytes, limit %d", f.what, len(f.s), l.MaxTrackNameSize)
		}
	}
	return nil
}

// mimeOf turns the short codec names JS sends ("vp8") into mime types ("video/VP8").
func mimeOf(codec string, kind livekit.TrackType) string {
	if codec == "" || strings.Contains(codec, "/") {
		return codec
	}
	prefix := "audio/"
	if kind == livekit.TrackType_VIDEO {
		prefix = "video/"
	}
	switch strings.ToLower(codec) {
	case "opus":
		return prefix + "opus"
	case "vp8", "vp9", "av1", "h264", "h265":
		return prefix + strings.ToUpper(codec)
	}
	return prefix + codec
}

func (p *participantActor) mayPublish(source livekit.TrackSource) bool {
	perm := p.info.GetPermission()
	if !perm.GetCanPublish() {
		return false
	}
	if len(perm.GetCanPublishSources()) == 0 {
		return true
	}
	for _, s := range perm.GetCanPublishSources() {
		if s == source {
			return true
		}
	}
	return false
}

func (p *participantActor) trackByCID(cid string) *livekit.TrackInfo {
	if info := p.pending[cid]; info != nil {
		return info
	}
	for _, pub := range p.published {
		if pub.cid == cid {
			return pub.info
		}
	}
	return nil
}

// matchPending finds the add_track request a remote track answers: by msid track id (the cid),
// then by a simulcast codec's cid, then the oldest request of the same kind.
func (p *participantActor) matchPending(remote *webrtc.TrackRemote) (string, *livekit.TrackInfo) {
	if info := p.pending[remote.ID()]; info != nil {
		return remote.ID(), info
	}
	for cid, info := range p.pending {
		for _, c := range info.Codecs {
			if c.GetCid() == remote.ID() {
				return cid, info
			}
		}
	}
	want := livekit.TrackType_AUDIO
	if remote.Kind() == webrtc.RTPCodecTypeVideo {
		want = livekit.TrackType_VIDEO
	}
	var match *livekit.TrackInfo
	matchCID := ""
	live := p.pendingOrder[:0]
	for _, cid := range p.pendingOrder {
		info := p.pending[cid]
		if info == nil {
			continue // published or withdrawn since
		}
		live = append(live, cid)
		if match == nil && info.Type == want {
			match, matchCID = info, cid
		}
	}
	p.pendingOrder = live
	return matchCID, match
}

// remoteTrack handles media arriving on the publisher PC: a new publication, or one more
// simulcast layer of an existing one.
func (p *participantActor) remoteTrack(ctx actor.Context, remote *webrtc.TrackRemote, rr *webrtc.RTPReceiver) {
	if !p.info.GetPermission().GetCanPublish() {
		_ = rr.Stop()
		return
	}
	for _, pub := range p.published {
		if pub.cid == remote.ID() {
			ctx.Send(pub.pid, &addLayer{remote: remote, receiver: rr})
			return
		}
	}
	cid, info := p.matchPending(remote)
	if info == nil {
		p.log.Warn("media without add_track ignored", "cid", remote.ID(), "kind", remote.Kind().String())
		_ = rr.Stop()
		return
	}
	delete(p.pending, cid)
	info.MimeType = remote.Codec().MimeType
	for _, tr := range p.pub.GetTransceivers() {
		if tr.Receiver() == rr {
			info.Mid = tr.Mid()
		}
	}
	if len(info.Codecs) == 0 {
		info.Codecs = []*livekit.SimulcastCodecInfo{{MimeType: info.MimeType, Cid: cid, Mid: info.Mid, Layers: info.Layers}}
	} else {
		info.Codecs[0].Mid = info.Mid
	}
	var trackPID atomic.Pointer[actor.PID]
	root := p.root
	receiver := p.node.engine.NewReceiver(media.ReceiverOptions{
		TrackID:     info.Sid,
		Kind:        remote.Kind(),
		Codec:       remote.Codec(),
		PublisherPC: p.pub,
		OnClosed: func() {
			if pid := trackPID.Load(); pid != nil {
				root.Send(pid, &upstreamEnded{})
			}
		},
		Log: p.log, // the receiver adds the track field itself
	})
	trackInfo := proto.Clone(info).(*livekit.TrackInfo)
	subscribers := &subscriberSet{}
	pid, err := p.node.spawn(ctx, info.Sid, "track", func(st *actorStats) actor.Actor {
		st.trackType.Store(int32(trackInfo.Type) + 1) // for Node.Stats' per-kind counts
		t := newTrackActor(p.node, p.log, trackInfo, receiver, st)
		t.snapshot = subscribers // the track actor writes it; the room reads it
		return t
	}, actor.WithSupervisor(stopOnPanic()))
	if err != nil {
		p.log.Error("cannot start track actor", "track", info.Sid, "err", err)
		receiver.Close()
		return
	}
	trackPID.Store(pid)
	ctx.Send(pid, &addLayer{remote: remote, receiver: rr})
	p.published[info.Sid] = &publication{info: info, cid: cid, pid: pid}
	p.numPublished.Store(int64(len(p.published)))
	p.info.Tracks = append(p.info.Tracks, info)
	p.info.IsPublisher = true
	p.log.Info("track published", "track", info.Sid, "mime", info.MimeType, "source", info.Source.String(), "rid", remote.RID())
	// The update describing the track must reach subscribers before the offer that carries it.
	p.changed(ctx)
	ctx.Send(ctx.Parent(), &trackPublished{
		publisherSID: p.info.Sid, info: proto.Clone(info).(*livekit.TrackInfo), pid: pid,
		receiver: receiver, codec: remote.Codec().RTPCodecCapability, subscribers: subscribers,
	})
}

// unpublishStopped stops the track actors of tracks the client's latest offer no longer sends.
// Unpublishing has no signal message: the client removes its sender and re-offers, and the
// track's m-section turns recvonly or inactive (or is rejected with port 0).
func (p *participantActor) unpublishStopped(ctx actor.Context, offer string) {
	if len(p.published) == 0 {
		return
	}
	sending := sendingMids(offer)
	for sid, pub := range p.published {
		if pub.info.Mid != "" && !sending[pub.info.Mid] {
			p.log.Info("track no longer sent by the client", "track", sid)
			ctx.Stop(pub.pid)
		}
	}
}

// trackEnded forgets a publication whose track actor stopped (unpublished, upstream ended, or
// failed) and tells the room.
func (p *participantActor) trackEnded(ctx actor.Context, who *actor.PID) {
	for sid, pub := range p.published {
		if !pub.pid.Equal(who) {
			continue
		}
		delete(p.published, sid)
		p.numPublished.Store(int64(len(p.published)))
		tracks := p.info.Tracks[:0]
		for _, t := range p.info.Tracks {
			if t.Sid != sid {
				tracks = append(tracks, t)
			}
		}
		p.info.Tracks = tracks
		p.info.IsPublisher = len(p.published) > 0
		if p.stopped.Load() {
			return
		}
		p.log.Info("track unpublished", "track", sid)
		p.changed(ctx)
		ctx.Send(ctx.Parent(), &trackUnpublished{publisherSID: p.info.Sid, trackSID: sid})
		return
	}
}

func (p *participantActor) findTrack(sid string) *livekit.TrackInfo {
	if pub := p.published[sid]; pub != nil {
		return pub.info
	}
	for _, info := range p.pending {
		if info.Sid == sid {
			return info
		}
	}
	return nil
}

// clientMute records a mute the client made itself.
func (p *participantActor) clientMute(ctx actor.Context, sid string, muted bool) {
	info := p.findTrack(sid)
	if info == nil || info.Muted == muted {
		return
	}
	info.Muted = muted
	if pub := p.published[sid]; pub != nil {
		p.changed(ctx)
	}
}

// serverMute mutes a track on behalf of the Room API: the client is told, so it stops sending.
func (p *participantActor) serverMute(ctx actor.Context, m *muteTrack) {
	info := p.findTrack(m.trackSID)
	if info == nil {
		ctx.Respond(&replyError{fmt.Errorf("track %q of %q: %w", m.trackSID, p.info.Identity, ErrTrackNotFound)})
		return
	}
	p.send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Mute{Mute: &livekit.MuteTrackRequest{Sid: m.trackSID, Muted: m.muted}}})
	if info.Muted != m.muted {
		info.Muted = m.muted
		p.changed(ctx)
	}
	ctx.Respond(proto.Clone(info))
}
