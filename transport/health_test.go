package transport

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// GET / answers 200 "OK" while serving and 503 once shutdown began, so a load balancer's health
// check takes the node out before its sessions are closed.
func TestHealthDraining(t *testing.T) {
	s := newServer(ServerConfig{}, newFakeNode(), testKeys, testLogger())
	srv := httptest.NewServer(s)
	defer srv.Close()
	get := func() (int, string) {
		res, err := srv.Client().Get(srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := get(); code != http.StatusOK || body != "OK" {
		t.Fatalf("serving: %d %q, want 200 OK", code, body)
	}
	s.SetDraining()
	if code, _ := get(); code != http.StatusServiceUnavailable {
		t.Fatalf("draining: %d, want 503", code)
	}
}
