package media

// isKeyframeStart reports whether payload (an RTP payload without padding)
// is the first packet of a keyframe for codec k. Only the first packet
// matters: starting or switching a subscriber there gives the decoder a
// complete picture, and the following packets of the same frame pass because
// the subscriber is then on that layer. Audio and unknown codecs count as
// always-keyframe so that they are forwarded from the first packet.
func isKeyframeStart(k codecKind, payload []byte) bool {
	switch k {
	case codecVP8:
		return vp8Keyframe(payload)
	case codecH264:
		return h264Keyframe(payload)
	case codecVP9:
		return vp9Keyframe(payload)
	case codecAV1:
		return av1Keyframe(payload)
	}
	return true
}

// vp8Keyframe parses the VP8 payload descriptor (RFC 7741 §4.2) and then
// checks the inverse key frame flag P in the first byte of the VP8 payload
// header, which is present only at the start of partition 0 (S=1, PID=0).
func vp8Keyframe(b []byte) bool {
	if len(b) < 1 {
		return false
	}
	d := b[0]
	if d&0x10 == 0 || d&0x07 != 0 { // S bit clear or not partition 0
		return false
	}
	i := 1
	if d&0x80 != 0 { // X: extension byte follows
		if len(b) < 2 {
			return false
		}
		x := b[1]
		i = 2
		if x&0x80 != 0 { // I: picture ID, 7 or 15 bits
			if len(b) <= i {
				return false
			}
			if b[i]&0x80 != 0 {
				i += 2
			} else {
				i++
			}
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // T or K: TID/Y/KEYIDX byte
			i++
		}
	}
	if len(b) <= i {
		return false
	}
	return b[i]&0x01 == 0
}

// h264Keyframe looks for an IDR slice or an SPS (which browsers send right
// before an IDR) in a single NAL unit, a STAP-A aggregate, or the first
// fragment of an FU-A (RFC 6184).
func h264Keyframe(b []byte) bool {
	if len(b) < 1 {
		return false
	}
	switch t := b[0] & 0x1f; t {
	case 5, 7:
		return true
	case 24: // STAP-A: [hdr][size16][nal]...
		for i := 1; i+2 < len(b); {
			size := int(b[i])<<8 | int(b[i+1])
			i += 2
			if size == 0 || i+size > len(b) {
				return false
			}
			if nt := b[i] & 0x1f; nt == 5 || nt == 7 {
				return true
			}
			i += size
		}
	case 28: // FU-A: [indicator][S E R type]
		if len(b) < 2 {
			return false
		}
		nt := b[1] & 0x1f
		return b[1]&0x80 != 0 && (nt == 5 || nt == 7)
	}
	return false
}

// vp9Keyframe reads the VP9 payload descriptor (draft-ietf-payload-vp9):
// P=0 (not inter-predicted) at B=1 (start of frame) of spatial layer 0 is the
// start of a keyframe. Best effort: flexible mode with reference indices is
// parsed only as far as needed.
func vp9Keyframe(b []byte) bool {
	if len(b) < 1 {
		return false
	}
	d := b[0]
	const (
		bitI = 0x80
		bitP = 0x40
		bitL = 0x20
		bitB = 0x08
	)
	if d&bitP != 0 || d&bitB == 0 {
		return false
	}
	i := 1
	if d&bitI != 0 {
		if len(b) <= i {
			return false
		}
		if b[i]&0x80 != 0 {
			i += 2
		} else {
			i++
		}
	}
	if d&bitL != 0 {
		if len(b) <= i {
			return false
		}
		if sid := (b[i] >> 1) & 0x07; sid != 0 {
			return false
		}
	}
	return true
}

// av1Keyframe uses the N bit of the AV1 aggregation header, set on the first
// packet of a coded video sequence, which starts with a keyframe. Best effort:
// it does not parse OBUs.
func av1Keyframe(b []byte) bool {
	return len(b) > 0 && b[0]&0x08 != 0
}
