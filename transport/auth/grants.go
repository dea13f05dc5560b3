// Package auth reads and writes LiveKit access tokens: JWTs signed with HS256 by an API secret, whose
// issuer is the API key, whose subject is the participant identity, and whose custom claims carry a
// video grant (what the bearer may do) plus the participant's name, metadata and attributes.
package auth

import (
	"strings"
	"time"

	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// VideoGrant is the `video` claim of an access token. JSON names and "unset" defaults follow LiveKit:
// the *bool fields distinguish "absent" from "false" because several of them default to true.
type VideoGrant struct {
	// RoomCreate allows CreateRoom and DeleteRoom.
	RoomCreate bool `json:"roomCreate,omitempty"`
	// RoomList allows ListRooms.
	RoomList bool `json:"roomList,omitempty"`
	// RoomRecord allows egress (not served by this node).
	RoomRecord bool `json:"roomRecord,omitempty"`
	// RoomAdmin allows the per-room Room API calls on Room.
	RoomAdmin bool `json:"roomAdmin,omitempty"`
	// RoomJoin is required to connect to Room.
	RoomJoin bool `json:"roomJoin,omitempty"`
	// Room names the room the grant applies to.
	Room string `json:"room,omitempty"`

	// CanPublish defaults to true.
	CanPublish *bool `json:"canPublish,omitempty"`
	// CanSubscribe defaults to true.
	CanSubscribe *bool `json:"canSubscribe,omitempty"`
	// CanPublishData defaults to the value of CanPublish.
	CanPublishData *bool `json:"canPublishData,omitempty"`
	// CanPublishSources restricts publishing to these sources (camera, microphone, screen_share,
	// screen_share_audio); empty means any source.
	CanPublishSources []string `json:"canPublishSources,omitempty"`
	// CanUpdateOwnMetadata defaults to false.
	CanUpdateOwnMetadata *bool `json:"canUpdateOwnMetadata,omitempty"`
	// IngressAdmin allows the ingress API (not served by this node).
	IngressAdmin bool `json:"ingressAdmin,omitempty"`
	// Hidden keeps the participant out of other participants' views.
	Hidden bool `json:"hidden,omitempty"`
	// Recorder marks a recording participant.
	Recorder bool `json:"recorder,omitempty"`
	// Agent marks an agent participant.
	Agent bool `json:"agent,omitempty"`
	// CanSubscribeMetrics defaults to false.
	CanSubscribeMetrics *bool `json:"canSubscribeMetrics,omitempty"`
	// CanManageAgentSession defaults to false.
	CanManageAgentSession *bool `json:"canManageAgentSession,omitempty"`
	// DestinationRoom is used by Move/ForwardParticipant.
	DestinationRoom string `json:"destinationRoom,omitempty"`
}

// ClaimGrants is what a verified token grants its bearer.
type ClaimGrants struct {
	// Identity is the token's sub claim (or jti when sub is empty). Empty for service tokens.
	Identity string `json:"-"`
	// APIKey is the issuer (iss) the token was verified against.
	APIKey string `json:"-"`
	// Expires is the token's exp (set by Verify).
	Expires time.Time `json:"-"`
	// Name is the participant's display name.
	Name string `json:"name,omitempty"`
	// Kind is the participant kind in lower case: standard, ingress, egress, sip, agent.
	Kind string `json:"kind,omitempty"`
	// Video is the video grant; nil when the token has none.
	Video *VideoGrant `json:"video,omitempty"`
	// Metadata is the participant's initial metadata.
	Metadata string `json:"metadata,omitempty"`
	// Attributes are the participant's initial attributes.
	Attributes map[string]string `json:"attributes,omitempty"`
	// Sha256 is the hash of a webhook body, when the token signs one.
	Sha256 string `json:"sha256,omitempty"`
}

// BoolPtr returns a pointer to b, for filling the *bool fields of VideoGrant.
func BoolPtr(b bool) *bool { return &b }

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

// GetCanPublish reports canPublish (default true).
func (g *VideoGrant) GetCanPublish() bool { return g != nil && boolOr(g.CanPublish, true) }

// GetCanSubscribe reports canSubscribe (default true).
func (g *VideoGrant) GetCanSubscribe() bool { return g != nil && boolOr(g.CanSubscribe, true) }

// GetCanPublishData reports canPublishData (default: the value of canPublish).
func (g *VideoGrant) GetCanPublishData() bool {
	return g != nil && boolOr(g.CanPublishData, g.GetCanPublish())
}

// GetCanUpdateOwnMetadata reports canUpdateOwnMetadata (default false).
func (g *VideoGrant) GetCanUpdateOwnMetadata() bool {
	return g != nil && boolOr(g.CanUpdateOwnMetadata, false)
}

// CanAdminRoom reports whether the grant gives admin rights on room.
func (g *VideoGrant) CanAdminRoom(room string) bool {
	return g != nil && g.RoomAdmin && room != "" && g.Room == room
}

// trackSourceNames maps the lower-case names used in tokens to the proto enum.
var trackSourceNames = map[string]livekit.TrackSource{
	"camera":             livekit.TrackSource_CAMERA,
	"microphone":         livekit.TrackSource_MICROPHONE,
	"screen_share":       livekit.TrackSource_SCREEN_SHARE,
	"screen_share_audio": livekit.TrackSource_SCREEN_SHARE_AUDIO,
}

// TrackSources converts CanPublishSources to proto values, skipping names it does not know.
func (g *VideoGrant) TrackSources() []livekit.TrackSource {
	if g == nil || len(g.CanPublishSources) == 0 {
		return nil
	}
	out := make([]livekit.TrackSource, 0, len(g.CanPublishSources))
	for _, s := range g.CanPublishSources {
		if ts, ok := trackSourceNames[strings.ToLower(s)]; ok {
			out = append(out, ts)
		}
	}
	return out
}

// ToParticipantPermission turns the grant into the permission a participant starts with. A nil
// grant grants nothing.
func (g *VideoGrant) ToParticipantPermission() *livekit.ParticipantPermission {
	if g == nil {
		return &livekit.ParticipantPermission{}
	}
	return &livekit.ParticipantPermission{
		CanPublish:            g.GetCanPublish(),
		CanSubscribe:          g.GetCanSubscribe(),
		CanPublishData:        g.GetCanPublishData(),
		CanPublishSources:     g.TrackSources(),
		CanUpdateMetadata:     g.GetCanUpdateOwnMetadata(),
		Hidden:                g.Hidden,
		Recorder:              g.Recorder,
		Agent:                 g.Agent,
		CanSubscribeMetrics:   boolOr(g.CanSubscribeMetrics, false),
		CanManageAgentSession: boolOr(g.CanManageAgentSession, false),
	}
}

// ToParticipantPermission returns the permission of the token's video grant.
func (c *ClaimGrants) ToParticipantPermission() *livekit.ParticipantPermission {
	return c.Video.ToParticipantPermission()
}

// participantKinds maps the lower-case kind claim to the proto enum.
var participantKinds = map[string]livekit.ParticipantInfo_Kind{
	"":          livekit.ParticipantInfo_STANDARD,
	"standard":  livekit.ParticipantInfo_STANDARD,
	"ingress":   livekit.ParticipantInfo_INGRESS,
	"egress":    livekit.ParticipantInfo_EGRESS,
	"sip":       livekit.ParticipantInfo_SIP,
	"agent":     livekit.ParticipantInfo_AGENT,
	"connector": livekit.ParticipantInfo_CONNECTOR,
	"bridge":    livekit.ParticipantInfo_BRIDGE,
}

// ParticipantKind converts the kind claim; unknown kinds are STANDARD. A video grant with agent set
// also makes an AGENT (older tokens mark agents that way).
func (c *ClaimGrants) ParticipantKind() livekit.ParticipantInfo_Kind {
	k, ok := participantKinds[strings.ToLower(c.Kind)]
	if !ok {
		k = livekit.ParticipantInfo_STANDARD
	}
	if k == livekit.ParticipantInfo_STANDARD && c.Video != nil && c.Video.Agent {
		k = livekit.ParticipantInfo_AGENT
	}
	return k
}
