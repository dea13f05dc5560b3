package transport_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport"
	"github.com/actor-sfu/livekit-server/transport/lkclient"
)

// Room API calls show in LiveKit's livekit_node_twirp_request_status, by method, status family
// and Twirp code, and signal connections in livekit_participant_join_total.
func TestRoomAPIRequestMetrics(t *testing.T) {
	metrics := transport.NewMetrics(transport.MetricsOptions{})
	node := testkit.StartNode(t, testkit.Options{Server: transport.ServerConfig{Metrics: metrics, Observer: metrics}})
	metrics.Attach(node.Node)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	api := node.RoomService(testkit.AdminToken(t, "m"))
	for range 2 {
		if _, err := api.CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "m"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := node.RoomService(testkit.AdminToken(t, "nope")).ListParticipants(ctx, &livekit.ListParticipantsRequest{Room: "nope"}); err == nil {
		t.Fatal("unknown room listed")
	}
	c, err := testkit.Join(ctx, node.WSURL, testkit.Token(t, "m", "alice", nil), lkclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	body := scrapeURL(t, node.URL+"/metrics")
	for _, re := range []string{
		`livekit_node_twirp_request_status\{code="",method="CreateRoom",node_id="ND_\w+",node_type="SERVER",service="RoomService",status="200"\} 2`,
		`livekit_node_twirp_request_status\{code="not_found",method="ListParticipants",node_id="ND_\w+",node_type="SERVER",service="RoomService",status="4xx"\} 1`,
		`livekit_participant_join_total\{node_id="ND_\w+",node_type="SERVER",state="signal_connected"\} 1`,
	} {
		if !regexp.MustCompile(`\n` + re + `\n`).MatchString(body) {
			t.Errorf("scrape lacks %s", re)
		}
	}
}
