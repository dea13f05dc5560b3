package actors

import (
	"math"
	"sort"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/actors/media"
	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// qualityInterval is how often a room scores its participants' connections and sends
// connection_quality. LiveKit uses five seconds; clients show whatever arrives last.
const qualityInterval = 5 * time.Second

// minQualitySample is the fewest packets a window must hold before its loss counts: two lost out
// of three says nothing about a connection.
const minQualitySample = 10

// qualityTick asks the room to score connections and send connection_quality (room).
type qualityTick struct{}

// QualityWindow is what one stream (a published track as received, or a DownTrack as sent) did
// during one scoring window.
type QualityWindow struct {
	// Expected is the number of packets that should have arrived (received plus lost).
	Expected uint64
	// Lost is how many of them did not.
	Lost uint64
	// JitterMs is the RTP interarrival jitter in milliseconds; 0 when unknown.
	JitterMs float64
	// Stalled says media was flowing before this window and none arrived in it, though the
	// track is not muted.
	Stalled bool
}

// ScoreQuality rates one window. It estimates an E-model transmission rating R (ITU-T G.107: 100
// is perfect, below 50 nearly everyone is dissatisfied) from loss and jitter, maps R to LiveKit's
// three levels (EXCELLENT above 80, GOOD above 60, POOR below) and to a mean opinion score between
// 1 and 4.5, which is what ConnectionQualityInfo.score carries. A stalled stream is LOST with the
// lowest score. A window with too few packets to judge counts as loss-free: LiveKit, too, reports
// EXCELLENT until it sees evidence of trouble.
func ScoreQuality(w QualityWindow) (score float32, quality livekit.ConnectionQuality) {
	if w.Stalled {
		return 1, livekit.ConnectionQuality_LOST
	}
	r := 100.0
	if w.Expected >= minQualitySample {
		lost := min(w.Lost, w.Expected)
		pct := 100 * float64(lost) / float64(w.Expected)
		// Effective equipment impairment for random loss with a loss-robust codec (G.107's
		// Ie,eff with Ie = 0 and Bpl = 10): 1 % costs 9 points, 5 % costs 32, 20 % costs 63.
		r -= 95 * pct / (pct + 10)
	}
	if w.JitterMs > 10 {
		// Jitter beyond what a jitter buffer absorbs for free turns into delay or late loss.
		r -= min(40, (w.JitterMs-10)*0.4)
	}
	r = max(0, min(100, r))
	switch {
	case r > 80:
		quality = livekit.ConnectionQuality_EXCELLENT
	case r > 60:
		quality = livekit.ConnectionQuality_GOOD
	default:
		quality = livekit.ConnectionQuality_POOR
	}
	return rToMOS(r), quality
}

// rToMOS is G.107's mapping from the R rating to a mean opinion score.
func rToMOS(r float64) float32 {
	if r <= 0 {
		return 1
	}
	if r >= 100 {
		return 4.5
	}
	mos := 1 + 0.035*r + 7e-6*r*(r-60)*(100-r)
	return float32(math.Round(mos*100) / 100)
}

// worse picks the lower of two ratings; LOST is the lowest of all.
func worse(a, b livekit.ConnectionQuality) bool {
	rank := func(q livekit.ConnectionQuality) int {
		switch q {
		case livekit.ConnectionQuality_LOST:
			return 0
		case livekit.ConnectionQuality_POOR:
			return 1
		case livekit.ConnectionQuality_GOOD:
			return 2
		}
		return 3
	}
	return rank(a) < rank(b)
}

// trackWindow remembers a published track's receive counters at the previous tick.
type trackWindow struct {
	packets, lost uint64
	hadMedia      bool // packets arrived in the previous window
}

// downWindow remembers a DownTrack's counters at the previous tick.
type downWindow struct {
	packets, nacks uint64
}

// scheduleQualityTick arms the next scoring round.
func (r *roomActor) scheduleQualityTick(ctx actor.Context) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	r.qualityTimer = time.AfterFunc(qualityInterval, func() { root.Send(self, &qualityTick{}) })
}

// updateQuality scores every active participant from the counters of what it publishes (loss
// seen upstream) and what it receives (NACKs its client sent), and, when anyone is new or their
// rating changed, sends each participant a connection_quality with its own entry and those of the
// participants it is subscribed to, as LiveKit does. It reads atomics only; no actor is asked.
func (r *roomActor) updateQuality(ctx actor.Context) {
	defer r.scheduleQualityTick(ctx)
	if len(r.participants) == 0 {
		return
	}
	type rating struct {
		score   float32
		quality livekit.ConnectionQuality
		set     bool
	}
	ratings := map[string]*rating{} // by participant SID
	rate := func(sid string, w QualityWindow) {
		score, q := ScoreQuality(w)
		cur := ratings[sid]
		if cur == nil {
			cur = &rating{}
			ratings[sid] = cur
		}
		if !cur.set || worse(q, cur.quality) || (q == cur.quality && score < cur.score) {
			cur.score, cur.quality, cur.set = score, q, true
		}
	}

	// Publisher side: sequence gaps the forwarders saw, and streams that stopped.
	byActorID := map[string]*memberEntry{}
	for _, p := range r.participants {
		byActorID[p.handle.pid.Id] = p
	}
	subscribedTo := map[string]map[string]bool{} // subscriber SID → publisher SIDs
	seenDowns := map[*media.DownTrack]downWindow{}
	for _, t := range r.sortedTracks() {
		if t.pub.receiver != nil {
			s := t.pub.receiver.Stats()
			packets, lost := s.Packets-min(t.window.packets, s.Packets), s.Lost-min(t.window.lost, s.Lost)
			stalled := packets == 0 && t.window.hadMedia && !t.pub.info.GetMuted()
			jitterMs := float64(s.Jitter) / float64(time.Millisecond)
			rate(t.pub.publisherSID, QualityWindow{Expected: packets + lost, Lost: lost, JitterMs: jitterMs, Stalled: stalled})
			t.window = trackWindow{packets: s.Packets, lost: s.Lost, hadMedia: packets > 0}
		}
		// Subscriber side: what each subscriber's client asked to be resent.
		v, ok := r.node.inspector.byID.Load(t.pub.pid.Id)
		if !ok {
			continue
		}
		subs := v.(*actorStats).subscribers.Load()
		if subs == nil {
			continue
		}
		for _, sub := range *subs {
			m := byActorID[sub.actorID]
			if m == nil {
				continue
			}
			sid := m.info.GetSid()
			if subscribedTo[sid] == nil {
				subscribedTo[sid] = map[string]bool{}
			}
			subscribedTo[sid][t.pub.publisherSID] = true
			d := sub.down.Stats()
			prev := r.downWindows[sub.down]
			packets, nacks := d.Packets-min(prev.packets, d.Packets), d.NACKsReceived-min(prev.nacks, d.NACKsReceived)
			rate(sid, QualityWindow{Expected: packets, Lost: min(nacks, packets)})
			seenDowns[sub.down] = downWindow{packets: d.Packets, nacks: d.NACKsReceived}
		}
	}
	r.downWindows = seenDowns

	// Everyone active gets a rating; no media means no evidence of trouble.
	now := map[string]*livekit.ConnectionQualityInfo{}
	changed := false
	for _, p := range r.participants {
		if p.info.GetState() != livekit.ParticipantInfo_ACTIVE {
			continue
		}
		sid := p.info.GetSid()
		info := &livekit.ConnectionQualityInfo{ParticipantSid: sid, Quality: livekit.ConnectionQuality_EXCELLENT, Score: rToMOS(100)}
		if rt := ratings[sid]; rt != nil {
			info.Quality, info.Score = rt.quality, rt.score
		}
		now[sid] = info
		if prev, seen := r.lastQuality[sid]; !seen || prev != info.Quality {
			changed = true
			if seen {
				r.log.Info("connection quality changed", "participant", p.info.GetIdentity(), "pID", sid,
					"quality", info.Quality.String(), "score", info.Score, "was", prev.String())
			}
		}
		r.setView(p, info)
	}
	r.lastQuality = map[string]livekit.ConnectionQuality{}
	for sid, info := range now {
		r.lastQuality[sid] = info.Quality
	}
	if !changed {
		return
	}
	for _, p := range r.participants {
		sid := p.info.GetSid()
		if now[sid] == nil || (p.protocol > 0 && p.protocol <= 4) {
			continue // not active yet, or a client too old for connection quality
		}
		update := &livekit.ConnectionQualityUpdate{Updates: []*livekit.ConnectionQualityInfo{now[sid]}}
		pubs := make([]string, 0, len(subscribedTo[sid]))
		for pub := range subscribedTo[sid] {
			pubs = append(pubs, pub)
		}
		sort.Strings(pubs)
		for _, pub := range pubs {
			if info := now[pub]; info != nil && pub != sid {
				update.Updates = append(update.Updates, proto.Clone(info).(*livekit.ConnectionQualityInfo))
			}
		}
		if err := p.handle.sink.Send(&livekit.SignalResponse{Message: &livekit.SignalResponse_ConnectionQuality{ConnectionQuality: update}}); err != nil {
			r.log.Debug("connection quality not delivered", "participant", p.info.GetIdentity(), "pID", sid, "err", err)
		}
	}
}

// setView publishes what the room knows of a participant to the inspector. info may be nil when
// no rating exists yet.
func (r *roomActor) setView(p *memberEntry, info *livekit.ConnectionQualityInfo) {
	if p.stats == nil {
		return
	}
	v := &participantView{identity: p.info.GetIdentity(), state: p.info.GetState()}
	if info != nil {
		v.quality, v.score, v.scored = info.GetQuality(), info.GetScore(), true
	} else if old := p.stats.view.Load(); old != nil {
		v.quality, v.score, v.scored = old.quality, old.score, old.scored
	}
	p.stats.view.Store(v)
}
