// Command livekit-server runs one SFU node that LiveKit clients and server SDKs can talk to.
//
//	livekit-server --dev                       # devkey/secret, 127.0.0.1:7880, UDP 7882, loopback ICE
//	livekit-server --config livekit.yaml       # livekit-server's YAML format
//	LIVEKIT_KEYS="key: secret" livekit-server --bind 0.0.0.0 --node-ip 203.0.113.7
//	livekit-server generate-keys               # a new API key and secret
//	livekit-server create-join-token --room r --identity i [--recorder] [server flags]
//	livekit-server ports [server flags]        # the ports the configuration uses
//
// SIGINT or SIGTERM disconnects every participant (leave SERVER_SHUTDOWN), closes the rooms and
// stops the HTTP server; the exit status is then 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/transport"
	"github.com/actor-sfu/livekit-server/transport/turn"
	"github.com/actor-sfu/livekit-server/transport/webhook"
)

// version is the node's own version string: the LiveKit server version it reports to clients.
const version = actors.ServerVersion

// shutdownTimeout bounds http.Server.Shutdown once the node has closed.
const shutdownTimeout = 5 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is main without the process globals, returning the exit status.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		if cmd, ok := subcommands[args[0]]; ok {
			if err := cmd(args[1:], getenv, stdout, stderr); err != nil {
				if errors.Is(err, flag.ErrHelp) {
					return 0
				}
				fmt.Fprintln(stderr, "livekit-server "+args[0]+":", err)
				return 2
			}
			return 0
		}
	}
	ld, err := loadConfig(args, getenv, readConfigFile, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "livekit-server:", err)
		return 2
	}
	if ld.version {
		fmt.Fprintln(stderr, "livekit-server", version)
		return 0
	}
	log := newLogger(stderr, ld.level, ld.json)
	for _, w := range ld.warnings {
		log.Warn(w)
	}
	for _, a := range ld.alarms {
		log.Error(a)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, stop, ld, log); err != nil {
		log.Error("server failed", "err", err)
		return 1
	}
	return 0
}

// newLogger writes to w at level, as JSON or text.
func newLogger(w io.Writer, level slog.Level, json bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if json {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve runs the node until ctx is done (a signal arrived) or a listener fails. stop releases the
// signal handling once shutdown begins, so that a second signal kills the process the default way.
func serve(ctx context.Context, stop func(), ld *loaded, log *slog.Logger) error {
	cfg := &ld.cfg

	hooks, err := startWebhooks(ld, log)
	if err != nil {
		return err
	}
	resolveExternalIP(ctx, cfg, log)
	node, handler, metrics, ice, err := startNode(ld, hooks, log)
	if err != nil {
		if hooks != nil {
			_ = hooks.Close(context.Background())
		}
		return err
	}
	errorLog := slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	httpSrv := handler.HTTPServer(errorLog)
	servers, err := listenAll(cfg, httpSrv, sideServers(cfg, handler, metrics, errorLog), log)
	if err != nil {
		_ = node.Close(context.Background())
		closeProvider(ice, log)
		if hooks != nil {
			_ = hooks.Close(context.Background())
		}
		return err
	}
	serveErr := make(chan error, len(servers))
	for _, s := range servers {
		go func() { serveErr <- s.srv.Serve(s.l) }()
	}
	log.Info("livekit-server started", "version", version, "udp", node.UDPAddr(), "tcp", int(cfg.RTC.TCPPort), "node_ip", cfg.RTC.NodeIP, "turn", ice != nil && ice.Embedded != nil, "keys", ld.keys.Keys(), "dev", cfg.Dev)

	var failure error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "drain_timeout", cfg.DrainTimeout)
	case err := <-serveErr:
		failure = fmt.Errorf("http server: %w", err)
	}
	stop()                // a second signal now kills the process the default way
	handler.SetDraining() // GET / answers 503 from now on, so load balancers stop sending joins
	shutdown(shutdownPlan{cfg.DrainTimeout, cfg.WebhookDrainTimeout}, node, handler, hooks, uniqueServers(servers), log)
	closeProvider(ice, log) // after the node: its participants' relayed media ends with it
	log.Info("stopped")
	return failure
}

// startWebhooks returns the webhook notifier, or nil when no webhook URL is configured.
func startWebhooks(ld *loaded, log *slog.Logger) (*webhook.Notifier, error) {
	wh := ld.cfg.Webhook
	if len(wh.URLs) == 0 {
		return nil, nil
	}
	secret, _ := ld.keys.Secret(wh.APIKey)
	n, err := webhook.New(webhook.Config{URLs: wh.URLs, APIKey: wh.APIKey, APISecret: secret, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("starting webhooks: %w", err)
	}
	log.Info("webhooks enabled", "urls", wh.URLs)
	return n, nil
}

// startNode starts the TURN provider (when TURN is configured) and the actors node (its events
// going to hooks, when set), and builds the HTTP handler in front of it, with /metrics on the
// main port when --dev or --metrics-on-main-port asks for it.
func startNode(ld *loaded, hooks *webhook.Notifier, log *slog.Logger) (*actors.Node, *transport.Server, *transport.Metrics, *turn.Provider, error) {
	metricsOpts := transport.MetricsOptions{}
	nodeCfg := ld.cfg.nodeConfig(version, log)
	ice, err := startProvider(&ld.cfg, ld.keys, &nodeCfg, log)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if hooks != nil {
		metricsOpts.Webhooks = hooks
	}
	metrics := transport.NewMetrics(metricsOpts)
	nodeCfg.Events = func(e *livekit.WebhookEvent) {
		metrics.ObserveEvent(e)
		if hooks != nil {
			hooks.Notify(e)
		}
	}
	node, err := actors.NewNode(nodeCfg)
	if err != nil {
		closeProvider(ice, log)
		return nil, nil, nil, nil, fmt.Errorf("starting node: %w", err)
	}
	metrics.Attach(node)
	srvCfg := ld.cfg.serverConfig()
	srvCfg.Observer = metrics
	if ld.cfg.Dev || ld.cfg.MetricsOnMainPort {
		srvCfg.Metrics = metrics
	}
	return node, transport.NewServer(srvCfg, node, ld.keys, log), metrics, ice, nil
}

// closeProvider stops the embedded TURN server, if one runs.
func closeProvider(p *turn.Provider, log *slog.Logger) {
	if p == nil {
		return
	}
	if err := p.Close(); err != nil {
		log.Warn("TURN server did not close cleanly", "err", err)
	}
}

// boundServer is one listener and the server that serves it.
type boundServer struct {
	l    net.Listener
	srv  *http.Server
	role string
}

// sideServer is a listener of its own for an internal handler, before it is bound.
type sideServer struct {
	role string
	port int
	srv  *http.Server
}

// sideServers builds the optional listeners beside the main port: /metrics on prometheus.port and
// the debug pages on debug_handler.port. They are bound to the main port's bind addresses.
func sideServers(cfg *Config, handler *transport.Server, metrics *transport.Metrics, errorLog *log.Logger) []sideServer {
	var out []sideServer
	mk := func(h http.Handler) *http.Server {
		return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, ErrorLog: errorLog}
	}
	if p := cfg.metricsPort(); p != 0 {
		out = append(out, sideServer{"metrics", p, mk(transport.MetricsServer(metrics, cfg.Prometheus.Username, cfg.Prometheus.Password))})
	}
	if p := cfg.DebugHandler.Port; p != 0 {
		out = append(out, sideServer{"debug", p, mk(handler.DebugHandler())})
	}
	return out
}

// listenAll binds the main port and every side listener, or nothing when one fails.
func listenAll(cfg *Config, main *http.Server, sides []sideServer, log *slog.Logger) ([]boundServer, error) {
	type want struct {
		role  string
		addrs []string
		srv   *http.Server
	}
	wants := []want{{"http", cfg.listenAddrs(), main}}
	for _, s := range sides {
		wants = append(wants, want{s.role, cfg.listenAddrsFor(s.port), s.srv})
	}
	var out []boundServer
	for _, w := range wants {
		ls, err := listen(w.addrs)
		if err != nil {
			for _, b := range out {
				_ = b.l.Close()
			}
			return nil, err
		}
		for _, l := range ls {
			if w.role == "http" {
				l = transport.LimitListener(l, cfg.connLimits())
			}
			out = append(out, boundServer{l: l, srv: w.srv, role: w.role})
			log.Info("listening", w.role, l.Addr().String())
		}
	}
	return out, nil
}

// uniqueServers lists each server once, the main one first.
func uniqueServers(bound []boundServer) []*http.Server {
	var out []*http.Server
	seen := map[*http.Server]bool{}
	for _, b := range bound {
		if !seen[b.srv] {
			seen[b.srv] = true
			out = append(out, b.srv)
		}
	}
	return out
}

// listen opens a TCP listener on every address, or none when one fails.
func listen(addrs []string) ([]net.Listener, error) {
	var listeners []net.Listener
	for _, addr := range addrs {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			for _, prev := range listeners {
				_ = prev.Close()
			}
			return nil, fmt.Errorf("listening on %s: %w", addr, err)
		}
		listeners = append(listeners, l)
	}
	return listeners, nil
}

// shutdownPlan holds the shutdown budgets: drain for closing rooms and flushing the signal
// connections, hooks for delivering the webhooks queued by then.
type shutdownPlan struct {
	drain, hooks time.Duration
}

// shutdown closes the node (every participant gets leave SERVER_SHUTDOWN), lets the signal
// connections flush and close, delivers the last webhooks, then stops the HTTP servers. The
// webhooks get a budget of their own: the node's last events (room_finished, participant_left) are
// queued only as the rooms close, so a shared deadline spent on slow rooms would drop them.
func shutdown(plan shutdownPlan, node *actors.Node, handler *transport.Server, hooks *webhook.Notifier, servers []*http.Server, log *slog.Logger) {
	drainCtx, cancel := context.WithTimeout(context.Background(), plan.drain)
	defer cancel()
	if err := node.Close(drainCtx); err != nil {
		log.Warn("node did not close cleanly", "err", err)
	}
	// The leaves are queued; let every signal connection flush them and close.
	if err := handler.Drain(drainCtx); err != nil {
		log.Warn("signal connections did not all close in time", "err", err)
	}
	if hooks != nil {
		hookCtx, cancelHooks := context.WithTimeout(context.Background(), plan.hooks)
		defer cancelHooks()
		if err := hooks.Close(hookCtx); err != nil {
			log.Warn("webhooks not all delivered", "err", err, "dropped_total", hooks.Stats().Dropped)
		}
	}
	shutCtx, cancelShut := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancelShut()
	for _, srv := range servers {
		if err := srv.Shutdown(shutCtx); err != nil {
			log.Warn("http shutdown", "err", err)
		}
	}
}
