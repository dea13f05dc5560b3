package transport

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/actor-sfu/livekit-server/actors"
)

func TestDebugActors(t *testing.T) {
	node := newFakeNode()
	node.tree = []actors.ActorInfo{
		{Path: "/node", Kind: "node"},
		{Path: "/node/rooms/r1", Kind: "room", Mailbox: 2, Stats: map[string]any{"participants": 1}},
	}
	srv := startServer(t, ServerConfig{}, node)
	res, err := srv.Client().Get(srv.URL + "/debug/actors")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var got []actors.ActorInfo
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Kind != "room" || got[1].Mailbox != 2 || got[1].Stats["participants"] != float64(1) {
		t.Errorf("got %+v", got)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
}

func TestDebugRedirect(t *testing.T) {
	srv := startServer(t, ServerConfig{}, newFakeNode())
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := c.Get(srv.URL + "/debug")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/debug/" {
		t.Errorf("%d %q", res.StatusCode, res.Header.Get("Location"))
	}
}
