package transport

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/twitchtv/twirp"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/transport/auth"
)

// roomService implements the Twirp RoomService on top of the node. Every method checks the caller's
// grant first (roomCreate for CreateRoom and DeleteRoom, roomList for ListRooms, roomAdmin on the
// named room for the others), then validates its input, then makes one actor request (bounded by
// the node's request timeout) and maps actor errors to Twirp codes (errors.go).
//
// Authorization codes, as LiveKit answers them: no token, or a token that does not verify →
// unauthenticated (401); a valid token without the needed grant → unauthenticated (401) with
// LiveKit's text "permissions denied" (its service wraps every Ensure*Permission failure so).
type roomService struct {
	s *Server
}

var _ livekit.RoomService = (*roomService)(nil)

// roomServiceHandler returns the Twirp handler wrapped in token verification.
func (s *Server) roomServiceHandler() http.Handler {
	hooks := &twirp.ServerHooks{
		RequestReceived: func(ctx context.Context) (context.Context, error) {
			return context.WithValue(ctx, apiCallKey{}, &apiCall{}), nil
		},
		ResponseSent: s.reportAPICall,
		Error: func(ctx context.Context, err twirp.Error) context.Context {
			if c, ok := ctx.Value(apiCallKey{}).(*apiCall); ok {
				c.code = err.Code()
			}
			method, _ := twirp.MethodName(ctx)
			if err.Code() == twirp.Internal {
				s.log.Error("room API call failed", "method", method, "err", err)
			} else {
				s.log.Debug("room API call refused", "method", method, "code", err.Code(), "msg", err.Msg())
			}
			return ctx
		},
	}
	ts := livekit.NewRoomServiceServer(&roomService{s: s},
		twirp.WithServerHooks(hooks),
		twirp.WithServerJSONCamelCaseNames(true),
	)
	return s.withTwirpAuth(ts)
}

// apiCall carries one Room API call's error code from the Error hook to ResponseSent.
type apiCall struct{ code twirp.ErrorCode }

type apiCallKey struct{}

// reportAPICall tells the observer how a Room API call ended, in the terms of LiveKit's
// livekit_node_twirp_request_status: service, method, status family ("4xx", "5xx", else the
// status itself) and Twirp code ("" on success). Calls refused before Twirp (no or bad token,
// oversized body) are not reported, as in LiveKit, whose auth middleware also runs first.
func (s *Server) reportAPICall(ctx context.Context) {
	if s.cfg.Observer == nil {
		return
	}
	service, _ := twirp.ServiceName(ctx)
	method, _ := twirp.MethodName(ctx)
	status, _ := twirp.StatusCode(ctx)
	family := status
	if n, err := strconv.Atoi(status); err == nil && n >= 400 && n < 600 {
		family = strconv.Itoa(n/100) + "xx"
	}
	var code twirp.ErrorCode
	if c, ok := ctx.Value(apiCallKey{}).(*apiCall); ok {
		code = c.code
	}
	s.cfg.Observer.RoomAPIRequest(service, method, family, string(code))
}

// grant returns the caller's grants or an unauthenticated error.
func grant(ctx context.Context) (*auth.ClaimGrants, error) {
	g, ok := grantsFrom(ctx)
	if !ok {
		return nil, twirp.Unauthenticated.Error("missing access token")
	}
	return g, nil
}

// errPermissionDenied is LiveKit's answer to a valid token lacking a grant: Twirp unauthenticated
// (HTTP 401) with the text "permissions denied"; the grant that was needed rides in the error's
// metadata, which LiveKit's clients ignore.
func errPermissionDenied(needed string) twirp.Error {
	return twirp.Unauthenticated.Error("permissions denied").WithMeta("needed_grant", needed)
}

func requireCreate(ctx context.Context) error {
	g, err := grant(ctx)
	if err != nil {
		return err
	}
	if g.Video == nil || !g.Video.RoomCreate {
		return errPermissionDenied("roomCreate")
	}
	return nil
}

func requireList(ctx context.Context) error {
	g, err := grant(ctx)
	if err != nil {
		return err
	}
	if g.Video == nil || !g.Video.RoomList {
		return errPermissionDenied("roomList")
	}
	return nil
}

// requireAdmin checks roomAdmin on exactly room.
func requireAdmin(ctx context.Context, room string) error {
	g, err := grant(ctx)
	if err != nil {
		return err
	}
	if room == "" {
		return twirp.RequiredArgumentError("room")
	}
	if !g.Video.CanAdminRoom(room) {
		return errPermissionDenied("roomAdmin on this room")
	}
	return nil
}

// checkRoomName checks a required room name.
func (rs *roomService) checkRoomName(name string) error {
	return rs.s.cfg.checkNamesTwirp(nameCheck{roomName, name, true})
}

// checkIdentity checks a required participant identity.
func (rs *roomService) checkIdentity(identity string) error {
	return rs.s.cfg.checkNamesTwirp(nameCheck{identityName, identity, true})
}

// CreateRoom creates a room or returns the existing one of that name.
func (rs *roomService) CreateRoom(ctx context.Context, req *livekit.CreateRoomRequest) (*livekit.Room, error) {
	if err := requireCreate(ctx); err != nil {
		return nil, err
	}
	if err := rs.checkRoomName(req.GetName()); err != nil {
		return nil, err
	}
	room, err := rs.s.node.CreateRoom(ctx, req)
	if err != nil {
		return nil, twirpError(err)
	}
	return room, nil
}

// ListRooms lists rooms, filtered by name when names are given.
func (rs *roomService) ListRooms(ctx context.Context, req *livekit.ListRoomsRequest) (*livekit.ListRoomsResponse, error) {
	if err := requireList(ctx); err != nil {
		return nil, err
	}
	rooms, err := rs.s.node.ListRooms(ctx, req.GetNames())
	if err != nil {
		return nil, twirpError(err)
	}
	return &livekit.ListRoomsResponse{Rooms: rooms}, nil
}

// DeleteRoom closes a room and disconnects its participants.
func (rs *roomService) DeleteRoom(ctx context.Context, req *livekit.DeleteRoomRequest) (*livekit.DeleteRoomResponse, error) {
	if err := requireCreate(ctx); err != nil {
		return nil, err
	}
	if err := rs.checkRoomName(req.GetRoom()); err != nil {
		return nil, err
	}
	if err := rs.s.node.DeleteRoom(ctx, req.GetRoom()); err != nil {
		return nil, twirpError(err)
	}
	return &livekit.DeleteRoomResponse{}, nil
}

// ListParticipants lists a room's participants.
func (rs *roomService) ListParticipants(ctx context.Context, req *livekit.ListParticipantsRequest) (*livekit.ListParticipantsResponse, error) {
	if err := requireAdmin(ctx, req.GetRoom()); err != nil {
		return nil, err
	}
	ps, err := rs.s.node.ListParticipants(ctx, req.GetRoom())
	if err != nil {
		return nil, twirpError(err)
	}
	return &livekit.ListParticipantsResponse{Participants: ps}, nil
}

// GetParticipant returns one participant.
func (rs *roomService) GetParticipant(ctx context.Context, req *livekit.RoomParticipantIdentity) (*livekit.ParticipantInfo, error) {
	if err := requireAdmin(ctx, req.GetRoom()); err != nil {
		return nil, err
	}
	if err := rs.checkIdentity(req.GetIdentity()); err != nil {
		return nil, err
	}
	p, err := rs.s.node.GetParticipant(ctx, req.GetRoom(), req.GetIdentity())
	if err != nil {
		return nil, twirpError(err)
	}
	return p, nil
}

// RemoveParticipant disconnects a participant.
func (rs *roomService) RemoveParticipant(ctx context.Context, req *livekit.RoomParticipantIdentity) (*livekit.RemoveParticipantResponse, error) {
	if err := requireAdmin(ctx, req.GetRoom()); err != nil {
		return nil, err
	}
	if err := rs.checkIdentity(req.GetIdentity()); err != nil {
		return nil, err
	}
	if err := rs.s.node.RemoveParticipant(ctx, req.GetRoom(), req.GetIdentity()); err != nil {
		return nil, twirpError(err)
	}
	return &livekit.RemoveParticipantResponse{}, nil
}

// MutePublishedTrack mutes (or, when the node allows it, unmutes) a published track.
func (rs *roomService) MutePublishedTrack(ctx context.Context, req *livekit.MuteRoomTrackRequest) (*livekit.MuteRoomTrackResponse, error) {
	if err := requireAdmin(ctx, req.GetRoom()); err != nil {
		return nil, err
	}
	if err := rs.checkIdentity(req.GetIdentity()); err != nil {
		return nil, err
	}
	if req.GetTrackSid() == "" {
		return nil, twirp.RequiredArgumentError("track_sid")
	}
	track, err := rs.s.node.MutePublishedTrack(ctx, req)
	if err != nil {
		return nil, twirpError(err)
	}
	return &livekit.MuteRoomTrackResponse{Track: track}, nil
}

// UpdateParticipant changes a participant's metadata, name, attributes or permission.
func (rs *roomService) UpdateParticipant(ctx context.Context, req *livekit.UpdateParticipantRequest) (*livekit.ParticipantInfo, error) {
	if err := requireAdmin(ctx, req.GetRoom()); err != nil {
		return nil, err
	}
	// The identity must be given; a new name (optional) is held to the name limit.
	if err := rs.s.cfg.checkNamesTwirp(
		nameCheck{identityName, req.GetIdentity(), true},
		nameCheck{displayName, req.GetName(), false},
	); err != nil {
		return nil, err
	}
	p, err := rs.s.node.UpdateParticipant(ctx, req)
	if err != nil {
		return nil, twirpError(err)
	}
	return p, nil
}

// UpdateSubscriptions subscribes or unsubscribes a participant to tracks.
func (rs *roomService) UpdateSubscriptions(ctx context.Context, req *livekit.UpdateSubscriptionsRequest) (*livekit.UpdateSubscriptionsResponse, error) {
	if err := requireAdmin(ctx, req.GetRoom()); err != nil {
		return nil, err
	}
	if err := rs.checkIdentity(req.GetIdentity()); err != nil {
		return nil, err
	}
	if err := rs.s.node.UpdateSubscriptions(ctx, req); err != nil {
		return nil, twirpError(err)
	}
	return &livekit.UpdateSubscriptionsResponse{}, nil
}

// SendData sends a server data packet to a room or to some of its participants.
func (rs *roomService) SendData(ctx context.Context, req *livekit.SendDataRequest) (*livekit.SendDataResponse, error) {
	if err := requireAdmin(ctx, req.GetRoom()); err != nil {
		return nil, err
	}
	if err := rs.s.node.SendData(ctx, req); err != nil {
		return nil, twirpError(err)
	}
	return &livekit.SendDataResponse{}, nil
}

// UpdateRoomMetadata sets a room's metadata and tells its participants.
func (rs *roomService) UpdateRoomMetadata(ctx context.Context, req *livekit.UpdateRoomMetadataRequest) (*livekit.Room, error) {
	if err := requireAdmin(ctx, req.GetRoom()); err != nil {
		return nil, err
	}
	room, err := rs.s.node.UpdateRoomMetadata(ctx, req.GetRoom(), req.GetMetadata())
	if err != nil {
		return nil, twirpError(err)
	}
	return room, nil
}

// PerformRpc calls a method on a participant and returns its answer. RPC failures carry LiveKit's
// Twirp code for their RPC error code and the text "RpcError <code>: <message>".
func (rs *roomService) PerformRpc(ctx context.Context, req *livekit.PerformRpcRequest) (*livekit.PerformRpcResponse, error) {
	if err := requireAdmin(ctx, req.GetRoom()); err != nil {
		return nil, err
	}
	if req.GetDestinationIdentity() == "" {
		return nil, twirp.InvalidArgument.Error("destination identity is required")
	}
	payload, err := rs.s.node.PerformRpc(ctx, req)
	if err != nil {
		var rpcErr *actors.RPCError
		if errors.As(err, &rpcErr) {
			return nil, twirp.NewError(rpcTwirpCode(rpcErr.Code), rpcErr.Error())
		}
		return nil, twirpError(err)
	}
	return &livekit.PerformRpcResponse{Payload: payload}, nil
}

// rpcTwirpCode is the Twirp code LiveKit answers an RPC error code with.
func rpcTwirpCode(code uint32) twirp.ErrorCode {
	switch code {
	case 1501, 1502: // connection timeout, response timeout
		return twirp.Canceled
	case 1503: // recipient disconnected
		return twirp.Unavailable
	case 1402, 1504: // request or response payload too large
		return twirp.Malformed
	case 1400: // unsupported method
		return twirp.InvalidArgument
	case 1401: // recipient not found
		return twirp.NotFound
	case 1403, 1404: // unsupported server, unsupported version
		return twirp.Unimplemented
	}
	return twirp.Internal // 1500 application error, 1505 send failed, and any other
}
