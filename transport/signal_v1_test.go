package transport

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// wrapJoinRequest encodes jr as the SDKs do: padded URL-safe base64 of a WrappedJoinRequest,
// gzipped when zip is set.
func wrapJoinRequest(t testing.TB, jr *livekit.JoinRequest, zip bool) string {
	t.Helper()
	body, err := proto.Marshal(jr)
	if err != nil {
		t.Fatal(err)
	}
	w := &livekit.WrappedJoinRequest{JoinRequest: body}
	if zip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(body)
		_ = zw.Close()
		w = &livekit.WrappedJoinRequest{Compression: livekit.WrappedJoinRequest_GZIP, JoinRequest: buf.Bytes()}
	}
	data, err := proto.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	return base64.URLEncoding.EncodeToString(data)
}

// A join_request decodes plain or gzipped, padded or not; a JoinRequest over 1 MiB after gunzip
// is refused as too large, garbage as invalid.
func TestDecodeJoinRequest(t *testing.T) {
	jr := &livekit.JoinRequest{
		ClientInfo:     &livekit.ClientInfo{Sdk: livekit.ClientInfo_JS, Protocol: 17},
		PublisherOffer: &livekit.SessionDescription{Type: "offer", Sdp: "v=0\r\n", Id: 1},
		Reconnect:      true, ParticipantSid: "PA_x",
	}
	for _, zip := range []bool{false, true} {
		raw := wrapJoinRequest(t, jr, zip)
		for _, enc := range []string{raw, strings.TrimRight(raw, "=")} {
			got, err := decodeJoinRequest(enc)
			if err != nil {
				t.Fatalf("zip=%v %q: %v", zip, enc, err)
			}
			if !proto.Equal(got, jr) {
				t.Fatalf("zip=%v: decoded %v, want %v", zip, got, jr)
			}
		}
	}
	huge := &livekit.JoinRequest{Metadata: strings.Repeat("x", maxJoinRequestSize)}
	if _, err := decodeJoinRequest(wrapJoinRequest(t, huge, true)); !errors.Is(err, errJoinRequestTooLarge) {
		t.Fatalf("1 MiB of metadata: err = %v, want %v", err, errJoinRequestTooLarge)
	}
	bad := base64.URLEncoding.EncodeToString([]byte{0x08, 0x01, 0x12, 0x03, 'a', 'b', 'c'}) // GZIP of "abc"
	if _, err := decodeJoinRequest(bad); err == nil || !strings.Contains(err.Error(), "gzip") {
		t.Fatalf("bad gzip: err = %v", err)
	}
}

// /rtc/v1/validate decodes join_request, then answers as /rtc/validate; metadata inside the join
// request needs canUpdateOwnMetadata.
func TestValidateV1(t *testing.T) {
	node := newFakeNode()
	node.rooms["r1"] = true
	srv := startServer(t, ServerConfig{}, node)
	good := token(t, "alice", joinGrant("r1"))
	plain := wrapJoinRequest(t, &livekit.JoinRequest{}, true)
	withMD := wrapJoinRequest(t, &livekit.JoinRequest{Metadata: "hi"}, true)
	for _, tc := range []struct {
		query  string
		status int
		body   string
	}{
		{"access_token=" + good + "&join_request=" + plain, 200, "success"},
		{"access_token=" + good, 400, "join_request is required"},
		{"access_token=" + good + "&join_request=%21%21", 400, "invalid join_request"},
		{"join_request=" + plain, 401, "permissions denied"},
		{"access_token=" + good + "&join_request=" + withMD, 401, "no permissions to access the room"},
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/rtc/v1/validate?"+tc.query, nil)
		expectAnswer(t, srv.Client(), req, tc.status, tc.body)
	}
}
