package actors

// SDP helpers of the participant: checks on what clients send before pion sees it, offer/answer
// application that turns pion panics into errors, and reading which m-sections an offer sends.

import (
	"errors"
	"fmt"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"
)

// checkSDP refuses session descriptions pion should never see: unparsable ones, ones without any
// media section (nothing to negotiate; a LiveKit client always has at least its data channel
// m-line) and ones with more media sections than maxSections (each becomes a transceiver).
func checkSDP(raw string, maxSections int) error {
	var parsed sdp.SessionDescription
	if err := parsed.UnmarshalString(raw); err != nil {
		return fmt.Errorf("invalid SDP: %w", err)
	}
	switch n := len(parsed.MediaDescriptions); {
	case n == 0:
		return errors.New("SDP has no media sections")
	case n > maxSections:
		return fmt.Errorf("SDP has %d media sections, limit %d", n, maxSections)
	}
	return nil
}

// answerOffer applies a remote offer to pc and sets and returns the local answer. It never
// panics on bad input; every failure comes back as an error and leaves pc usable for a later,
// valid offer whenever pion allows it.
func answerOffer(pc *webrtc.PeerConnection, offer string) (answer webrtc.SessionDescription, err error) {
	defer recoverAsError(&err)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return answer, fmt.Errorf("applying offer: %w", err)
	}
	answer, err = pc.CreateAnswer(nil)
	if err == nil {
		err = pc.SetLocalDescription(answer)
	}
	if err != nil {
		return answer, fmt.Errorf("answering offer: %w", err)
	}
	return answer, nil
}

// applyAnswer applies a remote answer to the offer pc has made.
func applyAnswer(pc *webrtc.PeerConnection, answer string) (err error) {
	defer recoverAsError(&err)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return fmt.Errorf("applying answer: %w", err)
	}
	return nil
}

// recoverAsError turns a panic inside pion's SDP handling into an error: hostile SDP must cost
// the sender its request, not the participant its actor.
func recoverAsError(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("SDP handling panicked: %v", r)
	}
}

// sendingMids lists the mids of an offer's m-sections in which the offerer sends media.
func sendingMids(offer string) map[string]bool {
	var parsed sdp.SessionDescription
	if err := parsed.Unmarshal([]byte(offer)); err != nil {
		return nil
	}
	out := map[string]bool{}
	for _, md := range parsed.MediaDescriptions {
		mid, _ := md.Attribute("mid")
		if mid == "" {
			continue
		}
		_, recvonly := md.Attribute("recvonly")
		_, inactive := md.Attribute("inactive")
		out[mid] = md.MediaName.Port.Value != 0 && !recvonly && !inactive
	}
	return out
}
