package cluster

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Placer answers "which node holds this room?", placing the room when nobody does: it reads the
// directory, keeps a live owner, takes over a dead owner's entry, and otherwise asks the Selector
// and writes the choice with compare-and-set. Two nodes placing the same room at once end with the
// same answer.
type Placer struct {
	reg *Registry
	dir *Directory
	sel *Selector

	// recent counts the rooms this placer put on each node after that node's last stats, so that
	// a burst of placements between two refreshes does not all go to the same "emptiest" node.
	mu     sync.Mutex
	recent map[string][]time.Time
}

// NewPlacer combines the registry (live nodes), the directory and the selector of one node.
func NewPlacer(reg *Registry, dir *Directory, sel *Selector) *Placer {
	return &Placer{reg: reg, dir: dir, sel: sel, recent: map[string][]time.Time{}}
}

// maxPlaceAttempts bounds the read–decide–CAS rounds of one Place call; each lost race is another
// node's successful write, so a few rounds always suffice.
const maxPlaceAttempts = 5

// Place returns the live node that holds room, placing it on the selector's choice when it is
// not placed or its node is dead. A room already on a SHUTTING_DOWN node stays there. No room is
// placed while the registry is not Ready (Redis away, or just back empty).
func (p *Placer) Place(ctx context.Context, room string) (NodeInfo, error) {
	for range maxPlaceAttempts {
		nodes, err := p.reg.Nodes(ctx)
		if err != nil {
			return NodeInfo{}, err
		}
		owner, placed, err := p.dir.Lookup(ctx, room)
		if err != nil {
			return NodeInfo{}, err
		}
		if placed {
			if n, ok := findNode(nodes, owner); ok {
				return n, nil
			}
		}
		if err := p.reg.Ready(); err != nil {
			return NodeInfo{}, fmt.Errorf("cluster: place room %q: %w", room, err)
		}
		now := time.Now()
		pick, err := p.sel.Select(p.adjusted(nodes, now), now)
		if err != nil {
			return NodeInfo{}, fmt.Errorf("cluster: place room %q: %w", room, err)
		}
		var got string
		if placed {
			got, err = p.dir.TakeOver(ctx, room, owner, pick.ID)
		} else {
			got, err = p.dir.Place(ctx, room, pick.ID)
		}
		if err != nil {
			return NodeInfo{}, err
		}
		if got == pick.ID {
			p.note(pick.ID)
		}
		if n, ok := findNode(nodes, got); ok {
			return n, nil
		}
		// The winner of the race is not in our listing (it died or just joined): read again.
	}
	return NodeInfo{}, fmt.Errorf("cluster: place room %q: no stable owner after %d attempts", room, maxPlaceAttempts)
}

// note records a placement on node.
func (p *Placer) note(node string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recent[node] = append(p.recent[node], time.Now())
}

// adjusted adds to each node's room count the placements this placer made since the node's
// stats were taken (by that node's clock), and forgets placements that its stats already include
// or that are older than the selector's staleness bound.
func (p *Placer) adjusted(nodes []NodeInfo, now time.Time) []NodeInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	since := map[string]time.Time{}
	for _, n := range nodes {
		since[n.ID] = n.Stats.UpdatedAt()
	}
	for id, times := range p.recent {
		kept := times[:0]
		for _, t := range times {
			if s, ok := since[id]; ok && t.After(s) && now.Sub(t) < p.sel.staleAfter {
				kept = append(kept, t)
			}
		}
		if len(kept) == 0 {
			delete(p.recent, id)
		} else {
			p.recent[id] = kept
		}
	}
	out := make([]NodeInfo, len(nodes))
	for i, n := range nodes {
		n.Stats.Rooms += len(p.recent[n.ID])
		out[i] = n
	}
	return out
}

func findNode(nodes []NodeInfo, id string) (NodeInfo, bool) {
	for _, n := range nodes {
		if n.ID == id {
			return n, true
		}
	}
	return NodeInfo{}, false
}
