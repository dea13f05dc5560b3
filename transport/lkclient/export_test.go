package lkclient

import "github.com/pion/webrtc/v3"

// NewLoopbackAPI gives the external tests' fake SFU the client's own pion API (codecs,
// interceptors, simulcast extensions) with ICE on loopback.
func NewLoopbackAPI() (*webrtc.API, error) {
	return newAPI(Options{ConfigureSettingEngine: LoopbackICE})
}
