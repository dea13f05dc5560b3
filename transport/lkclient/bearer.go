package lkclient

import "net/http"

// BearerTransport is an http.RoundTripper that adds "Authorization: Bearer
// <Token>" to every request, as the Room API (Twirp) expects; an empty Token
// adds nothing. Next sends the request (http.DefaultTransport when nil).
type BearerTransport struct {
	// Token is the signed access token sent with every request.
	Token string
	// Next is the RoundTripper that sends the request; nil means http.DefaultTransport.
	Next http.RoundTripper
}

// RoundTrip clones r, sets the Authorization header and passes it on.
func (b BearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.Token != "" {
		r.Header.Set("Authorization", "Bearer "+b.Token)
	}
	next := b.Next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(r)
}
