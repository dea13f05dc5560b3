package transport

// Refresh tokens: the edge holds the API keys, so it hands each participant a function that
// re-signs its token with the key the client's token was signed by (actors.TokenMinter).

import (
	"fmt"
	"strings"
	"time"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/transport/auth"
)

// tokenMinter returns the refresh-token signer for a participant whose token carried grants. The
// refreshed token keeps the original video grant's room-level fields and takes the participant's
// current permission, identity, name, kind, metadata and attributes.
func (s *Server) tokenMinter(grants *auth.ClaimGrants) actors.TokenMinter {
	apiKey := grants.APIKey
	base := *grants.Video // copied: the closure outlives the request
	return func(c actors.TokenClaims, validFor time.Duration) (string, error) {
		at, err := s.verifier.NewAccessToken(apiKey)
		if err != nil {
			return "", fmt.Errorf("refresh token for %q: %w", c.Identity, err)
		}
		grant := grantWithPermission(base, c.Room, c.Permission)
		tok, err := at.SetIdentity(c.Identity).SetName(c.Name).SetMetadata(c.Metadata).
			SetAttributes(c.Attributes).SetKind(kindClaim(c.Kind)).SetVideoGrant(grant).
			SetValidFor(validFor).ToJWT()
		if err != nil {
			return "", fmt.Errorf("refresh token for %q: %w", c.Identity, err)
		}
		return tok, nil
	}
}

// grantWithPermission is base with its participant permissions replaced by perm.
func grantWithPermission(base auth.VideoGrant, room string, perm *livekit.ParticipantPermission) *auth.VideoGrant {
	g := base
	g.RoomJoin, g.Room = true, room
	if perm == nil {
		return &g
	}
	g.CanPublish = auth.BoolPtr(perm.GetCanPublish())
	g.CanSubscribe = auth.BoolPtr(perm.GetCanSubscribe())
	g.CanPublishData = auth.BoolPtr(perm.GetCanPublishData())
	g.CanUpdateOwnMetadata = auth.BoolPtr(perm.GetCanUpdateMetadata())
	g.CanSubscribeMetrics = auth.BoolPtr(perm.GetCanSubscribeMetrics())
	g.CanManageAgentSession = auth.BoolPtr(perm.GetCanManageAgentSession())
	g.Hidden, g.Recorder, g.Agent = perm.GetHidden(), perm.GetRecorder(), perm.GetAgent()
	g.CanPublishSources = nil
	for _, src := range perm.GetCanPublishSources() {
		g.CanPublishSources = append(g.CanPublishSources, strings.ToLower(src.String()))
	}
	return &g
}

// kindClaim is the token's kind claim for a participant kind: the enum name in lower case.
func kindClaim(k livekit.ParticipantInfo_Kind) string {
	if k == livekit.ParticipantInfo_STANDARD {
		return ""
	}
	return strings.ToLower(k.String())
}
