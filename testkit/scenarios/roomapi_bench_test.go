package scenarios

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
)

// BenchmarkRoomAPI measures Room API round trips over real loopback HTTP with the Twirp protobuf
// client, against a baseline measured in the same run: GET / on the same server, which costs the
// HTTP round trip and nothing else. The ratio is what token verification, Twirp decoding and the
// actor request add.
//
//	go test -run '^$' -bench RoomAPI -benchtime 2000x ./testkit/scenarios/
func BenchmarkRoomAPI(b *testing.B) {
	node := testkit.StartNode(b, testkit.Options{})
	ctx := context.Background()
	client := &http.Client{}
	rs := node.RoomService(testkit.AdminToken(b, ""))

	b.Run("baseline-GET-root", func(b *testing.B) {
		for b.Loop() {
			resp, err := client.Get(node.URL + "/")
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})

	b.Run("CreateRoom+ListRooms", func(b *testing.B) {
		i := 0
		for b.Loop() {
			name := fmt.Sprintf("bench-%d", i)
			i++
			if _, err := rs.CreateRoom(ctx, &livekit.CreateRoomRequest{Name: name}); err != nil {
				b.Fatal(err)
			}
			res, err := rs.ListRooms(ctx, &livekit.ListRoomsRequest{Names: []string{name}})
			if err != nil {
				b.Fatal(err)
			}
			if len(res.GetRooms()) != 1 {
				b.Fatalf("ListRooms(%s) = %d rooms", name, len(res.GetRooms()))
			}
		}
		b.StopTimer()
		// Close every room so that the node's shutdown (and goleak) is not what is measured next.
		for j := 0; j < i; j++ {
			if _, err := rs.DeleteRoom(ctx, &livekit.DeleteRoomRequest{Room: fmt.Sprintf("bench-%d", j)}); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("ListRooms-100-open", func(b *testing.B) {
		for j := 0; j < 100; j++ {
			if _, err := rs.CreateRoom(ctx, &livekit.CreateRoomRequest{Name: fmt.Sprintf("open-%d", j)}); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		for b.Loop() {
			res, err := rs.ListRooms(ctx, &livekit.ListRoomsRequest{})
			if err != nil {
				b.Fatal(err)
			}
			if len(res.GetRooms()) != 100 {
				b.Fatalf("ListRooms = %d rooms, want 100", len(res.GetRooms()))
			}
		}
	})
}
