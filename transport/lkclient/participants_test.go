package lkclient

import (
	"fmt"
	"strings"
	"testing"

	livekit "github.com/actor-sfu/livekit-server/proto/livekit"
)

func pinfo(sid, identity string, version uint32, state livekit.ParticipantInfo_State, tracks ...*livekit.TrackInfo) *livekit.ParticipantInfo {
	return &livekit.ParticipantInfo{Sid: sid, Identity: identity, Version: version, State: state, Tracks: tracks}
}

func tinfo(sid string, muted bool) *livekit.TrackInfo {
	return &livekit.TrackInfo{Sid: sid, Muted: muted}
}

func describe(changes []change) string {
	var parts []string
	for _, c := range changes {
		s := c.kind.String() + ":" + c.participant.GetIdentity()
		if c.track != nil {
			s += "/" + c.track.GetSid()
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func TestParticipantTable(t *testing.T) {
	const (
		joined = livekit.ParticipantInfo_JOINED
		active = livekit.ParticipantInfo_ACTIVE
		gone   = livekit.ParticipantInfo_DISCONNECTED
	)
	type step struct {
		update []*livekit.ParticipantInfo
		want   string // described changes
		after  string // identities@version after the step, sorted by identity
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"join, update, leave", []step{
			{[]*livekit.ParticipantInfo{pinfo("PA_b", "bob", 1, joined)}, "connected:bob", "bob@1"},
			{[]*livekit.ParticipantInfo{pinfo("PA_b", "bob", 2, active, tinfo("TR_1", false))}, "updated:bob track_published:bob/TR_1", "bob@2"},
			{[]*livekit.ParticipantInfo{pinfo("PA_b", "bob", 3, gone)}, "disconnected:bob", ""},
		}},
		{"older version ignored, equal accepted", []step{
			{[]*livekit.ParticipantInfo{pinfo("PA_b", "bob", 5, active, tinfo("TR_1", false))}, "connected:bob track_published:bob/TR_1", "bob@5"},
			{[]*livekit.ParticipantInfo{pinfo("PA_b", "bob", 4, active, tinfo("TR_1", true))}, "", "bob@5"},
			{[]*livekit.ParticipantInfo{pinfo("PA_b", "bob", 5, active, tinfo("TR_1", true))}, "updated:bob track_muted:bob/TR_1", "bob@5"},
			{[]*livekit.ParticipantInfo{pinfo("PA_b", "bob", 6, active, tinfo("TR_1", false))}, "updated:bob track_unmuted:bob/TR_1", "bob@6"},
			{[]*livekit.ParticipantInfo{pinfo("PA_b", "bob", 7, active)}, "updated:bob track_unpublished:bob/TR_1", "bob@7"},
		}},
		{"stale news after disconnect ignored", []step{
			{[]*livekit.ParticipantInfo{pinfo("PA_b", "bob", 2, active)}, "connected:bob", "bob@2"},
			{[]*livekit.ParticipantInfo{pinfo("PA_b", "bob", 3, gone)}, "disconnected:bob", ""},
			{[]*livekit.ParticipantInfo{pinfo("PA_b", "bob", 2, active)}, "", ""},
			{[]*livekit.ParticipantInfo{pinfo("PA_b", "bob", 3, active)}, "", ""},
		}},
		{"disconnect of unknown is silent", []step{
			{[]*livekit.ParticipantInfo{pinfo("PA_x", "x", 1, gone)}, "", ""},
			{[]*livekit.ParticipantInfo{pinfo("PA_x", "x", 1, joined)}, "", ""},
		}},
		{"new session replaces identity; old disconnect does not remove it", []step{
			{[]*livekit.ParticipantInfo{pinfo("PA_b1", "bob", 3, active)}, "connected:bob", "bob@3"},
			{[]*livekit.ParticipantInfo{pinfo("PA_b2", "bob", 1, joined)}, "disconnected:bob connected:bob", "bob@1"},
			{[]*livekit.ParticipantInfo{pinfo("PA_b1", "bob", 4, gone)}, "", "bob@1"},
		}},
		{"self updates go to local, not remotes", []step{
			{[]*livekit.ParticipantInfo{pinfo("PA_me", "me", 2, active), pinfo("PA_c", "carol", 1, joined)}, "local_updated:me connected:carol", "carol@1"},
			{[]*livekit.ParticipantInfo{pinfo("PA_me", "me", 1, active)}, "", "carol@1"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := newParticipantTable(pinfo("PA_me", "me", 1, joined), nil)
			for i, s := range tt.steps {
				if got := describe(tab.apply(s.update)); got != s.want {
					t.Fatalf("step %d: changes %q, want %q", i, got, s.want)
				}
				var after []string
				for id, p := range tab.byIdentity() {
					after = append(after, fmt.Sprintf("%s@%d", id, p.GetVersion()))
				}
				if got := strings.Join(after, " "); got != s.after {
					t.Fatalf("step %d: table %q, want %q", i, got, s.after)
				}
			}
		})
	}
}

func TestParticipantTableSeededFromJoin(t *testing.T) {
	tab := newParticipantTable(pinfo("PA_me", "me", 1, livekit.ParticipantInfo_JOINED),
		[]*livekit.ParticipantInfo{pinfo("PA_b", "bob", 4, livekit.ParticipantInfo_ACTIVE, tinfo("TR_v", false))})
	if p := tab.identity("bob"); p == nil || p.GetSid() != "PA_b" {
		t.Fatalf("bob: %v", p)
	}
	if tab.sid("PA_me").GetIdentity() != "me" || tab.sid("PA_b").GetIdentity() != "bob" || tab.sid("PA_z") != nil {
		t.Fatal("sid lookup")
	}
	if got := describe(tab.apply([]*livekit.ParticipantInfo{pinfo("PA_b", "bob", 3, livekit.ParticipantInfo_DISCONNECTED)})); got != "" {
		t.Fatalf("older disconnect applied: %q", got)
	}
}
