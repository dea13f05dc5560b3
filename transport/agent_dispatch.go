package transport

import (
	"context"
	"errors"
	"net/http"

	"github.com/twitchtv/twirp"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// agentDispatchService implements the Twirp AgentDispatchService. Every method needs roomAdmin on
// the request's room, as LiveKit's does.
type agentDispatchService struct {
	s *Server
}

var _ livekit.AgentDispatchService = (*agentDispatchService)(nil)

// agentDispatchHandler returns the Twirp handler wrapped in token verification.
func (s *Server) agentDispatchHandler() http.Handler {
	ts := livekit.NewAgentDispatchServiceServer(&agentDispatchService{s: s},
		twirp.WithServerJSONCamelCaseNames(true),
		twirp.WithServerHooks(&twirp.ServerHooks{
			Error: func(ctx context.Context, err twirp.Error) context.Context {
				method, _ := twirp.MethodName(ctx)
				s.log.Debug("agent dispatch call refused", "method", method, "code", err.Code(), "msg", err.Msg())
				return ctx
			},
		}),
	)
	return s.withTwirpAuth(ts)
}

// CreateDispatch dispatches an agent into a room.
func (d *agentDispatchService) CreateDispatch(ctx context.Context, req *livekit.CreateAgentDispatchRequest) (*livekit.AgentDispatch, error) {
	if err := d.check(ctx, req.GetRoom()); err != nil {
		return nil, err
	}
	out, err := d.s.agents.CreateAgentDispatch(ctx, req)
	if err != nil {
		return nil, dispatchError(err)
	}
	return out, nil
}

// DeleteDispatch deletes a dispatch and terminates its jobs.
func (d *agentDispatchService) DeleteDispatch(ctx context.Context, req *livekit.DeleteAgentDispatchRequest) (*livekit.AgentDispatch, error) {
	if err := d.check(ctx, req.GetRoom()); err != nil {
		return nil, err
	}
	out, err := d.s.agents.DeleteAgentDispatch(ctx, req.GetRoom(), req.GetDispatchId())
	if err != nil {
		return nil, dispatchError(err)
	}
	return out, nil
}

// ListDispatch lists a room's dispatches (or the one named by dispatch_id).
func (d *agentDispatchService) ListDispatch(ctx context.Context, req *livekit.ListAgentDispatchRequest) (*livekit.ListAgentDispatchResponse, error) {
	if err := d.check(ctx, req.GetRoom()); err != nil {
		return nil, err
	}
	out, err := d.s.agents.ListAgentDispatch(ctx, req.GetRoom(), req.GetDispatchId())
	if err != nil {
		return nil, dispatchError(err)
	}
	return &livekit.ListAgentDispatchResponse{AgentDispatches: out}, nil
}

// check verifies the roomAdmin grant and the room name.
func (d *agentDispatchService) check(ctx context.Context, room string) error {
	if err := requireAdmin(ctx, room); err != nil {
		return err
	}
	return d.s.cfg.checkNamesTwirp(nameCheck{roomName, room, true})
}

// dispatchError maps node errors to Twirp codes; an unknown dispatch is not_found.
func dispatchError(err error) error {
	if errors.Is(err, actors.ErrDispatchNotFound) {
		return twirp.WrapError(twirp.NotFoundError(actors.ErrDispatchNotFound.Error()), err)
	}
	return twirpError(err)
}
