package transport_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/testkit"
)

// getDebug fetches url without following redirects and returns the response with its body read.
func getDebug(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	c := &http.Client{
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	res, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", url, err)
	}
	return res, string(b)
}

// /debug/actors on a real node lists the node and a room created through the Room API, with the
// room's name and SID, as JSON that is never cached.
func TestDebugActorsOnRealNode(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	room, err := node.RoomService(testkit.AdminToken(t, "debug room")).CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "debug room"})
	if err != nil {
		t.Fatal(err)
	}

	res, body := getDebug(t, node.URL+"/debug/actors")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET /debug/actors: %d, Content-Type %q, Cache-Control %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"))
	}
	var tree []actors.ActorInfo
	if err := json.Unmarshal([]byte(body), &tree); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	byPath := map[string]actors.ActorInfo{}
	for _, a := range tree {
		byPath[a.Path] = a
	}
	if byPath["/node"].Kind != "node" || byPath["/node"].Stats["rooms"] != float64(1) {
		t.Errorf("node entry %+v", byPath["/node"])
	}
	r, found := byPath["/node/rooms/debug%20room"]
	if !found {
		t.Fatalf("room missing from %s", body)
	}
	if r.Kind != "room" || r.Stats["name"] != "debug room" || r.Stats["sid"] != room.GetSid() || r.Stats["participants"] != float64(0) {
		t.Errorf("room entry %+v, want name %q sid %q and no participants", r, "debug room", room.GetSid())
	}
}

// The page is one self-contained document: it loads nothing from elsewhere (no CDN, no
// absolute URL), polls the JSON by a relative URL, and /debug redirects to it.
func TestDebugPageOnRealNode(t *testing.T) {
	node := testkit.StartNode(t, testkit.Options{})

	res, page := getDebug(t, node.URL+"/debug/")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /debug/: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if !strings.Contains(page, `fetch("actors"`) {
		t.Error("page does not poll the relative actors URL")
	}
	external := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|@import|url\(\s*["']?(https?:)?//|https?://`)
	if m := external.FindString(page); m != "" {
		t.Errorf("page refers to something outside itself: %q", m)
	}
	for _, want := range []string{"rooms", "participants", "subscriptions", "mailbox", "quality"} {
		if !strings.Contains(page, want) {
			t.Errorf("page never mentions %q", want)
		}
	}

	res, _ = getDebug(t, node.URL+"/debug")
	if res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/debug/" {
		t.Errorf("GET /debug: %d to %q, want 301 to /debug/", res.StatusCode, res.Header.Get("Location"))
	}
}
