package lkclient

import (
	livekit "github.com/actor-sfu/livekit-server/proto/livekit"
)

// changeKind names what a ParticipantUpdate changed.
type changeKind int

const (
	participantConnected changeKind = iota
	participantUpdated
	participantDisconnected
	trackPublished
	trackUnpublished
	trackMuted
	trackUnmuted
	localUpdated
)

func (k changeKind) String() string {
	return [...]string{"connected", "updated", "disconnected", "track_published", "track_unpublished",
		"track_muted", "track_unmuted", "local_updated"}[k]
}

// change is one event derived from a ParticipantUpdate.
type change struct {
	kind        changeKind
	participant *livekit.ParticipantInfo
	track       *livekit.TrackInfo // for track kinds
}

// participantTable holds the remote participants as the SDKs do: keyed by
// identity, never going back in version for the same SID, removing on
// DISCONNECTED. Infos stored are never mutated (replaced wholesale), so they
// can be handed out read-only. Not safe for concurrent use.
type participantTable struct {
	localSID string
	local    *livekit.ParticipantInfo
	bySID    map[string]*livekit.ParticipantInfo
	sidOf    map[string]string // identity -> current SID
	gone     map[string]uint32 // SID -> version at DISCONNECTED
}

func newParticipantTable(local *livekit.ParticipantInfo, others []*livekit.ParticipantInfo) *participantTable {
	t := &participantTable{
		localSID: local.GetSid(), local: local,
		bySID: map[string]*livekit.ParticipantInfo{}, sidOf: map[string]string{}, gone: map[string]uint32{},
	}
	t.apply(others)
	return t
}

// apply merges an update and returns what changed, in order.
func (t *participantTable) apply(infos []*livekit.ParticipantInfo) []change {
	var out []change
	for _, p := range infos {
		out = append(out, t.applyOne(p)...)
	}
	return out
}

func (t *participantTable) applyOne(p *livekit.ParticipantInfo) []change {
	if p == nil || p.GetSid() == "" {
		return nil
	}
	if p.GetSid() == t.localSID {
		if t.local != nil && p.GetVersion() < t.local.GetVersion() {
			return nil
		}
		t.local = p
		return []change{{kind: localUpdated, participant: p}}
	}
	if v, ok := t.gone[p.GetSid()]; ok && p.GetVersion() <= v {
		return nil // stale news about someone who already left
	}
	old := t.bySID[p.GetSid()]
	if old != nil && p.GetVersion() < old.GetVersion() {
		return nil
	}
	if p.GetState() == livekit.ParticipantInfo_DISCONNECTED {
		t.gone[p.GetSid()] = p.GetVersion()
		if old == nil {
			return nil
		}
		t.remove(old)
		return []change{{kind: participantDisconnected, participant: p}}
	}
	delete(t.gone, p.GetSid())
	var out []change
	if old == nil {
		// A new session for an identity replaces the previous one (e.g. duplicate identity).
		if prevSID, ok := t.sidOf[p.GetIdentity()]; ok {
			prev := t.bySID[prevSID]
			t.remove(prev)
			t.gone[prevSID] = prev.GetVersion()
			out = append(out, change{kind: participantDisconnected, participant: prev})
		}
		t.bySID[p.GetSid()] = p
		t.sidOf[p.GetIdentity()] = p.GetSid()
		out = append(out, change{kind: participantConnected, participant: p})
		for _, tr := range p.GetTracks() {
			out = append(out, change{kind: trackPublished, participant: p, track: tr})
		}
		return out
	}
	t.bySID[p.GetSid()] = p
	if old.GetIdentity() != p.GetIdentity() {
		delete(t.sidOf, old.GetIdentity())
	}
	t.sidOf[p.GetIdentity()] = p.GetSid()
	out = append(out, change{kind: participantUpdated, participant: p})
	return append(out, diffTracks(p, old.GetTracks(), p.GetTracks())...)
}

func (t *participantTable) remove(p *livekit.ParticipantInfo) {
	delete(t.bySID, p.GetSid())
	if t.sidOf[p.GetIdentity()] == p.GetSid() {
		delete(t.sidOf, p.GetIdentity())
	}
}

// diffTracks reports published, unpublished, muted and unmuted tracks.
func diffTracks(p *livekit.ParticipantInfo, before, after []*livekit.TrackInfo) []change {
	prev := make(map[string]*livekit.TrackInfo, len(before))
	for _, tr := range before {
		prev[tr.GetSid()] = tr
	}
	var out []change
	for _, tr := range after {
		o, ok := prev[tr.GetSid()]
		delete(prev, tr.GetSid())
		switch {
		case !ok:
			out = append(out, change{kind: trackPublished, participant: p, track: tr})
		case o.GetMuted() != tr.GetMuted() && tr.GetMuted():
			out = append(out, change{kind: trackMuted, participant: p, track: tr})
		case o.GetMuted() != tr.GetMuted():
			out = append(out, change{kind: trackUnmuted, participant: p, track: tr})
		}
	}
	for _, tr := range before { // keep the original order for removals
		if _, ok := prev[tr.GetSid()]; ok {
			out = append(out, change{kind: trackUnpublished, participant: p, track: tr})
		}
	}
	return out
}

// byIdentity returns a fresh map of the current remote participants.
func (t *participantTable) byIdentity() map[string]*livekit.ParticipantInfo {
	m := make(map[string]*livekit.ParticipantInfo, len(t.bySID))
	for _, p := range t.bySID {
		m[p.GetIdentity()] = p
	}
	return m
}

// identity returns the participant with that identity, or nil.
func (t *participantTable) identity(id string) *livekit.ParticipantInfo {
	return t.bySID[t.sidOf[id]]
}

// sid returns the participant with that SID (local included), or nil.
func (t *participantTable) sid(sid string) *livekit.ParticipantInfo {
	if sid == t.localSID {
		return t.local
	}
	return t.bySID[sid]
}
