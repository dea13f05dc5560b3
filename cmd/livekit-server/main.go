// Command livekit-server runs one SFU node that LiveKit clients and server SDKs can talk to.
//
//	livekit-server --dev                       # devkey/secret, 127.0.0.1:7880, UDP 7882, loopback ICE
//	livekit-server --config livekit.yaml       # livekit-server's YAML format
//	LIVEKIT_KEYS="key: secret" livekit-server --bind 0.0.0.0 --node-ip 203.0.113.7
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
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/transport"
	"github.com/actor-sfu/livekit-server/transport/webhook"
)

// version is the node's own version string: the LiveKit server version it reports to clients.
const version = actors.ServerVersion

// shutdownTimeout bounds http.Server.Shutdown once the node has closed.
const shutdownTimeout = 5 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stderr))
}

// run is main without the process globals, returning the exit status.
func run(args []string, getenv func(string) string, stderr io.Writer) int {
	ld, err := loadConfig(args, getenv, os.ReadFile, stderr)
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
	if err := serve(ld, log); err != nil {
		log.Error("server failed", "err", err)
		return 1
	}
	return 0
}

func newLogger(w io.Writer, level slog.Level, json bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if json {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve runs the node until a signal arrives or a listener fails.
func serve(ld *loaded, log *slog.Logger) error {
	cfg := &ld.cfg
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	hooks, err := startWebhooks(ld, log)
	if err != nil {
		return err
	}
	node, handler, err := startNode(ld, hooks, log)
	if err != nil {
		if hooks != nil {
			_ = hooks.Close(context.Background())
		}
		return err
	}
	httpSrv := handler.HTTPServer(slog.NewLogLogger(log.Handler(), slog.LevelDebug))
	listeners, err := listen(cfg.listenAddrs())
	if err != nil {
		_ = node.Close(context.Background())
		return err
	}
	serveErr := make(chan error, len(listeners))
	for _, l := range listeners {
		go func() { serveErr <- httpSrv.Serve(l) }()
		log.Info("listening", "http", l.Addr().String())
	}
	log.Info("livekit-server started", "version", version, "udp", node.UDPAddr(), "keys", ld.keys.Keys(), "dev", cfg.Dev)

	var failure error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "drain_timeout", cfg.DrainTimeout)
	case err := <-serveErr:
		failure = fmt.Errorf("http server: %w", err)
	}
	stop() // a second signal now kills the process the default way
	shutdown(cfg.DrainTimeout, node, handler, hooks, httpSrv, log)
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

// startNode starts the actors node (its events going to hooks, when set) and builds the HTTP
// handler in front of it, /metrics included.
func startNode(ld *loaded, hooks *webhook.Notifier, log *slog.Logger) (*actors.Node, *transport.Server, error) {
	metricsOpts := transport.MetricsOptions{}
	nodeCfg := ld.cfg.nodeConfig(version, log)
	if hooks != nil {
		metricsOpts.Webhooks = hooks
		nodeCfg.Events = hooks.Notify
	}
	metrics := transport.NewMetrics(metricsOpts)
	node, err := actors.NewNode(nodeCfg)
	if err != nil {
		return nil, nil, fmt.Errorf("starting node: %w", err)
	}
	metrics.Attach(node)
	srvCfg := ld.cfg.serverConfig()
	srvCfg.Metrics = metrics
	return node, transport.NewServer(srvCfg, node, ld.keys, log), nil
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

// shutdown closes the node (every participant gets leave SERVER_SHUTDOWN), lets the signal
// connections flush and close, delivers the last webhooks, then stops the HTTP server. The first
// three share drainTimeout.
func shutdown(drainTimeout time.Duration, node *actors.Node, handler *transport.Server, hooks *webhook.Notifier, httpSrv *http.Server, log *slog.Logger) {
	drainCtx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if err := node.Close(drainCtx); err != nil {
		log.Warn("node did not close cleanly", "err", err)
	}
	// The leaves are queued; let every signal connection flush them and close.
	if err := handler.Drain(drainCtx); err != nil {
		log.Warn("signal connections did not all close in time", "err", err)
	}
	if hooks != nil {
		// The node's last events (room_finished, participant_left) are queued by now.
		if err := hooks.Close(drainCtx); err != nil {
			log.Warn("webhooks not all delivered", "err", err)
		}
	}
	shutCtx, cancelShut := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancelShut()
	if err := httpSrv.Shutdown(shutCtx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
}
