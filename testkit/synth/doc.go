// Package synth makes synthetic media for tests and load generation: VP8 and
// Opus frame generators whose payloads carry a counter and deterministic
// filler (so a receiver can check byte equality and order), and Publish,
// which paces them onto an lkclient.LocalTrack in real time.
//
// Decoders would not render these frames, but every SFU-level parser
// (keyframe detection, dimensions, depacketizers) accepts them.
package synth
