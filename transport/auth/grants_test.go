package auth

import (
	"slices"
	"testing"

	"github.com/actor-sfu/livekit-server/proto/livekit"
)

func TestVideoGrantDefaults(t *testing.T) {
	tr, fa := BoolPtr(true), BoolPtr(false)
	tests := []struct {
		name                                      string
		grant                                     *VideoGrant
		publish, subscribe, publishData, updateMD bool
	}{
		{"nil grant grants nothing", nil, false, false, false, false},
		{"unset: publish/subscribe/data true, metadata false", &VideoGrant{}, true, true, true, false},
		{"publish false drags data along", &VideoGrant{CanPublish: fa}, false, true, false, false},
		{"publish false, data explicitly true", &VideoGrant{CanPublish: fa, CanPublishData: tr}, false, true, true, false},
		{"data false alone", &VideoGrant{CanPublishData: fa}, true, true, false, false},
		{"subscribe false", &VideoGrant{CanSubscribe: fa}, true, false, true, false},
		{"update own metadata", &VideoGrant{CanUpdateOwnMetadata: tr}, true, true, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.grant
			if got := g.GetCanPublish(); got != tc.publish {
				t.Errorf("canPublish = %v", got)
			}
			if got := g.GetCanSubscribe(); got != tc.subscribe {
				t.Errorf("canSubscribe = %v", got)
			}
			if got := g.GetCanPublishData(); got != tc.publishData {
				t.Errorf("canPublishData = %v", got)
			}
			if got := g.GetCanUpdateOwnMetadata(); got != tc.updateMD {
				t.Errorf("canUpdateOwnMetadata = %v", got)
			}
			p := g.ToParticipantPermission()
			if p.CanPublish != tc.publish || p.CanSubscribe != tc.subscribe || p.CanPublishData != tc.publishData || p.CanUpdateMetadata != tc.updateMD {
				t.Errorf("permission = %v", p)
			}
		})
	}
}

func TestPermissionSourcesAndFlags(t *testing.T) {
	g := &VideoGrant{CanPublishSources: []string{"camera", "Microphone", "bogus", "screen_share_audio"}, Hidden: true, Recorder: true}
	p := g.ToParticipantPermission()
	want := []livekit.TrackSource{livekit.TrackSource_CAMERA, livekit.TrackSource_MICROPHONE, livekit.TrackSource_SCREEN_SHARE_AUDIO}
	if !slices.Equal(p.CanPublishSources, want) {
		t.Errorf("sources = %v, want %v", p.CanPublishSources, want)
	}
	if !p.Hidden || !p.Recorder {
		t.Errorf("flags = %v", p)
	}
}

func TestCanAdminRoom(t *testing.T) {
	tests := []struct {
		grant *VideoGrant
		room  string
		want  bool
	}{
		{&VideoGrant{RoomAdmin: true, Room: "r1"}, "r1", true},
		{&VideoGrant{RoomAdmin: true, Room: "r1"}, "r2", false},
		{&VideoGrant{RoomAdmin: true}, "", false},
		{&VideoGrant{Room: "r1"}, "r1", false},
		{nil, "r1", false},
	}
	for _, tc := range tests {
		if got := tc.grant.CanAdminRoom(tc.room); got != tc.want {
			t.Errorf("%+v on %q = %v", tc.grant, tc.room, got)
		}
	}
}

func TestParticipantKind(t *testing.T) {
	tests := []struct {
		c    ClaimGrants
		want livekit.ParticipantInfo_Kind
	}{
		{ClaimGrants{}, livekit.ParticipantInfo_STANDARD},
		{ClaimGrants{Kind: "agent"}, livekit.ParticipantInfo_AGENT},
		{ClaimGrants{Kind: "sip"}, livekit.ParticipantInfo_SIP},
		{ClaimGrants{Kind: "weird"}, livekit.ParticipantInfo_STANDARD},
		{ClaimGrants{Video: &VideoGrant{Agent: true}}, livekit.ParticipantInfo_AGENT},
	}
	for _, tc := range tests {
		if got := tc.c.ParticipantKind(); got != tc.want {
			t.Errorf("%+v: kind = %v, want %v", tc.c, got, tc.want)
		}
	}
}
