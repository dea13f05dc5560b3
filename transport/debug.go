package transport

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/actor-sfu/livekit-server/actors"
)

// DebugAccess says who may read the debug pages (/debug/, /debug/actors) on the main handler. They
// name every room and identity on the node, so outside local development they must not be open to
// any web page an operator happens to visit.
type DebugAccess int

const (
	// DebugPublic serves the pages to anyone, with CORS like every other route (--dev, tests).
	// /metrics, when set, is public and CORS-enabled too.
	DebugPublic DebugAccess = iota
	// DebugToken serves the pages only to a bearer of a Room API token with the roomList or
	// roomAdmin grant (Authorization: Bearer, or access_token for a browser), without CORS.
	DebugToken
	// DebugOff does not serve the pages at all.
	DebugOff
)

// String implements fmt.Stringer.
func (a DebugAccess) String() string {
	switch a {
	case DebugPublic:
		return "public"
	case DebugToken:
		return "token"
	case DebugOff:
		return "off"
	}
	return "unknown"
}

// debugPage is a self-contained page (no external assets) that polls /debug/actors every second
// and draws the actor tree: rooms → participants → tracks, with mailbox depth and stats.
//
//go:embed debug.html
var debugPage []byte

// mountDebug adds the inspection routes, guarded as s.cfg.Debug says. Nothing here sends an actor
// message: Tree reads the process registry and per-actor atomic stats.
func (s *Server) mountDebug(mux *http.ServeMux) {
	switch s.cfg.Debug {
	case DebugOff:
		return
	case DebugToken:
		s.mountDebugRoutes(mux, s.requireDebugToken)
	default:
		s.mountDebugRoutes(mux, func(h http.Handler) http.Handler { return h })
	}
}

// mountDebugRoutes adds the debug routes to mux, each wrapped by guard.
func (s *Server) mountDebugRoutes(mux *http.ServeMux, guard func(http.Handler) http.Handler) {
	mux.Handle("GET /debug/actors", guard(http.HandlerFunc(s.handleDebugActors)))
	mux.Handle("GET /debug/{$}", guard(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(debugPage)
	})))
	mux.Handle("GET /debug", http.RedirectHandler("/debug/", http.StatusMovedPermanently))
}

// DebugHandler returns the debug routes alone, unguarded and without CORS, for a listener of their
// own (LiveKit's debug_handler.port) that the operator keeps off the public network.
func (s *Server) DebugHandler() http.Handler {
	mux := http.NewServeMux()
	s.mountDebugRoutes(mux, func(h http.Handler) http.Handler { return h })
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { writeText(w, http.StatusNotFound, "not found") })
	return mux
}

// requireDebugToken lets a request through only with a verified token granting roomList or
// roomAdmin: 401 without a valid token, 403 with a token lacking both grants. The token comes from
// the Authorization header or the access_token query parameter, so the HTML page (which polls
// /debug/actors by a relative URL) must be opened with ?access_token=… and passes it on.
func (s *Server) requireDebugToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := tokenFromRequest(r)
		if err == nil && tok == "" {
			writeText(w, http.StatusUnauthorized, "permissions denied")
			return
		}
		if err == nil {
			g, verr := s.verifier.Verify(tok)
			if verr == nil {
				if g.Video == nil || !(g.Video.RoomList || g.Video.RoomAdmin) {
					writeText(w, http.StatusForbidden, "permissions denied: roomList or roomAdmin grant required")
					return
				}
				next.ServeHTTP(w, r)
				return
			}
			err = verr
		}
		s.log.Debug("debug page token rejected", "path", r.URL.Path, "err", err)
		writeHTTPError(w, authHTTPError(err))
	})
}

// isInternalPath reports whether path is a debug or metrics route, which get no CORS headers
// unless the debug pages are public.
func isInternalPath(path string) bool {
	return path == "/metrics" || path == "/debug" || strings.HasPrefix(path, "/debug/")
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
