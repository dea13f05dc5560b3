package transport_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/actor-sfu/livekit-server/testkit"
	"github.com/actor-sfu/livekit-server/transport"
	"github.com/actor-sfu/livekit-server/transport/auth"
)

// request sends method to url with the given headers and returns the response, its body read.
func request(t *testing.T, method, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return res, b.String()
}

// serviceToken mints a token without roomJoin carrying grant.
func serviceToken(t *testing.T, g *auth.VideoGrant) string {
	t.Helper()
	tok, err := auth.NewAccessToken(testkit.APIKey, testkit.APISecret).SetVideoGrant(g).SetValidFor(time.Hour).ToJWT()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Outside --dev the debug pages want a token with roomList or roomAdmin, and neither they nor
// /metrics answer a web page on another origin: no CORS headers, no preflight answer. The rest of
// the node keeps its CORS (browsers still validate /rtc cross-origin).
func TestDebugPagesBehindToken(t *testing.T) {
	metrics := transport.NewMetrics(transport.MetricsOptions{})
	node := testkit.StartNode(t, testkit.Options{Server: transport.ServerConfig{Debug: transport.DebugToken, Metrics: metrics}})
	metrics.Attach(node.Node)
	origin := map[string]string{"Origin": "https://evil.example"}
	bearer := func(g *auth.VideoGrant) map[string]string {
		return map[string]string{"Origin": "https://evil.example", "Authorization": "Bearer " + serviceToken(t, g)}
	}
	wrongKey, err := auth.NewAccessToken(testkit.APIKey, "not-the-secret").SetVideoGrant(&auth.VideoGrant{RoomList: true}).ToJWT()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path string
		hdr        map[string]string
		want       int
	}{
		{"no token", "/debug/actors", origin, http.StatusUnauthorized},
		{"no token, page", "/debug/", origin, http.StatusUnauthorized},
		{"bad signature", "/debug/actors", map[string]string{"Authorization": "Bearer " + wrongKey}, http.StatusUnauthorized},
		{"join grant only", "/debug/actors", bearer(&auth.VideoGrant{RoomJoin: true, Room: "r"}), http.StatusForbidden},
		{"roomCreate only", "/debug/actors", bearer(&auth.VideoGrant{RoomCreate: true}), http.StatusForbidden},
		{"roomList", "/debug/actors", bearer(&auth.VideoGrant{RoomList: true}), http.StatusOK},
		{"roomAdmin", "/debug/", bearer(&auth.VideoGrant{RoomAdmin: true, Room: "r"}), http.StatusOK},
		{"query token", "/debug/actors?access_token=" + serviceToken(t, &auth.VideoGrant{RoomList: true}), origin, http.StatusOK},
		{"metrics", "/metrics", origin, http.StatusOK},
	}
	for _, c := range cases {
		res, body := request(t, http.MethodGet, node.URL+c.path, c.hdr)
		if res.StatusCode != c.want {
			t.Errorf("%s: GET %s = %d %q, want %d", c.name, c.path, res.StatusCode, body, c.want)
		}
		if got := res.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("%s: GET %s carries Access-Control-Allow-Origin %q", c.name, c.path, got)
		}
		if c.want == http.StatusOK && c.path == "/debug/actors" && !strings.Contains(body, `"/node"`) {
			t.Errorf("%s: actor tree %q lacks the node", c.name, body)
		}
	}
	for _, path := range []string{"/debug/actors", "/metrics"} {
		res, _ := request(t, http.MethodOptions, node.URL+path, map[string]string{
			"Origin": "https://evil.example", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"})
		if res.StatusCode == http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight %s: %d %v, want no CORS answer", path, res.StatusCode, res.Header)
		}
	}
	res, _ := request(t, http.MethodGet, node.URL+"/rtc/validate", origin)
	if res.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("/rtc/validate lost its CORS header: %v", res.Header)
	}
}

// DebugOff serves no debug route; DebugPublic (the zero value, --dev) keeps today's open pages
// with CORS.
func TestDebugOffAndPublic(t *testing.T) {
	off := testkit.StartNode(t, testkit.Options{Server: transport.ServerConfig{Debug: transport.DebugOff}})
	admin := map[string]string{"Authorization": "Bearer " + testkit.AdminToken(t, "r")}
	for _, path := range []string{"/debug/", "/debug/actors", "/metrics"} {
		if res, _ := request(t, http.MethodGet, off.URL+path, admin); res.StatusCode != http.StatusNotFound {
			t.Errorf("DebugOff: GET %s = %d, want 404", path, res.StatusCode)
		}
	}
	public := testkit.StartNode(t, testkit.Options{})
	res, _ := request(t, http.MethodGet, public.URL+"/debug/actors", map[string]string{"Origin": "http://localhost:3000"})
	if res.StatusCode != http.StatusOK || res.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("DebugPublic: GET /debug/actors = %d, ACAO %q", res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"))
	}
}

// The separate metrics listener serves /metrics only, with no CORS, and with a username it
// wants exactly those basic credentials.
func TestMetricsServerBasicAuth(t *testing.T) {
	metrics := transport.NewMetrics(transport.MetricsOptions{})
	node := testkit.StartNode(t, testkit.Options{})
	metrics.Attach(node.Node)
	srv := httptest.NewServer(transport.MetricsServer(metrics, "prom", "s3cret"))
	defer srv.Close()
	basic := func(u, p string) map[string]string {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.SetBasicAuth(u, p)
		return map[string]string{"Authorization": req.Header.Get("Authorization"), "Origin": "https://evil.example"}
	}
	for _, c := range []struct {
		name, path string
		hdr        map[string]string
		want       int
	}{
		{"no credentials", "/metrics", nil, http.StatusUnauthorized},
		{"wrong password", "/metrics", basic("prom", "guess"), http.StatusUnauthorized},
		{"wrong user", "/metrics", basic("root", "s3cret"), http.StatusUnauthorized},
		{"right", "/metrics", basic("prom", "s3cret"), http.StatusOK},
		{"debug is not here", "/debug/actors", basic("prom", "s3cret"), http.StatusNotFound},
	} {
		res, body := request(t, http.MethodGet, srv.URL+c.path, c.hdr)
		if res.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", c.name, res.StatusCode, c.want)
		}
		if c.want == http.StatusUnauthorized && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("%s: no basic challenge: %v", c.name, res.Header)
		}
		if c.want == http.StatusOK && !strings.Contains(body, "\nlivekit_room_total{") {
			t.Errorf("%s: body lacks livekit_room_total", c.name)
		}
		if res.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: CORS header on the metrics listener", c.name)
		}
	}
	open := httptest.NewServer(transport.MetricsServer(metrics, "", ""))
	defer open.Close()
	if res, _ := request(t, http.MethodGet, open.URL+"/metrics", nil); res.StatusCode != http.StatusOK {
		t.Errorf("without a username: %d, want 200", res.StatusCode)
	}
}
