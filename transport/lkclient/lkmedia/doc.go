// Package lkmedia holds the file media of the LiveKit client: a VP8 frame
// header parser, a VP8 RTP frame assembler for the receiving side, and
// readers for IVF (VP8) and Ogg (Opus) files, as the CLI publishes and
// records them.
//
// Nothing here touches the network; the lkclient package plugs these helpers
// into pion tracks.
package lkmedia
