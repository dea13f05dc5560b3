package actors

// RoomService.PerformRpc: the room calls a method on one participant over its reliable data
// channel, posing as a sender named by the request id, and answers the caller with the
// participant's response, its RPC error, or LiveKit's timeout codes. Acks and responses to such
// a request are consumed here, never forwarded.

import (
	"context"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"

	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// LiveKit's RPC error codes (the ones the node itself gives).
const (
	rpcErrRequestPayloadTooLarge uint32 = 1402
	rpcErrConnectionTimeout      uint32 = 1501
	rpcErrResponseTimeout        uint32 = 1502
	rpcErrRecipientDisconnected  uint32 = 1503
)

const (
	// MaxRPCPayload is the largest RPC payload LiveKit carries, in bytes.
	MaxRPCPayload = 15360
	// defaultRPCTimeout is the response timeout when the request sets none.
	defaultRPCTimeout = 10 * time.Second
	// rpcAckTimeout is how long the participant has to acknowledge a request.
	rpcAckTimeout = 2 * time.Second
)

var rpcErrorMessages = map[uint32]string{
	rpcErrRequestPayloadTooLarge: "Request payload too large",
	rpcErrConnectionTimeout:      "Connection timeout",
	rpcErrResponseTimeout:        "Response timeout",
	rpcErrRecipientDisconnected:  "Recipient disconnected",
}

// RPCError is an RPC that failed with one of LiveKit's RPC error codes (1400–1999 for the
// protocol's own, others for the application's), either at the participant or at the node.
type RPCError struct {
	Code    uint32
	Message string
	Data    string
}

func (e *RPCError) Error() string {
	if e.Data != "" {
		return fmt.Sprintf("RpcError %d: %s: %s", e.Code, e.Message, e.Data)
	}
	return fmt.Sprintf("RpcError %d: %s", e.Code, e.Message)
}

func newRPCError(code uint32) *RPCError {
	return &RPCError{Code: code, Message: rpcErrorMessages[code]}
}

// performRPC asks a room to call a method on one of its participants (room). Reply: *rpcAnswer.
type performRPC struct{ req *livekit.PerformRpcRequest }

// rpcAnswer is a participant's successful RPC response.
type rpcAnswer struct{ payload string }

// rpcTimeout is a PerformRpc deadline: the ack's or, with ack false, the response's (room).
type rpcTimeout struct {
	id  string
	ack bool
}

// pendingRPC is a PerformRpc call waiting for the participant.
type pendingRPC struct {
	caller              *actor.PID // the Room API call's future
	identity            string     // the participant called
	acked               bool
	ackTimer, respTimer *time.Timer
}

// performRPC sends the request to the participant and arms its two deadlines.
func (r *roomActor) performRPC(ctx actor.Context, req *livekit.PerformRpcRequest) {
	p := r.member(ctx, req.GetDestinationIdentity())
	if p == nil {
		return
	}
	if len(req.GetPayload()) > MaxRPCPayload {
		ctx.Respond(&replyError{newRPCError(rpcErrRequestPayloadTooLarge)})
		return
	}
	timeout := time.Duration(req.GetResponseTimeoutMs()) * time.Millisecond
	if timeout <= 0 {
		timeout = defaultRPCTimeout
	}
	id := uuid.NewString()
	msg, err := encodeData(&livekit.DataPacket{
		Kind:                  livekit.DataPacket_RELIABLE,
		ParticipantIdentity:   id, // the client answers to the sender: to this call
		DestinationIdentities: []string{p.info.GetIdentity()},
		Value: &livekit.DataPacket_RpcRequest{RpcRequest: &livekit.RpcRequest{
			Id: id, Method: req.GetMethod(), Payload: req.GetPayload(),
			ResponseTimeoutMs: uint32(timeout.Milliseconds()), Version: 1,
		}},
	})
	if err != nil {
		ctx.Respond(&replyError{fmt.Errorf("rpc to %q: %w", p.info.GetIdentity(), err)})
		return
	}
	if r.rpcs == nil {
		r.rpcs = map[string]*pendingRPC{}
	}
	r.rpcs[id] = &pendingRPC{
		caller:    ctx.Sender(),
		identity:  p.info.GetIdentity(),
		ackTimer:  sendAfter(ctx, rpcAckTimeout, &rpcTimeout{id: id, ack: true}),
		respTimer: sendAfter(ctx, timeout, &rpcTimeout{id: id}),
	}
	ctx.Send(p.pid, &deliverData{kind: msg.kind, data: msg.data})
}

// rpcAnswered consumes a participant's ack or response to a pending PerformRpc call; it reports
// whether the packet was one.
func (r *roomActor) rpcAnswered(ctx actor.Context, m *dataFrom) bool {
	if m.rpcAck == "" && m.rpcResponse == nil {
		return false
	}
	id := m.rpcAck
	if m.rpcResponse != nil {
		id = m.rpcResponse.GetRequestId()
	}
	call := r.rpcs[id]
	if call == nil || call.identity != m.senderIdentity {
		return false // between participants, or not for a call of ours: forwarded as sent
	}
	if m.rpcAck != "" {
		call.acked = true
		call.ackTimer.Stop()
		return true
	}
	if e := m.rpcResponse.GetError(); e != nil {
		r.finishRPC(ctx, id, &replyError{&RPCError{Code: e.GetCode(), Message: e.GetMessage(), Data: e.GetData()}})
	} else {
		r.finishRPC(ctx, id, &rpcAnswer{payload: m.rpcResponse.GetPayload()})
	}
	return true
}

// rpcTimedOut fails a call whose ack or response did not come in time.
func (r *roomActor) rpcTimedOut(ctx actor.Context, m *rpcTimeout) {
	call := r.rpcs[m.id]
	switch {
	case call == nil:
	case m.ack && !call.acked:
		r.finishRPC(ctx, m.id, &replyError{newRPCError(rpcErrConnectionTimeout)})
	case !m.ack:
		r.finishRPC(ctx, m.id, &replyError{newRPCError(rpcErrResponseTimeout)})
	}
}

// failRPCs fails the pending calls to identity (all of them when it is empty) with code.
func (r *roomActor) failRPCs(ctx actor.Context, identity string, code uint32) {
	for id, call := range r.rpcs {
		if identity == "" || call.identity == identity {
			r.finishRPC(ctx, id, &replyError{newRPCError(code)})
		}
	}
}

// finishRPC answers a call's caller and forgets the call.
func (r *roomActor) finishRPC(ctx actor.Context, id string, reply any) {
	call := r.rpcs[id]
	delete(r.rpcs, id)
	call.ackTimer.Stop()
	call.respTimer.Stop()
	if call.caller != nil {
		ctx.Send(call.caller, reply)
	}
}

// PerformRpc calls method on a participant and returns its response payload. A failed call
// returns an *RPCError with LiveKit's code (a timeout, the participant's own error, its leaving),
// or ErrRoomNotFound / ErrParticipantNotFound.
func (n *Node) PerformRpc(ctx context.Context, req *livekit.PerformRpcRequest) (string, error) {
	if req.GetDestinationIdentity() == "" {
		return "", fmt.Errorf("destination identity is required: %w", ErrInvalidArgument)
	}
	timeout := time.Duration(req.GetResponseTimeoutMs()) * time.Millisecond
	if timeout <= 0 {
		timeout = defaultRPCTimeout
	}
	// The room answers by its own deadlines; this one only outlives them.
	ctx, cancel := context.WithTimeout(ctx, timeout+n.cfg.RequestTimeout)
	defer cancel()
	res, err := askRoomFor[*rpcAnswer](ctx, n, req.GetRoom(), &performRPC{req: req})
	if err != nil {
		return "", err
	}
	return res.payload, nil
}
