// Package lkmedia holds the media helpers of the LiveKit test client: synthetic
// VP8 and Opus frame generators whose payloads carry a counter (so a receiver
// can check byte equality and order), a VP8 RTP frame assembler for the
// receiving side, and loaders for IVF (VP8) and Ogg (Opus) files.
//
// Nothing here touches the network; the lkclient package plugs these helpers
// into pion tracks.
package lkmedia
