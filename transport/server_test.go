package transport

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestRoutes(t *testing.T) {
	node := newFakeNode()
	srv := startServer(t, ServerConfig{}, node)
	tests := []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/", 200, "OK"},
		{"GET", "/nope", 404, ""},
		{"POST", "/", 404, ""},
		{"GET", "/rtc/v1", 400, "join_request is required"},
		{"GET", "/rtc/v1/validate?access_token=x", 400, "join_request is required"},
		{"GET", "/rtc", 401, "permissions denied"},
		{"GET", "/rtc/validate", 401, "permissions denied"},
		{"GET", "/debug/", 200, "<html"},
		{"GET", "/debug/actors", 200, "[]"},
		{"GET", "/metrics", 404, ""},
		{"GET", "/twirp/livekit.RoomService/ListRooms", 404, "bad_route"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			req.Header.Set("Origin", "http://example.com")
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.status {
				t.Errorf("status = %d, want %d (body %q)", res.StatusCode, tc.status, body)
			}
			if !strings.Contains(string(body), tc.body) {
				t.Errorf("body %q lacks %q", body, tc.body)
			}
			if got := res.Header.Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("Access-Control-Allow-Origin = %q", got)
			}
		})
	}
}

func TestCORSPreflight(t *testing.T) {
	srv := startServer(t, ServerConfig{}, newFakeNode())
	for _, path := range []string{"/rtc/validate", "/rtc/v1/validate", "/twirp/livekit.RoomService/CreateRoom", "/"} {
		req, _ := http.NewRequest(http.MethodOptions, srv.URL+path, nil)
		req.Header.Set("Origin", "http://app.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNoContent {
			t.Errorf("%s: status %d", path, res.StatusCode)
		}
		h := res.Header
		if h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Access-Control-Allow-Methods") != "POST" ||
			h.Get("Access-Control-Allow-Headers") != "authorization, content-type" {
			t.Errorf("%s: headers %v", path, h)
		}
	}
}

func TestMetricsHook(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "lk_up 1\n") })
	srv := startServer(t, ServerConfig{Metrics: metrics, Debug: DebugOff}, newFakeNode())
	for path, want := range map[string]int{"/metrics": 200, "/debug/actors": 404} {
		res, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("%s: status %d, want %d", path, res.StatusCode, want)
		}
	}
}
