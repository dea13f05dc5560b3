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
	r.qualityTimer = sendAfter(ctx, qualityInterval, &qualityTick{})
}

// rating is the worst score one participant's streams got in one window.
type rating struct {
	score   float32
	quality livekit.ConnectionQuality
}

// qualityRound gathers one scoring round's ratings and who is subscribed to whom.
type qualityRound struct {
	ratings      map[string]*rating         // by participant SID
	subscribedTo map[string]map[string]bool // subscriber SID → publisher SIDs
	downs        map[*media.DownTrack]downWindow
}

// rate keeps the worse of a participant's ratings.
func (q *qualityRound) rate(sid string, w QualityWindow) {
	score, quality := ScoreQuality(w)
	cur := q.ratings[sid]
	if cur == nil {
		q.ratings[sid] = &rating{score: score, quality: quality}
		return
	}
	if worse(quality, cur.quality) || (quality == cur.quality && score < cur.score) {
		cur.score, cur.quality = score, quality
	}
}

// updateQuality scores every active participant from the counters of what it publishes (loss
// seen upstream) and what it receives (NACKs its client sent), and, when anyone is new or their
// rating changed, sends each participant a connection_quality with its own entry and those of the
// participants it is subscribed to, as LiveKit does. It reads atomics and the subscriber
// snapshots the track actors publish; no actor is asked.
func (r *roomActor) updateQuality(ctx actor.Context) {
	defer r.scheduleQualityTick(ctx)
	if len(r.participants) == 0 {
		return
	}
	round := &qualityRound{ratings: map[string]*rating{}, subscribedTo: map[string]map[string]bool{}, downs: map[*media.DownTrack]downWindow{}}
	byActorID := map[string]*memberEntry{}
	for _, p := range r.participants {
		byActorID[p.pid.Id] = p
	}
	for _, t := range r.sortedTracks() {
		r.ratePublisher(round, t)
		r.rateSubscribers(round, t, byActorID)
	}
	r.downWindows = round.downs
	now, changed := r.collectRatings(ctx, round)
	if changed {
		r.sendQuality(now, round.subscribedTo)
	}
}

// ratePublisher scores a published track as received: sequence gaps the forwarders saw, jitter,
// and a stream that stopped.
func (r *roomActor) ratePublisher(round *qualityRound, t *trackEntry) {
	if t.pub.receiver == nil {
		return
	}
	s := t.pub.receiver.Stats()
	packets, lost := s.Packets-min(t.window.packets, s.Packets), s.Lost-min(t.window.lost, s.Lost)
	stalled := packets == 0 && t.window.hadMedia && !t.pub.info.GetMuted()
	jitterMs := float64(s.Jitter) / float64(time.Millisecond)
	round.rate(t.pub.publisherSID, QualityWindow{Expected: packets + lost, Lost: lost, JitterMs: jitterMs, Stalled: stalled})
	t.window = trackWindow{packets: s.Packets, lost: s.Lost, hadMedia: packets > 0}
}

// rateSubscribers scores each subscriber of a track by what its client asked to be resent.
func (r *roomActor) rateSubscribers(round *qualityRound, t *trackEntry, byActorID map[string]*memberEntry) {
	if t.subscribers == nil {
		return
	}
	for _, sub := range t.subscribers.load() {
		m := byActorID[sub.actorID]
		if m == nil {
			continue
		}
		sid := m.info.GetSid()
		if round.subscribedTo[sid] == nil {
			round.subscribedTo[sid] = map[string]bool{}
		}
		round.subscribedTo[sid][t.pub.publisherSID] = true
		d := sub.down.Stats()
		prev := r.downWindows[sub.down]
		packets, nacks := d.Packets-min(prev.packets, d.Packets), d.NACKsReceived-min(prev.nacks, d.NACKsReceived)
		round.rate(sid, QualityWindow{Expected: packets, Lost: min(nacks, packets)})
		round.downs[sub.down] = downWindow{packets: d.Packets, nacks: d.NACKsReceived}
	}
}

// collectRatings gives every active participant its rating (no media means no evidence of
// trouble), tells each participant actor its own, and reports whether any rating is new or
// changed since the last round.
func (r *roomActor) collectRatings(ctx actor.Context, round *qualityRound) (map[string]*livekit.ConnectionQualityInfo, bool) {
	now := map[string]*livekit.ConnectionQualityInfo{}
	changed := false
	for _, p := range r.participants {
		if p.info.GetState() != livekit.ParticipantInfo_ACTIVE {
			continue
		}
		sid := p.info.GetSid()
		info := &livekit.ConnectionQualityInfo{ParticipantSid: sid, Quality: livekit.ConnectionQuality_EXCELLENT, Score: rToMOS(100)}
		if rt := round.ratings[sid]; rt != nil {
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
		ctx.Send(p.pid, &connectionRated{quality: info.Quality, score: info.Score})
	}
	r.lastQuality = map[string]livekit.ConnectionQuality{}
	for sid, info := range now {
		r.lastQuality[sid] = info.Quality
	}
	return now, changed
}

// sendQuality sends each rated participant its connection_quality: its own entry first, then
// those of the publishers it receives.
func (r *roomActor) sendQuality(now map[string]*livekit.ConnectionQualityInfo, subscribedTo map[string]map[string]bool) {
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
		if err := p.sink.Send(&livekit.SignalResponse{Message: &livekit.SignalResponse_ConnectionQuality{ConnectionQuality: update}}); err != nil {
			r.log.Debug("connection quality not delivered", "participant", p.info.GetIdentity(), "pID", sid, "err", err)
		}
	}
}
