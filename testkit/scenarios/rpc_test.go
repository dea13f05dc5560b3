package scenarios

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twitchtv/twirp"

	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// rpcResponder answers RPC requests as the SDKs do, on the data channel: "echo" acks and answers
// with its payload and the caller it saw, "fail" acks and answers with an application error,
// "slow" acks and never answers, "mute" does not even ack, anything else is an unsupported method.
func rpcResponder(ctx context.Context, t *testing.T, self **lkclient.Client) lkclient.Handlers {
	send := func(to string, pkt *livekit.DataPacket) {
		pkt.Kind = livekit.DataPacket_RELIABLE
		pkt.DestinationIdentities = []string{to}
		if err := (*self).PublishDataPacket(ctx, pkt); err != nil {
			t.Errorf("answering an rpc: %v", err)
		}
	}
	return lkclient.Handlers{OnData: func(d *lkclient.ReceivedData) {
		req := d.Packet.GetRpcRequest()
		if req == nil || req.GetMethod() == "mute" {
			return
		}
		send(d.Identity, &livekit.DataPacket{Value: &livekit.DataPacket_RpcAck{RpcAck: &livekit.RpcAck{RequestId: req.GetId()}}})
		resp := &livekit.RpcResponse{RequestId: req.GetId()}
		switch req.GetMethod() {
		case "echo":
			resp.Value = &livekit.RpcResponse_Payload{Payload: req.GetPayload() + " from " + d.Identity}
		case "fail":
			resp.Value = &livekit.RpcResponse_Error{Error: &livekit.RpcError{Code: 1500, Message: "Application error in method handler", Data: "boom"}}
		case "slow":
			return
		default:
			resp.Value = &livekit.RpcResponse_Error{Error: &livekit.RpcError{Code: 1400, Message: "Method not supported at destination"}}
		}
		send(d.Identity, &livekit.DataPacket{Value: &livekit.DataPacket_RpcResponse{RpcResponse: resp}})
	}}
}

// requireTwirp fails unless err is a Twirp error with code whose message contains msg.
func requireTwirp(t *testing.T, what string, err error, code twirp.ErrorCode, msg string) {
	t.Helper()
	var te twirp.Error
	if !errors.As(err, &te) {
		t.Fatalf("%s: err = %v, want a twirp %s error", what, err, code)
	}
	if te.Code() != code || !strings.Contains(te.Msg(), msg) {
		t.Fatalf("%s: twirp %s %q, want %s containing %q", what, te.Code(), te.Msg(), code, msg)
	}
}

// RoomService.PerformRpc reaches the participant, which answers on its data channel; the call
// returns its payload. The participant's errors, a missing ack, a missing response, an unknown
// destination and an unknown room come back with LiveKit's codes.
func TestPerformRpc(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	node := testkit.StartNode(t, testkit.Options{})
	var alice *lkclient.Client
	alice = join(ctx, t, node, "rpc", "alice", lkclient.Options{Handlers: rpcResponder(ctx, t, &alice)})
	if err := alice.PublishData(ctx, []byte("open"), lkclient.DataOptions{Reliable: true}); err != nil {
		t.Fatal(err) // opens alice's publisher data channels, on which she answers
	}
	rs := node.RoomService(testkit.AdminToken(t, "rpc"))
	call := func(identity, method string, timeoutMs uint32) (*livekit.PerformRpcResponse, error) {
		return rs.PerformRpc(ctx, &livekit.PerformRpcRequest{
			Room: "rpc", DestinationIdentity: identity, Method: method, Payload: "hello", ResponseTimeoutMs: timeoutMs,
		})
	}

	res, err := call("alice", "echo", 0)
	if err != nil {
		t.Fatalf("PerformRpc echo: %v", err)
	}
	if !strings.HasPrefix(res.GetPayload(), "hello from ") || res.GetPayload() == "hello from " {
		t.Fatalf("payload %q, want %q followed by the request id posing as the caller", res.GetPayload(), "hello from ")
	}

	_, err = call("alice", "fail", 0)
	requireTwirp(t, "application error", err, twirp.Internal, "RpcError 1500: Application error in method handler: boom")
	_, err = call("alice", "nosuchmethod", 0)
	requireTwirp(t, "unsupported method", err, twirp.InvalidArgument, "RpcError 1400: Method not supported at destination")

	start := time.Now()
	_, err = call("alice", "slow", 1500)
	requireTwirp(t, "no response", err, twirp.Canceled, "RpcError 1502")
	if took := time.Since(start); took < 1400*time.Millisecond || took > 5*time.Second {
		t.Fatalf("response timeout of 1.5 s answered after %v", took)
	}
	start = time.Now()
	_, err = call("alice", "mute", 0)
	requireTwirp(t, "no ack", err, twirp.Canceled, "RpcError 1501")
	if took := time.Since(start); took < 1900*time.Millisecond || took > 5*time.Second {
		t.Fatalf("ack timeout of 2 s answered after %v", took)
	}

	_, err = call("nobody", "echo", 0)
	requireTwirp(t, "unknown destination", err, twirp.NotFound, "participant does not exist")
	_, err = call("", "echo", 0)
	requireTwirp(t, "no destination", err, twirp.InvalidArgument, "destination identity is required")
	_, err = rs.PerformRpc(ctx, &livekit.PerformRpcRequest{Room: "rpc", DestinationIdentity: "alice", Method: "echo", Payload: strings.Repeat("x", 15361)})
	requireTwirp(t, "payload too large", err, twirp.Malformed, "RpcError 1402")
	_, err = node.RoomService(testkit.AdminToken(t, "norpc")).PerformRpc(ctx, &livekit.PerformRpcRequest{Room: "norpc", DestinationIdentity: "alice", Method: "echo"})
	requireTwirp(t, "unknown room", err, twirp.NotFound, "requested room does not exist")

	// None of the node's requests or the answers to them leaked to anyone as data.
	for _, d := range alice.Data() {
		if d.Packet.GetRpcAck() != nil || d.Packet.GetRpcResponse() != nil {
			t.Fatalf("alice received an rpc answer meant for the node: %v", d.Packet)
		}
	}

	// The callee leaving fails the call at once with RECIPIENT_DISCONNECTED.
	errc := make(chan error, 1)
	go func() {
		_, err := call("alice", "slow", 8000)
		errc <- err
	}()
	time.Sleep(500 * time.Millisecond) // the request is acked and waiting for its response
	start = time.Now()
	if err := alice.Leave(); err != nil {
		t.Fatal(err)
	}
	requireTwirp(t, "callee left", <-errc, twirp.Unavailable, "RpcError 1503")
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("the callee's leaving failed the call only after %v", took)
	}
}

// Participant-to-participant RPC packets are forwarded to the destination only, stamped with the
// caller's identity, so that the callee's ack and response find their way back.
func TestParticipantRpcForwarded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	node := testkit.StartNode(t, testkit.Options{})
	var alice *lkclient.Client
	alice = join(ctx, t, node, "p2p-rpc", "alice", lkclient.Options{Handlers: rpcResponder(ctx, t, &alice)})
	bob := join(ctx, t, node, "p2p-rpc", "bob", lkclient.Options{})
	carol := join(ctx, t, node, "p2p-rpc", "carol", lkclient.Options{})
	if _, err := bob.WaitParticipant(ctx, "alice"); err != nil {
		t.Fatal(err)
	}

	req := &livekit.DataPacket{
		Kind: livekit.DataPacket_RELIABLE, DestinationIdentities: []string{"alice"},
		ParticipantIdentity: "mallory", // forged: the node stamps the real sender
		Value: &livekit.DataPacket_RpcRequest{RpcRequest: &livekit.RpcRequest{
			Id: "5f1a2b3c-0000-4000-8000-000000000001", Method: "echo", Payload: "hi", ResponseTimeoutMs: 8000, Version: 1,
		}},
	}
	if err := bob.PublishDataPacket(ctx, req); err != nil {
		t.Fatal(err)
	}
	ack, err := bob.WaitData(ctx, func(d *lkclient.ReceivedData) bool { return d.Packet.GetRpcAck() != nil })
	if err != nil {
		t.Fatalf("bob never got alice's ack: %v", err)
	}
	if ack.Identity != "alice" || ack.Packet.GetRpcAck().GetRequestId() != req.GetRpcRequest().GetId() {
		t.Fatalf("ack from %q for %q, want alice for %q", ack.Identity, ack.Packet.GetRpcAck().GetRequestId(), req.GetRpcRequest().GetId())
	}
	resp, err := bob.WaitData(ctx, func(d *lkclient.ReceivedData) bool { return d.Packet.GetRpcResponse() != nil })
	if err != nil {
		t.Fatalf("bob never got alice's response: %v", err)
	}
	if got := resp.Packet.GetRpcResponse().GetPayload(); got != "hi from bob" || resp.Identity != "alice" {
		t.Fatalf("response %q from %q, want %q from alice", got, resp.Identity, "hi from bob")
	}
	for _, d := range carol.Data() {
		if d.Packet.GetRpcRequest() != nil || d.Packet.GetRpcAck() != nil || d.Packet.GetRpcResponse() != nil {
			t.Fatalf("carol received rpc traffic between bob and alice: %v", d.Packet)
		}
	}
}
