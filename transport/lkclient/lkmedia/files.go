package lkmedia

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/pion/webrtc/v3/pkg/media/ivfreader"
)

// MediaFrame is one encoded frame read from a file, with how long it lasts.
type MediaFrame struct {
	Data     []byte
	Duration time.Duration
}

// IVFInfo is the header of an IVF file.
type IVFInfo struct {
	FourCC        string // "VP80" for VP8
	Width, Height uint16
	Timebase      time.Duration // one timestamp unit
}

// LoadIVF reads every frame of an IVF file (pion's ivfreader). Each frame's
// duration comes from the next frame's timestamp; the last frame repeats the
// previous duration.
func LoadIVF(path string) (IVFInfo, []MediaFrame, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return IVFInfo{}, nil, fmt.Errorf("load ivf: %w", err)
	}
	return ParseIVF(raw)
}

// ParseIVF is LoadIVF on bytes in memory.
func ParseIVF(raw []byte) (IVFInfo, []MediaFrame, error) {
	r, hdr, err := ivfreader.NewWith(bytes.NewReader(raw))
	if err != nil {
		return IVFInfo{}, nil, fmt.Errorf("ivf header: %w", err)
	}
	if hdr.TimebaseDenominator == 0 {
		return IVFInfo{}, nil, errors.New("ivf header: zero timebase denominator")
	}
	info := IVFInfo{
		FourCC: hdr.FourCC, Width: hdr.Width, Height: hdr.Height,
		Timebase: time.Duration(uint64(time.Second) * uint64(hdr.TimebaseNumerator) / uint64(hdr.TimebaseDenominator)),
	}
	var frames []MediaFrame
	var stamps []uint64
	for {
		data, fh, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return info, nil, fmt.Errorf("ivf frame %d: %w", len(frames), err)
		}
		frames = append(frames, MediaFrame{Data: data})
		stamps = append(stamps, fh.Timestamp)
	}
	for i := range frames {
		switch {
		case i+1 < len(frames) && stamps[i+1] > stamps[i]:
			frames[i].Duration = time.Duration(stamps[i+1]-stamps[i]) * info.Timebase
		case i > 0:
			frames[i].Duration = frames[i-1].Duration
		default:
			frames[i].Duration = info.Timebase
		}
	}
	return info, frames, nil
}

// OpusInfo is what LoadOgg reports from the OpusHead packet.
type OpusInfo struct {
	Channels   uint8
	PreSkip    uint16
	SampleRate uint32 // input sample rate (informational; Opus always runs at 48 kHz)
}

// LoadOgg reads every Opus packet of an Ogg Opus file. Unlike pion's page
// reader it splits pages into packets (following the lacing values), so
// files with several packets per page work too. Durations come from each
// packet's TOC byte.
func LoadOgg(path string) (OpusInfo, []MediaFrame, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return OpusInfo{}, nil, fmt.Errorf("load ogg: %w", err)
	}
	return ParseOgg(raw)
}

// ParseOgg is LoadOgg on bytes in memory.
func ParseOgg(raw []byte) (OpusInfo, []MediaFrame, error) {
	packets, err := oggPackets(raw)
	if err != nil {
		return OpusInfo{}, nil, err
	}
	if len(packets) < 2 || !bytes.HasPrefix(packets[0], []byte("OpusHead")) || len(packets[0]) < 19 {
		return OpusInfo{}, nil, errors.New("ogg: no OpusHead packet")
	}
	head := packets[0]
	info := OpusInfo{
		Channels:   head[9],
		PreSkip:    binary.LittleEndian.Uint16(head[10:12]),
		SampleRate: binary.LittleEndian.Uint32(head[12:16]),
	}
	if !bytes.HasPrefix(packets[1], []byte("OpusTags")) {
		return info, nil, errors.New("ogg: no OpusTags packet")
	}
	frames := make([]MediaFrame, 0, len(packets)-2)
	for _, p := range packets[2:] {
		frames = append(frames, MediaFrame{Data: p, Duration: OpusPacketDuration(p)})
	}
	return info, frames, nil
}

// oggPackets splits an Ogg stream (single logical stream) into packets.
func oggPackets(raw []byte) ([][]byte, error) {
	const pageHeaderLen = 27
	var packets [][]byte
	var cur []byte
	for off := 0; off < len(raw); {
		if len(raw)-off < pageHeaderLen || string(raw[off:off+4]) != "OggS" {
			return nil, fmt.Errorf("ogg: bad page at offset %d", off)
		}
		nseg := int(raw[off+26])
		lacing := off + pageHeaderLen
		data := lacing + nseg
		if data > len(raw) {
			return nil, fmt.Errorf("ogg: truncated segment table at offset %d", off)
		}
		for _, l := range raw[lacing:data] {
			if data+int(l) > len(raw) {
				return nil, fmt.Errorf("ogg: truncated page at offset %d", off)
			}
			cur = append(cur, raw[data:data+int(l)]...)
			data += int(l)
			if l < 255 {
				packets = append(packets, cur)
				cur = nil
			}
		}
		off = data
	}
	return packets, nil
}

// OpusPacketDuration returns the audio duration of one Opus packet from its
// TOC byte (RFC 6716 §3.1), or 0 if it cannot tell.
func OpusPacketDuration(p []byte) time.Duration {
	if len(p) == 0 {
		return 0
	}
	toc := p[0]
	cfg := toc >> 3
	var frame time.Duration
	switch {
	case cfg < 12: // SILK: 10, 20, 40, 60 ms
		frame = []time.Duration{10, 20, 40, 60}[cfg%4] * time.Millisecond
	case cfg < 16: // Hybrid: 10, 20 ms
		frame = []time.Duration{10, 20}[cfg%2] * time.Millisecond
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = []time.Duration{2500, 5000, 10000, 20000}[cfg%4] * time.Microsecond
	}
	switch toc & 3 {
	case 0:
		return frame
	case 1, 2:
		return 2 * frame
	default:
		if len(p) < 2 {
			return 0
		}
		return time.Duration(p[1]&0x3f) * frame
	}
}
