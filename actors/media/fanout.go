// This file holds the fan-out writer pool a Receiver starts once a track has
// many subscribers.
//
// Who writes what: the dispatcher (the layer's forwarder goroutine) fills
// the queues and, on overflow, marks DownTracks dropped, stalled or gapped;
// each writer goroutine owns its queue's jobs and its share of DownTracks
// while it delivers. Writer replacement is serialised by fanout.mu.

package media

import (
	"sync"
	"sync/atomic"
	"time"
)

// fanQueueLen bounds each writer's queue. At ~1000 video packets/s this is a
// quarter second: enough to ride out a scheduling hiccup, short enough that
// a backlog is dropped rather than delivered late.
const fanQueueLen = 256

// fanJob asks one writer to deliver p to its share of dts. It travels by
// value (no allocation); the writer owns one reference to p.
type fanJob struct {
	p     *packet
	dts   []*DownTrack
	layer int8
}

// fanout spreads the writes of a large subscriber list over a few writer
// goroutines, each owning every n-th DownTrack of the snapshot, so that
// one subscriber's slow write delays only its share and the forwarder keeps
// reading. Queues are bounded: when one is full the packet is dropped for
// that share (video then waits for a keyframe, audio just loses a packet),
// because late media is worth less than missing media. Packets already
// queued before a drop are still delivered.
//
// A write that hangs outright would still hold its writer's whole share
// hostage. The dispatcher notices (queue full and the writer made no progress
// for stallTimeout), marks that DownTrack stalled so everyone skips it, and
// starts a fresh writer on the same queue. The stuck goroutine leaves when
// its write finally returns and the DownTrack rejoins at a keyframe.
type fanout struct {
	r            *Receiver
	slots        []*fanSlot
	stallTimeout int64

	wg   sync.WaitGroup // active (non-retired) writers
	quit chan struct{}
	mu   sync.Mutex // stall handling only, never on the normal path
}

type fanSlot struct {
	idx int
	ch  chan fanJob
	w   atomic.Pointer[fanWriter]
}

type fanWriter struct {
	slot     *fanSlot
	jobStart atomic.Int64              // nanotime when the current job was taken
	cur      atomic.Pointer[DownTrack] // nil while idle
	retired  atomic.Bool
	counted  atomic.Bool // still accounted in fanout.wg
}

func newFanout(r *Receiver, workers int, stall time.Duration) *fanout {
	f := &fanout{r: r, stallTimeout: int64(stall), quit: make(chan struct{})}
	for i := range workers {
		s := &fanSlot{idx: i, ch: make(chan fanJob, fanQueueLen)}
		f.slots = append(f.slots, s)
		f.startWriter(s)
	}
	return f
}

func (f *fanout) startWriter(s *fanSlot) {
	w := &fanWriter{slot: s}
	w.counted.Store(true)
	s.w.Store(w)
	f.wg.Add(1)
	go f.run(w)
}

// uncount takes w out of the WaitGroup exactly once, whichever of the writer
// (on exit) or the dispatcher (on retirement) gets there first.
func (f *fanout) uncount(w *fanWriter) {
	if w.counted.CompareAndSwap(true, false) {
		f.wg.Done()
	}
}

// run is one writer goroutine. A panic in a delivery is recovered and fails
// the track (Receiver.OnFailure), like one in the forwarder.
func (f *fanout) run(w *fanWriter) {
	defer f.uncount(w)
	defer f.r.recoverLoop("fan-out writer")
	for {
		select {
		case <-f.quit:
			return
		case j := <-w.slot.ch:
			if !f.deliver(w, j) {
				return
			}
		}
	}
}

// deliver writes j to this writer's share; false if the writer was retired
// meanwhile and must exit.
func (f *fanout) deliver(w *fanWriter, j fanJob) bool {
	defer j.p.release()
	n := len(f.slots)
	w.jobStart.Store(nanotime())
	for i := w.slot.idx; i < len(j.dts); i += n {
		d := j.dts[i]
		w.cur.Store(d)
		d.writePacket(j.layer, j.p)
		if w.retired.Load() {
			// We were stuck in d's write; it is usable again, from a keyframe.
			if d.stalled.Swap(false) {
				d.needKey.Store(d.video)
				d.resyncReq.Store(true)
				d.r.RequestKeyframe(d.currentOrTarget())
			}
			return false
		}
	}
	w.cur.Store(nil)
	return true
}

// dispatch queues p for every writer; the caller keeps its own reference.
func (f *fanout) dispatch(layer int8, p *packet, dts []*DownTrack) {
	seq := p.hdr.SequenceNumber
	for _, s := range f.slots {
		p.acquire()
		j := fanJob{p: p, dts: dts, layer: layer}
		select {
		case s.ch <- j:
			continue
		default:
		}
		// Full. If the writer is stuck rather than slow, replace it and give
		// the replacement a moment to make room, so that its healthy
		// subscribers lose at most the packet the old writer was holding.
		if f.replaceIfStalled(s) {
			t := time.NewTimer(time.Duration(f.stallTimeout))
			select {
			case s.ch <- j:
				t.Stop()
				continue
			case <-t.C:
			}
		}
		p.release()
		f.overflow(s, layer, seq, dts)
	}
}

// overflow applies the drop policy to one writer's share after packet seq of
// layer did not fit in its queue: audio just loses the packet; video keeps
// what is already queued, then skips from seq to the next keyframe, which
// is requested now.
func (f *fanout) overflow(s *fanSlot, layer int8, seq uint16, dts []*DownTrack) {
	n := len(f.slots)
	wantKey := false
	for i := s.idx; i < len(dts); i += n {
		d := dts[i]
		if d.cur.Load() != int32(layer) {
			continue
		}
		d.dropped.Add(1)
		if d.video {
			d.markGap(layer, seq)
			wantKey = true
		}
	}
	if wantKey {
		f.r.RequestKeyframe(int(layer))
	}
}

// replaceIfStalled retires the slot's writer when it has been inside one job
// for longer than stallTimeout, which with a full queue means a write hangs.
// Called only on the overflow path, so the clock is read only then.
func (f *fanout) replaceIfStalled(s *fanSlot) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := s.w.Load()
	d := w.cur.Load()
	if d == nil || nanotime()-w.jobStart.Load() < f.stallTimeout {
		return false
	}
	select {
	case <-f.quit:
		return false
	default:
	}
	d.stalled.Store(true)
	f.r.log.Warn("subscriber write stalled; skipping it", "downtrack", d.streamID, "writer", s.idx)
	w.retired.Store(true)
	f.uncount(w)
	f.startWriter(s)
	return true
}

// close stops the writers, waits for them and releases queued packets.
func (f *fanout) close() {
	close(f.quit)
	f.wg.Wait()
	for _, s := range f.slots {
		for {
			select {
			case j := <-s.ch:
				j.p.release()
				continue
			default:
			}
			break
		}
	}
}
