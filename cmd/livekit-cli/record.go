package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
	"github.com/pion/webrtc/v3/pkg/media/h264writer"
	"github.com/pion/webrtc/v3/pkg/media/ivfwriter"
	"github.com/pion/webrtc/v3/pkg/media/oggwriter"

	"github.com/actor-sfu/livekit-server/transport/lkclient"
	"github.com/actor-sfu/livekit-server/transport/lkclient/lkmedia"
)

// recorderSet receives every subscribed track: it counts packets and frames and, when outDir is
// set, writes VP8 to <identity>-<TR_sid>.ivf, Opus to .ogg and H.264 to .h264.
type recorderSet struct {
	outDir string
	con    *console

	mu     sync.Mutex
	closed bool
	left   bool // set by leaving
	tracks []*trackRecorder
	paths  map[string]bool
	wg     sync.WaitGroup
}

func newRecorderSet(outDir string, con *console) *recorderSet {
	return &recorderSet{outDir: outDir, con: con, paths: map[string]bool{}}
}

// add starts recording rt (lkclient's OnTrackSubscribed handler).
func (s *recorderSet) add(rt *lkclient.RemoteTrack) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	r := &trackRecorder{rt: rt, identity: publisherIdentity(rt), mime: rt.Codec.MimeType, done: make(chan struct{})}
	if s.outDir != "" {
		if err := r.open(s.uniquePath(r)); err != nil {
			r.err = err
			s.con.printf("track %s: cannot record: %v", rt.TrackSID, err)
		}
	}
	s.tracks = append(s.tracks, r)
	s.con.printf("subscribed to %s %s of %s%s", rt.TrackSID, r.mime, r.identity, r.fileNote())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		r.run()
		s.mu.Lock()
		leaving := s.left
		s.mu.Unlock()
		if !leaving { // when we leave, the final summary on stdout says the same
			s.con.printf("track %s of %s ended: %s", rt.TrackSID, r.identity, r.summary())
		}
	}()
}

// uniquePath names the output file; a track received twice gets a numbered second file.
func (s *recorderSet) uniquePath(r *trackRecorder) string {
	ext := ".rtp"
	switch {
	case strings.EqualFold(r.mime, webrtc.MimeTypeVP8):
		ext = ".ivf"
	case strings.EqualFold(r.mime, webrtc.MimeTypeOpus):
		ext = ".ogg"
	case strings.EqualFold(r.mime, webrtc.MimeTypeH264):
		ext = ".h264"
	}
	base := filepath.Join(s.outDir, safeName(r.identity)+"-"+safeName(r.rt.TrackSID))
	p := base + ext
	for i := 2; s.paths[p]; i++ {
		p = fmt.Sprintf("%s-%d%s", base, i, ext)
	}
	s.paths[p] = true
	return p
}

// leaving marks that tracks now end because we leave the room, not because their publisher
// stopped: their end is then reported once, in the final summary.
func (s *recorderSet) leaving() {
	s.mu.Lock()
	s.left = true
	s.mu.Unlock()
}

// close stops accepting tracks and waits until every recorder has finished (the client must be
// closed first, which ends every track).
func (s *recorderSet) close() []*trackRecorder {
	s.mu.Lock()
	s.closed = true
	tracks := append([]*trackRecorder(nil), s.tracks...)
	s.mu.Unlock()
	s.wg.Wait()
	return tracks
}

// snapshot returns the tracks so far (for the progress line).
func (s *recorderSet) snapshot() []*trackRecorder {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*trackRecorder(nil), s.tracks...)
}

func publisherIdentity(rt *lkclient.RemoteTrack) string {
	if rt.PublisherIdentity != "" {
		return rt.PublisherIdentity
	}
	if p := rt.Publisher(); p.GetIdentity() != "" {
		return p.GetIdentity()
	}
	return rt.ParticipantSID
}

// safeName keeps a file name component to letters, digits, '-', '_' and '.'.
func safeName(s string) string {
	if s == "" {
		return "unknown"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}

// rtpWriter is what pion's media writers have in common.
type rtpWriter interface {
	WriteRTP(*rtp.Packet) error
	Close() error
}

// trackRecorder reads one remote track until it ends.
type trackRecorder struct {
	rt       *lkclient.RemoteTrack
	identity string
	mime     string
	path     string
	file     *os.File
	writer   rtpWriter
	done     chan struct{}

	// Set by run only; read after done is closed.
	asm             *lkmedia.VP8Assembler
	seenKeyframe    bool
	written         uint64 // frames (video) or packets (audio) written to the file
	keyframes       uint64
	firstTS, lastTS uint32
	width, height   uint16
	err             error
	frames          atomic.Uint64 // whole frames (video) or packets (audio) received
}

// open creates the output file and its pion writer.
func (r *trackRecorder) open(path string) error {
	r.path = path
	switch {
	case strings.EqualFold(r.mime, webrtc.MimeTypeVP8):
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		// ivfwriter closes what it is given; keep the file to fix up the header afterwards.
		w, err := ivfwriter.NewWith(noCloseFile{f}, ivfwriter.WithCodec(webrtc.MimeTypeVP8))
		if err != nil {
			f.Close()
			return fmt.Errorf("ivf writer: %w", err)
		}
		r.file, r.writer = f, w
	case strings.EqualFold(r.mime, webrtc.MimeTypeOpus):
		ch := r.rt.Codec.Channels
		if ch == 0 {
			ch = 2
		}
		w, err := oggwriter.New(path, 48000, ch)
		if err != nil {
			return fmt.Errorf("ogg writer: %w", err)
		}
		r.writer = w
	case strings.EqualFold(r.mime, webrtc.MimeTypeH264):
		w, err := h264writer.New(path)
		if err != nil {
			return fmt.Errorf("h264 writer: %w", err)
		}
		r.writer = w
	default:
		r.path = ""
		return fmt.Errorf("codec %s is not recorded", r.mime)
	}
	return nil
}

func (r *trackRecorder) fileNote() string {
	if r.path == "" {
		return ""
	}
	return ", recording to " + r.path
}

// run consumes the track's packets until the track ends, then closes the file.
func (r *trackRecorder) run() {
	defer close(r.done)
	isVP8 := strings.EqualFold(r.mime, webrtc.MimeTypeVP8)
	if isVP8 {
		r.asm = lkmedia.NewVP8Assembler()
	}
	for p := range r.rt.Packets() {
		if !isVP8 {
			r.frames.Add(1)
			r.write(p)
			continue
		}
		for _, f := range r.asm.Push(p) {
			r.frames.Add(1)
			r.videoFrame(f)
		}
	}
	r.finish()
}

// videoFrame writes one whole VP8 frame, skipping everything before the first keyframe.
func (r *trackRecorder) videoFrame(f lkmedia.Frame) {
	if f.Keyframe {
		r.keyframes++
		if h, err := lkmedia.ParseVP8Header(f.Data); err == nil {
			r.width, r.height = h.Width, h.Height
		}
	}
	if !r.seenKeyframe {
		if !f.Keyframe {
			return
		}
		r.seenKeyframe, r.firstTS = true, f.Timestamp
	}
	r.lastTS = f.Timestamp
	// One RTP packet per whole frame (VP8 descriptor: S=1, PID=0), so that ivfwriter writes
	// exactly the frames the assembler rebuilt (it copes with loss and reordering; ivfwriter does not).
	pkt := &rtp.Packet{
		Header:  rtp.Header{Version: 2, Marker: true, Timestamp: f.Timestamp, SequenceNumber: f.LastSeq},
		Payload: append([]byte{0x10}, f.Data...),
	}
	r.write(pkt)
}

func (r *trackRecorder) write(p *rtp.Packet) {
	if r.writer == nil || r.err != nil {
		return
	}
	if err := r.writer.WriteRTP(p); err != nil {
		r.err = fmt.Errorf("write %s: %w", r.path, err)
		return
	}
	r.written++
}

// finish closes the writer; for IVF it then fixes the header, which pion's writer fills with
// 640x480 at 30 fps: the real size comes from the keyframes, the frame rate from RTP timestamps
// (pion writes frame indexes as timestamps, so the time base is one frame).
func (r *trackRecorder) finish() {
	if r.writer == nil {
		return
	}
	if err := r.writer.Close(); err != nil && r.err == nil {
		r.err = fmt.Errorf("close %s: %w", r.path, err)
	}
	if r.file == nil {
		return
	}
	if err := r.fixIVFHeader(); err != nil && r.err == nil {
		r.err = fmt.Errorf("ivf header %s: %w", r.path, err)
	}
	if err := r.file.Close(); err != nil && r.err == nil {
		r.err = fmt.Errorf("close %s: %w", r.path, err)
	}
}

func (r *trackRecorder) fixIVFHeader() error {
	var hdr [12]byte // width, height, rate, scale at offsets 12..24
	binary.LittleEndian.PutUint16(hdr[0:], r.width)
	binary.LittleEndian.PutUint16(hdr[2:], r.height)
	fps := uint32(30)
	if r.written > 1 && r.lastTS != r.firstTS {
		est := float64(r.written-1) * 90000 / float64(r.lastTS-r.firstTS)
		if est >= 1 && est <= 240 {
			fps = uint32(math.Round(est))
		}
	}
	binary.LittleEndian.PutUint32(hdr[4:], fps)
	binary.LittleEndian.PutUint32(hdr[8:], 1)
	if r.width == 0 {
		_, err := r.file.WriteAt(hdr[4:], 16)
		return err
	}
	_, err := r.file.WriteAt(hdr[:], 12)
	return err
}

// summary describes what was received and recorded; call after done is closed (or for a
// progress line, where only the atomic counters are used).
func (r *trackRecorder) summary() string {
	st := r.rt.Stats()
	var b strings.Builder
	fmt.Fprintf(&b, "%d packets, %s", st.Packets, formatBytes(st.Bytes))
	if r.asm != nil {
		as := r.asm.Stats()
		fmt.Fprintf(&b, ", %d frames (%d keyframes, %d incomplete)", as.Frames, r.keyframes, as.Incomplete)
	}
	if st.Dropped > 0 {
		fmt.Fprintf(&b, ", %d dropped", st.Dropped)
	}
	if !st.First.IsZero() && st.Last.After(st.First) {
		fmt.Fprintf(&b, ", %s", formatBitrate(st.Bytes, st.Last.Sub(st.First)))
	}
	if r.path != "" {
		unit := "packets"
		if r.asm != nil {
			unit = "frames"
		}
		fmt.Fprintf(&b, "; wrote %d %s to %s", r.written, unit, r.path)
	}
	if r.err != nil {
		fmt.Fprintf(&b, "; error: %v", r.err)
	}
	return b.String()
}

// noCloseFile hides Close from ivfwriter, which closes any io.Closer it writes to.
type noCloseFile struct{ f *os.File }

func (n noCloseFile) Write(p []byte) (int, error) { return n.f.Write(p) }

func (n noCloseFile) Seek(off int64, whence int) (int64, error) { return n.f.Seek(off, whence) }

var _ io.WriteSeeker = noCloseFile{}
