// This file holds the VP8 payload-descriptor rewriting of a DownTrack: the
// picture ID and TL0PICIDX continue across layer switches and resumes, so the
// subscriber's decoder sees one stream.
//
// Who writes what: like the munger, a vp8Munger belongs to one DownTrack and
// is touched only with that DownTrack's mu held.

package media

// vp8Fields locates the picture ID and TL0PICIDX in a VP8 payload
// descriptor (RFC 7741 §4.2). picLen is 0 (absent), 1 (7-bit) or 2 (15-bit);
// tl0 is -1 when absent. ok is false for a descriptor too short to parse.
func vp8Fields(b []byte) (pic, picLen, tl0 int, ok bool) {
	tl0 = -1
	if len(b) < 1 {
		return 0, 0, -1, false
	}
	if b[0]&0x80 == 0 { // X clear: no extension, nothing to rewrite
		return 0, 0, -1, true
	}
	if len(b) < 2 {
		return 0, 0, -1, false
	}
	x := b[1]
	i := 2
	if x&0x80 != 0 { // I: picture ID
		if len(b) <= i {
			return 0, 0, -1, false
		}
		pic, picLen = i, 1
		if b[i]&0x80 != 0 {
			picLen = 2
		}
		i += picLen
	}
	if x&0x40 != 0 { // L: TL0PICIDX
		if len(b) <= i {
			return 0, 0, -1, false
		}
		tl0 = i
	}
	return pic, picLen, tl0, len(b) >= i
}

// vp8Munger keeps the outgoing picture ID and TL0PICIDX continuous. Between
// resyncs the mapping is a fixed offset, so a gap upstream stays a gap.
type vp8Munger struct {
	started bool
	picOff  uint16 // added to the 15-bit (or 7-bit) picture ID
	tl0Off  uint8
	lastPic uint16 // highest outgoing picture ID, in its own width
	lastTL0 uint8
}

// rewrite maps one packet's descriptor. resync is true for the first packet
// of a new segment (the munger just moved its offsets), where the picture ID
// and TL0PICIDX continue from the last ones sent. It returns the payload to
// send: in itself when the offsets are zero, else a copy in buf.
func (v *vp8Munger) rewrite(in, buf []byte, resync bool) (out []byte, picOff uint16, tl0Off uint8) {
	pic, picLen, tl0, ok := vp8Fields(in)
	if !ok || (picLen == 0 && tl0 < 0) {
		return in, v.picOff, v.tl0Off
	}
	inPic, mask := readPicID(in, pic, picLen)
	switch {
	case !v.started:
		v.started = true
		v.picOff, v.tl0Off = 0, 0
		v.lastPic, v.lastTL0 = inPic, 0
		if tl0 >= 0 {
			v.lastTL0 = in[tl0]
		}
	case resync:
		if picLen > 0 {
			v.picOff = (v.lastPic + 1 - inPic) & mask
		}
		if tl0 >= 0 {
			v.tl0Off = v.lastTL0 + 1 - in[tl0]
		}
	}
	if picLen > 0 {
		o := (inPic + v.picOff) & mask
		if d := (o - v.lastPic) & mask; d != 0 && d <= mask/2 || resync {
			v.lastPic = o
		}
	}
	if tl0 >= 0 {
		o := in[tl0] + v.tl0Off
		if int8(o-v.lastTL0) > 0 || resync {
			v.lastTL0 = o
		}
	}
	return vp8Apply(in, buf, v.picOff, v.tl0Off), v.picOff, v.tl0Off
}

// vp8Apply returns in with the offsets added to its picture ID and
// TL0PICIDX, copied into buf; in itself when there is nothing to change or
// buf is too small. NACK retransmits use it with the offsets the packet was
// first sent with.
func vp8Apply(in, buf []byte, picOff uint16, tl0Off uint8) []byte {
	if picOff == 0 && tl0Off == 0 {
		return in
	}
	pic, picLen, tl0, ok := vp8Fields(in)
	if !ok || (picLen == 0 && tl0 < 0) || len(buf) < len(in) {
		return in
	}
	out := buf[:len(in)]
	copy(out, in)
	if picLen > 0 {
		p, mask := readPicID(in, pic, picLen)
		p = (p + picOff) & mask
		if picLen == 2 {
			out[pic] = 0x80 | byte(p>>8)
			out[pic+1] = byte(p)
		} else {
			out[pic] = byte(p)
		}
	}
	if tl0 >= 0 {
		out[tl0] = in[tl0] + tl0Off
	}
	return out
}

// readPicID reads a picture ID of picLen bytes at off and the mask of its
// width; (0, 0x7fff) when absent.
func readPicID(b []byte, off, picLen int) (id, mask uint16) {
	switch picLen {
	case 2:
		return (uint16(b[off])&0x7f)<<8 | uint16(b[off+1]), 0x7fff
	case 1:
		return uint16(b[off]) & 0x7f, 0x7f
	}
	return 0, 0x7fff
}
