package transport

// Single-PeerConnection mode: /rtc/v1 (livekit-client 2.17+) and /rtc with join_request
// (server-sdk-go's WithSinglePeerConnection). The join's parameters, the client's first offer and
// any tracks it publishes at once ride in one join_request query parameter: URL-safe base64 of a
// WrappedJoinRequest, whose JoinRequest may be gzipped.

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// maxJoinRequestSize bounds a JoinRequest after decompression (LiveKit's limit).
const maxJoinRequestSize = 1 << 20

// errJoinRequestTooLarge is a JoinRequest beyond maxJoinRequestSize.
var errJoinRequestTooLarge = errors.New("join request too large")

// handleRTCv1 serves the single-PC signalling WebSocket. It makes the checks of /rtc, answers
// 400 when join_request is missing or does not decode, and joins (or, with reconnect and
// participant_sid, resumes) in single-PC mode; the add_track requests and the offer inside the
// join_request follow the join as if the client had sent them first.
func (s *Server) handleRTCv1(w http.ResponseWriter, r *http.Request) {
	jr, herr := joinRequestParam(r)
	var req actors.JoinRequest
	if herr == nil {
		req, herr = s.admit(r)
	}
	if herr == nil {
		herr = applyJoinRequest(&req, jr)
	}
	if herr != nil {
		s.reject(r, herr)
		writeHTTPError(w, herr)
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		writeText(w, http.StatusNotFound, "websocket upgrade required")
		return
	}
	var first []*livekit.SignalRequest
	for _, t := range jr.GetAddTrackRequests() {
		first = append(first, &livekit.SignalRequest{Message: &livekit.SignalRequest_AddTrack{AddTrack: t}})
	}
	if o := jr.GetPublisherOffer(); o != nil {
		first = append(first, &livekit.SignalRequest{Message: &livekit.SignalRequest_Offer{Offer: o}})
	}
	if req.Reconnect && req.ReconnectSID != "" {
		s.handleResume(w, r, req, first...)
		return
	}
	s.joinAndServe(w, r, req, first...)
}

// handleValidateV1 answers the /rtc/v1 checks without joining: join_request must be present and
// decode, then the checks of /rtc/validate apply.
func (s *Server) handleValidateV1(w http.ResponseWriter, r *http.Request) {
	jr, herr := joinRequestParam(r)
	if herr == nil {
		var req actors.JoinRequest
		if req, herr = s.admit(r); herr == nil {
			herr = applyJoinRequest(&req, jr)
		}
	}
	if herr != nil {
		s.reject(r, herr)
		writeHTTPError(w, herr)
		return
	}
	s.handleValidate(w, r)
}

// joinRequestParam decodes the join_request query parameter; every failure is a 400.
func joinRequestParam(r *http.Request) (*livekit.JoinRequest, *httpError) {
	raw := r.URL.Query().Get("join_request")
	if raw == "" {
		return nil, newHTTPError(http.StatusBadRequest, "join_request is required", nil)
	}
	jr, err := decodeJoinRequest(raw)
	if errors.Is(err, errJoinRequestTooLarge) {
		return nil, newHTTPError(http.StatusBadRequest, errJoinRequestTooLarge.Error(), err)
	}
	if err != nil {
		return nil, newHTTPError(http.StatusBadRequest, "invalid join_request: "+err.Error(), err)
	}
	return jr, nil
}

// decodeJoinRequest reads a join_request: URL-safe base64 (both SDKs pad it; unpadded and the
// standard alphabet are accepted too) of a WrappedJoinRequest, its JoinRequest plain or gzipped.
func decodeJoinRequest(raw string) (*livekit.JoinRequest, error) {
	if len(raw) > base64.URLEncoding.EncodedLen(2*maxJoinRequestSize) {
		return nil, errJoinRequestTooLarge
	}
	data, err := decodeAnyBase64(raw)
	if err != nil {
		return nil, err
	}
	var wrapped livekit.WrappedJoinRequest
	if err := proto.Unmarshal(data, &wrapped); err != nil {
		return nil, fmt.Errorf("not a WrappedJoinRequest: %w", err)
	}
	body := wrapped.GetJoinRequest()
	switch wrapped.GetCompression() {
	case livekit.WrappedJoinRequest_NONE:
	case livekit.WrappedJoinRequest_GZIP:
		if body, err = gunzip(body); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown compression %d", wrapped.GetCompression())
	}
	if len(body) > maxJoinRequestSize {
		return nil, errJoinRequestTooLarge
	}
	jr := &livekit.JoinRequest{}
	if err := proto.Unmarshal(body, jr); err != nil {
		return nil, fmt.Errorf("not a JoinRequest: %w", err)
	}
	return jr, nil
}

// gunzip inflates a gzipped JoinRequest, at most maxJoinRequestSize bytes of it.
func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("not gzip: %w", err)
	}
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, maxJoinRequestSize+1))
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	if len(out) > maxJoinRequestSize {
		return nil, errJoinRequestTooLarge
	}
	return out, nil
}

// applyJoinRequest puts what the JoinRequest says into the admitted request: single-PC mode, the
// client's description and connection settings, its own metadata and attributes (which need
// canUpdateOwnMetadata, else 401 as LiveKit answers) and a resume.
func applyJoinRequest(req *actors.JoinRequest, jr *livekit.JoinRequest) *httpError {
	req.SinglePC = true
	if ci := jr.GetClientInfo(); ci != nil {
		addr := req.Client.GetAddress()
		req.Client = proto.Clone(ci).(*livekit.ClientInfo)
		req.Client.Address = addr
	}
	if cs := jr.GetConnectionSettings(); cs != nil {
		req.AutoSubscribe = cs.GetAutoSubscribe()
		req.AdaptiveStream = cs.GetAdaptiveStream()
	}
	if jr.GetMetadata() != "" || len(jr.GetParticipantAttributes()) > 0 {
		if !req.Permission.GetCanUpdateMetadata() {
			return newHTTPError(http.StatusUnauthorized, "no permissions to access the room", nil)
		}
		if jr.GetMetadata() != "" {
			req.Metadata = jr.GetMetadata()
		}
		attrs := make(map[string]string, len(req.Attributes)+len(jr.GetParticipantAttributes()))
		for k, v := range req.Attributes {
			attrs[k] = v
		}
		for k, v := range jr.GetParticipantAttributes() {
			if v != "" {
				attrs[k] = v
			}
		}
		req.Attributes = attrs
	}
	if jr.GetReconnect() {
		req.Reconnect, req.ReconnectSID = true, jr.GetParticipantSid()
	}
	return nil
}
