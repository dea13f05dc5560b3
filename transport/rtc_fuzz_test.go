package transport

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/actor-sfu/livekit-server/transport/auth"
)

// FuzzAdmit runs the /rtc admission (token lookup, grant checks, query parsing, attributes) on
// arbitrary query strings and Authorization headers. It must answer with a join request or an HTTP
// error, never panic, and an admitted request must respect every name limit.
func FuzzAdmit(f *testing.F) {
	good, err := auth.NewAccessToken("devkey", "secret").SetIdentity("alice").
		SetVideoGrant(&auth.VideoGrant{RoomJoin: true, Room: "r1", CanUpdateOwnMetadata: ptr(true)}).SetValidFor(time.Hour).ToJWT()
	if err != nil {
		f.Fatal(err)
	}
	f.Add("access_token="+good+"&auto_subscribe=1&sdk=js&version=2.23.0&protocol=17", "")
	f.Add("version=2.19.0&protocol=17&&auto_subscribe=0&sdk=go&os=linux&attributes=eyJhIjoiYiJ9", "Bearer "+good)
	f.Add("reconnect=1&sid=PA_x&reconnect_reason=3&protocol=99999999999", "Bearer "+good)
	f.Add("attributes=%%%&sdk=unity-web", "Bearer "+good)
	f.Add("attributes=W10", "Bearer "+good) // a JSON array, not an object
	f.Add("access_token=a.b.c", "")
	f.Add("", "Basic Zm9vOmJhcg==")
	f.Add("access_token="+good, "Bearer ")

	s := newServer(ServerConfig{}, newFakeNode(), testKeys, testLogger())
	f.Fuzz(func(t *testing.T, rawQuery, authz string) {
		r := httptest.NewRequest("GET", "/rtc", nil)
		r.URL.RawQuery = rawQuery
		r.RemoteAddr = "127.0.0.1:1"
		if authz != "" {
			r.Header["Authorization"] = []string{authz}
		}
		req, herr := s.admit(r)
		if herr != nil {
			if herr.status < 400 || herr.status > 599 || herr.msg == "" {
				t.Fatalf("bad refusal %d %q", herr.status, herr.msg)
			}
			return
		}
		switch {
		case req.Identity == "" || req.Room == "":
			t.Fatalf("admitted without identity or room: %+v", req)
		case len(req.Identity) > s.cfg.MaxIdentityLength, len(req.Room) > s.cfg.MaxRoomNameLength, len(req.Name) > s.cfg.MaxNameLength:
			t.Fatalf("admitted over a name limit: %+v", req)
		case req.Permission == nil, req.Client == nil:
			t.Fatalf("admitted without permission or client info: %+v", req)
		}
	})
}

// FuzzDecodeAttributes feeds the Go SDK's attributes parameter decoder arbitrary text.
func FuzzDecodeAttributes(f *testing.F) {
	f.Add("eyJhIjoiYiJ9")
	f.Add("eyJhIjoiYiJ9==")
	f.Add(url.QueryEscape("eyJ+Ijoi/yJ9"))
	f.Add(strings.Repeat("A", 100))
	f.Fuzz(func(t *testing.T, raw string) {
		attrs, err := decodeAttributes(raw)
		if err == nil && attrs == nil {
			t.Fatal("nil attributes without an error")
		}
	})
}

func ptr[T any](v T) *T { return &v }
