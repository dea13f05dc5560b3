package media

import (
	"testing"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
)

// FuzzForwardingPath feeds arbitrary bytes to what the forwarding path parses: each chunk of the
// input is read as an upstream RTP packet (header, padding, audio-level extension, codec payload
// descriptor for keyframe detection, then munged and written to a bound DownTrack) and as a
// subscriber's RTCP compound packet (PLI, FIR and NACK handling, retransmission from the cache).
// Input layout: byte 0 picks the codec, then chunks of [length uint16 LE][bytes]. Nothing may
// panic, and every packet must be released to the pool exactly once (release panics otherwise).
func FuzzForwardingPath(f *testing.F) {
	rtpPacket := func(pt uint8, seq uint16, payload []byte, ext bool) []byte {
		h := rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, SSRC: 1000}
		if ext {
			_ = h.SetExtension(1, []byte{0x85})
		}
		b, _ := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
		return b
	}
	chunks := func(codec byte, parts ...[]byte) []byte {
		out := []byte{codec}
		for _, p := range parts {
			out = append(out, byte(len(p)), byte(len(p)>>8))
			out = append(out, p...)
		}
		return out
	}
	nack, _ := (&rtcp.TransportLayerNack{MediaSSRC: 77, Nacks: []rtcp.NackPair{{PacketID: 1, LostPackets: 0xffff}}}).Marshal()
	pli, _ := (&rtcp.PictureLossIndication{MediaSSRC: 77}).Marshal()
	fir, _ := (&rtcp.FullIntraRequest{MediaSSRC: 77, FIR: []rtcp.FIREntry{{SSRC: 77}}}).Marshal()
	rr, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: 5}, &rtcp.PictureLossIndication{MediaSSRC: 77}})
	f.Add(chunks(0, rtpPacket(96, 1, vp8Key, false), rtpPacket(96, 2, vp8Delta, false), nack, pli))
	f.Add(chunks(1, rtpPacket(111, 7, []byte{0xfc, 0xff, 0xfe}, true), rr))
	f.Add(chunks(2, rtpPacket(102, 1, []byte{0x7c, 0x85, 0x88}, false), rtpPacket(102, 2, []byte{0x18, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce}, false), fir))
	f.Add(chunks(3, rtpPacket(98, 1, []byte{0x8a, 0x80, 0x01}, false)))
	f.Add(chunks(4, rtpPacket(45, 1, []byte{0x18, 0x0a, 0x0b}, false)))
	f.Add(chunks(0, []byte{0xa0, 0x60, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0x03, 0xe8, 0xff})) // padding longer than the packet
	f.Add(chunks(0, []byte{0x80, 0xcd, 0x00, 0x02}))                                     // truncated NACK

	codecs := []webrtc.RTPCodecParameters{vp8Params(), opusParams(), mimeParams(webrtc.MimeTypeH264), mimeParams(webrtc.MimeTypeVP9), mimeParams(webrtc.MimeTypeAV1)}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		codec := codecs[int(data[0])%len(codecs)]
		data = data[1:]
		r := testReceiver(t, codec, ReceiverOptions{Kind: codecTypeOf(codec.MimeType)}, 0)
		defer r.Close()
		r.layers[0].Load().audioLevelID = 1
		d := boundDownTrack(t, r, &fakeWriter{}, 77)
		for len(data) >= 2 {
			n := int(data[0]) | int(data[1])<<8
			data = data[2:]
			n = min(n, len(data))
			chunk := data[:n]
			data = data[n:]

			p := getPacket()
			m := copy(p.buf[:], chunk)
			if p.parse(m) == nil {
				r.ingest(r.layers[0].Load(), p)
			}
			p.release()

			d.handleRTCP(chunk)
		}
	})
}

func mimeParams(mime string) webrtc.RTPCodecParameters {
	c, ok := CodecCapability(mime)
	if !ok {
		c = webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000}
	}
	return webrtc.RTPCodecParameters{RTPCodecCapability: c, PayloadType: 100}
}
