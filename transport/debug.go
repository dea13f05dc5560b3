package transport

import (
	_ "embed"
	"encoding/json"
	"net/http"

	"github.com/actor-sfu/livekit-server/actors"
)

// debugPage is a self-contained page (no external assets) that polls /debug/actors every second
// and draws the actor tree: rooms → participants → tracks, with mailbox depth and stats.
//
//go:embed debug.html
var debugPage []byte

// mountDebug adds the inspection routes. Nothing here sends an actor message: Tree reads the
// process registry and per-actor atomic stats.
func (s *Server) mountDebug(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/actors", s.handleDebugActors)
	mux.HandleFunc("GET /debug/{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(debugPage)
	})
	mux.Handle("GET /debug", http.RedirectHandler("/debug/", http.StatusMovedPermanently))
}

// handleDebugActors answers the live actor tree as a JSON array of actors.ActorInfo, parents first.
func (s *Server) handleDebugActors(w http.ResponseWriter, _ *http.Request) {
	tree := s.node.Tree()
	if tree == nil {
		tree = []actors.ActorInfo{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := json.NewEncoder(w).Encode(tree); err != nil {
		s.log.Debug("writing actor tree", "err", err)
	}
}
