package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/actor-sfu/livekit-server/actors"
	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/transport"
	"github.com/actor-sfu/livekit-server/transport/auth"
	"github.com/actor-sfu/livekit-server/transport/turn"
)

// Config is the node's configuration. YAML keys follow livekit-server's config file, so an existing
// file works unchanged for what this node supports; keys it does not know are reported, not fatal.
type Config struct {
	Port          int               `yaml:"port"`
	BindAddresses []string          `yaml:"bind_addresses"`
	Keys          map[string]string `yaml:"keys"`
	// KeyFile names LiveKit's key file ("key: secret" YAML); its keys replace keys:.
	KeyFile  string        `yaml:"key_file"`
	LogLevel string        `yaml:"log_level"`
	Logging  LoggingConfig `yaml:"logging"`
	RTC      RTCConfig     `yaml:"rtc"`
	Room     RoomConfig    `yaml:"room"`
	Webhook  WebhookConfig `yaml:"webhook"`
	Limit    LimitConfig   `yaml:"limit"`
	// PrometheusPort is LiveKit's older spelling of prometheus.port; prometheus.port wins.
	PrometheusPort int                `yaml:"prometheus_port"`
	Prometheus     PrometheusConfig   `yaml:"prometheus"`
	DebugHandler   DebugHandlerConfig `yaml:"debug_handler"`
	// TURN is LiveKit's turn: section: the embedded TURN server.
	TURN turn.Config `yaml:"turn"`

	// Set from flags only.
	Dev          bool          `yaml:"-"`
	DrainTimeout time.Duration `yaml:"-"`
	// WebhookDrainTimeout is the webhooks' own shutdown budget, spent after DrainTimeout, so that
	// slow room closing cannot eat the time the last events need.
	WebhookDrainTimeout time.Duration `yaml:"-"`
	// DebugPages serves /debug/ on the main port: to anyone with --dev, else behind a token with
	// the roomList or roomAdmin grant.
	DebugPages bool `yaml:"-"`
	// MetricsOnMainPort serves /metrics on the main port outside --dev too (it always is with --dev).
	MetricsOnMainPort bool `yaml:"-"`
}

// PrometheusConfig is the prometheus: section: a listener of its own for /metrics, optionally
// behind HTTP basic auth.
type PrometheusConfig struct {
	Port     int    `yaml:"port"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// DebugHandlerConfig is the debug_handler: section: a listener of its own for the debug pages,
// unauthenticated (keep it off the public network), bound like the main port.
type DebugHandlerConfig struct {
	Port int `yaml:"port"`
}

// LoggingConfig is the logging: section.
type LoggingConfig struct {
	Level string `yaml:"level"`
	JSON  bool   `yaml:"json"`
}

// RTCConfig is the rtc: section.
type RTCConfig struct {
	// UDPPort is the muxed ICE UDP port, or a range of them ("7882-7892").
	UDPPort PortRange `yaml:"udp_port"`
	TCPPort Port      `yaml:"tcp_port"`
	// PortRangeStart and PortRangeEnd give every PeerConnection its own UDP port from the
	// range, as LiveKit does when udp_port is not set.
	PortRangeStart int `yaml:"port_range_start"`
	PortRangeEnd   int `yaml:"port_range_end"`
	// Interfaces keeps (includes) or drops (excludes) network interfaces by name for ICE.
	Interfaces              InterfacesConfig `yaml:"interfaces"`
	NodeIP                  string           `yaml:"node_ip"`
	UseExternalIP           bool             `yaml:"use_external_ip"`
	EnableLoopbackCandidate bool             `yaml:"enable_loopback_candidate"`
	IPs                     IPsConfig        `yaml:"ips"`
	STUNServers             []string         `yaml:"stun_servers"`
	// TURNServers are external TURN servers handed to clients (LiveKit's rtc.turn_servers).
	TURNServers []turn.ExternalConfig `yaml:"turn_servers"`
	// SRTPGCMOnly (not a LiveKit key) offers only AEAD-AES-GCM SRTP profiles.
	SRTPGCMOnly bool `yaml:"srtp_gcm_only"`
	// DataChannelMaxBufferedAmount is LiveKit's key: bytes a subscriber's data channel may hold
	// unsent before the node drops data toward it (0 = default 1 MiB, negative = no cap).
	DataChannelMaxBufferedAmount int `yaml:"data_channel_max_buffered_amount"`
}

// InterfacesConfig is rtc.interfaces: interface names.
type InterfacesConfig struct {
	Includes []string `yaml:"includes"`
	Excludes []string `yaml:"excludes"`
}

// IPsConfig is rtc.ips: CIDRs (or IPs) of local addresses ICE may use.
type IPsConfig struct {
	Includes []string `yaml:"includes"`
	Excludes []string `yaml:"excludes"`
}

// RoomConfig is the room: section. Timeouts are in seconds, as in LiveKit.
type RoomConfig struct {
	AutoCreate         *bool `yaml:"auto_create"`
	EmptyTimeout       int   `yaml:"empty_timeout"`
	DepartureTimeout   int   `yaml:"departure_timeout"`
	MaxParticipants    int   `yaml:"max_participants"`
	EnableRemoteUnmute bool  `yaml:"enable_remote_unmute"`
	// MaxMetadataSize is LiveKit's room-level spelling of limit.max_metadata_size; the limit:
	// key wins when both are set.
	MaxMetadataSize int `yaml:"max_metadata_size"`
}

// LimitConfig is the limit: section. Zero means the built-in default; max_metadata_size,
// max_room_name_length and max_participant_identity_length are LiveKit's keys, the others are
// this node's.
type LimitConfig struct {
	MaxRooms                     int     `yaml:"max_rooms"`
	MaxTracksPerParticipant      int     `yaml:"max_tracks_per_participant"`
	MaxMetadataSize              int     `yaml:"max_metadata_size"`
	MaxAttributesSize            int     `yaml:"max_attributes_size"`
	MaxDataPacketSize            int     `yaml:"max_data_packet_size"`
	MaxRoomNameLength            int     `yaml:"max_room_name_length"`
	MaxParticipantIdentityLength int     `yaml:"max_participant_identity_length"`
	MaxParticipantNameLength     int     `yaml:"max_participant_name_length"`
	MaxSignalMessageSize         int64   `yaml:"max_signal_message_size"`
	SignalMessagesPerSecond      float64 `yaml:"signal_messages_per_second"`
	SignalMessageBurst           int     `yaml:"signal_message_burst"`
	// What one participant may send or make the room rebroadcast (see actors.Limits for the
	// defaults); negative data rates mean no cap.
	DataMessagesPerSecond           int `yaml:"data_messages_per_second"`
	DataBytesPerSecond              int `yaml:"data_bytes_per_second"`
	MaxTrackNameSize                int `yaml:"max_track_name_size"`
	MaxTrackLayers                  int `yaml:"max_track_layers"`
	MaxSimulcastCodecs              int `yaml:"max_simulcast_codecs"`
	MetadataUpdatesPerSecond        int `yaml:"metadata_updates_per_second"`
	ParticipantUpdateIntervalMs     int `yaml:"participant_update_interval_ms"`
	ParticipantUpdateBytesPerSecond int `yaml:"participant_update_bytes_per_second"`
	MaxSubscriptionTracks           int `yaml:"max_subscription_tracks"`
	MaxICECandidatesPerPC           int `yaml:"max_ice_candidates_per_pc"`
	// TCP connections the main port holds at once, in all and per remote IP (0 = the default
	// 10,000 and 512; negative = no cap).
	MaxConnections      int `yaml:"max_connections"`
	MaxConnectionsPerIP int `yaml:"max_connections_per_ip"`
}

// WebhookConfig is the webhook: section: every lifecycle event is POSTed to each URL, signed with
// APIKey's secret from keys:.
type WebhookConfig struct {
	URLs   []string `yaml:"urls"`
	APIKey string   `yaml:"api_key"`
}

// Port is a port number. YAML may give it as a number or a string.
type Port int

// UnmarshalYAML implements yaml.Unmarshaler.
func (p *Port) UnmarshalYAML(n *yaml.Node) error {
	s := strings.TrimSpace(n.Value)
	if strings.Contains(s, "-") {
		return fmt.Errorf("line %d: port range %q is not supported; give one port", n.Line, s)
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 || v > 65535 {
		return fmt.Errorf("line %d: invalid port %q", n.Line, s)
	}
	*p = Port(v)
	return nil
}

// PortRange is one port (End 0) or the ports Start..End, written "7882" or "7882-7892". Set says
// it was given (YAML, UDP_PORT or --udp-port) rather than defaulted.
type PortRange struct {
	Start, End int
	Set        bool
}

// parsePortRange parses "p" or "a-b".
func parsePortRange(s string) (PortRange, error) {
	s = strings.TrimSpace(s)
	a, b, isRange := strings.Cut(s, "-")
	start, err := strconv.Atoi(strings.TrimSpace(a))
	if err != nil || start < 0 || start > 65535 {
		return PortRange{}, fmt.Errorf("invalid port %q", s)
	}
	r := PortRange{Start: start, Set: true}
	if isRange {
		end, err := strconv.Atoi(strings.TrimSpace(b))
		if err != nil || end < start || end > 65535 || start == 0 {
			return PortRange{}, fmt.Errorf("invalid port range %q", s)
		}
		if end > start {
			r.End = end
		}
	}
	return r, nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (r *PortRange) UnmarshalYAML(n *yaml.Node) error {
	v, err := parsePortRange(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*r = v
	return nil
}

// String is "p" or "a-b".
func (r PortRange) String() string {
	if r.End > r.Start {
		return fmt.Sprintf("%d-%d", r.Start, r.End)
	}
	return strconv.Itoa(r.Start)
}

// ephemeralPorts reports whether every PeerConnection takes its own port from
// port_range_start..port_range_end: the range is given and udp_port is not.
func (c *RTCConfig) ephemeralPorts() bool {
	return !c.UDPPort.Set && c.PortRangeStart > 0 && c.PortRangeEnd >= c.PortRangeStart
}

// defaultConfig is what a node runs with when nothing is configured (besides keys).
func defaultConfig() Config {
	return Config{
		Port:                7880,
		RTC:                 RTCConfig{UDPPort: PortRange{Start: 7882}, TCPPort: 7881},
		DrainTimeout:        10 * time.Second,
		WebhookDrainTimeout: 5 * time.Second,
	}
}

// applyDev sets --dev defaults: a well-known key, loopback only, debug logs.
func (c *Config) applyDev() {
	c.Dev = true
	c.Keys = map[string]string{"devkey": "secret"}
	c.BindAddresses = []string{"127.0.0.1"}
	c.RTC.EnableLoopbackCandidate = true
	c.RTC.TCPPort = 0 // ICE over UDP only, as before ICE/TCP was on by default
	c.LogLevel = "debug"
	c.DebugPages = true
}

// debugAccess says how the main port serves the debug pages.
func (c *Config) debugAccess() transport.DebugAccess {
	switch {
	case !c.DebugPages:
		return transport.DebugOff
	case c.Dev:
		return transport.DebugPublic
	default:
		return transport.DebugToken
	}
}

// metricsPort is the port of the separate metrics listener, 0 for none.
func (c *Config) metricsPort() int {
	if c.Prometheus.Port != 0 {
		return c.Prometheus.Port
	}
	return c.PrometheusPort
}

// stringList is a flag that may be repeated or given comma-separated.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*s = append(*s, part)
		}
	}
	return nil
}

// flagValues holds the command line.
type flagValues struct {
	dev          bool
	configFile   string
	configBody   string
	keyFile      string
	bind         stringList
	port         int
	nodeIP       string
	udpPort      int
	tcpPort      int
	srtpGCMOnly  bool
	keys         string
	logLevel     string
	logFormat    string
	drainTimeout time.Duration
	hookDrain    time.Duration
	debugPages   bool
	mainMetrics  bool
	promPort     int
	version      bool

	maxRooms, maxParticipants, maxTracks int
	maxSignalMessageSize                 int64
	signalRate                           float64
}

func newFlagSet(out io.Writer) (*flag.FlagSet, *flagValues) {
	fv := &flagValues{}
	fs := flag.NewFlagSet("livekit-server", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.BoolVar(&fv.dev, "dev", false, "development mode: key devkey/secret, bind 127.0.0.1, loopback-only ICE, debug logs")
	fs.StringVar(&fv.configFile, "config", "", "YAML config file (livekit-server's format)")
	fs.StringVar(&fv.configBody, "config-body", "", "the YAML config itself, instead of a file; also LIVEKIT_CONFIG")
	fs.StringVar(&fv.keyFile, "key-file", "", `file of "key: secret" lines (YAML), readable by its owner only; replaces keys: (key_file)`)
	fs.Var(&fv.bind, "bind", "address to listen on for HTTP (repeatable; default all interfaces)")
	fs.IntVar(&fv.port, "port", 0, "HTTP port (default 7880)")
	fs.StringVar(&fv.nodeIP, "node-ip", "", "IP advertised in ICE candidates (rtc.node_ip); also NODE_IP")
	fs.IntVar(&fv.udpPort, "udp-port", 0, "the ICE UDP port every PeerConnection shares (rtc.udp_port, default 7882); also UDP_PORT, which may be a range a-b")
	fs.IntVar(&fv.tcpPort, "tcp-port", 0, "the passive ICE/TCP port (rtc.tcp_port; default 7881, off with --dev); 0 turns ICE/TCP off")
	fs.BoolVar(&fv.srtpGCMOnly, "srtp-gcm-only", false, "offer only AEAD-AES-GCM for SRTP (browsers then use it; clients without GCM cannot connect)")
	fs.StringVar(&fv.keys, "keys", "", `API keys as "key: secret" pairs (newline or comma separated); also LIVEKIT_KEYS`)
	fs.StringVar(&fv.logLevel, "log-level", "", "debug, info, warn or error")
	fs.StringVar(&fv.logFormat, "log-format", "", "text (default) or json")
	fs.DurationVar(&fv.drainTimeout, "drain-timeout", 0, "how long shutdown waits for rooms to close (default 10s)")
	fs.DurationVar(&fv.hookDrain, "webhook-drain-timeout", 0, "how long shutdown then waits for the last webhooks, on top of --drain-timeout (default 5s)")
	fs.BoolVar(&fv.debugPages, "debug-pages", false, "serve /debug/ and /debug/actors on the main port: public with --dev (the default there), else only with a roomList or roomAdmin token")
	fs.BoolVar(&fv.mainMetrics, "metrics-on-main-port", false, "serve /metrics on the main port outside --dev too (prefer prometheus.port)")
	fs.IntVar(&fv.promPort, "prometheus-port", 0, "serve /metrics on a listener of its own on this port (prometheus.port)")
	fs.IntVar(&fv.maxRooms, "max-rooms", 0, "most rooms this node hosts (limit.max_rooms; default no cap)")
	fs.IntVar(&fv.maxParticipants, "max-participants", 0, "most participants per room (room.max_participants; default no cap)")
	fs.IntVar(&fv.maxTracks, "max-tracks-per-participant", 0, "most tracks one participant publishes (limit.max_tracks_per_participant; default 16)")
	fs.Int64Var(&fv.maxSignalMessageSize, "max-signal-message-size", 0, "largest signalling frame in bytes (limit.max_signal_message_size; default 1 MiB)")
	fs.Float64Var(&fv.signalRate, "signal-rate", 0, "signalling frames per second per connection (limit.signal_messages_per_second; default 50, negative disables)")
	fs.BoolVar(&fv.version, "version", false, "print the version and exit")
	return fs, fv
}

// loaded is the outcome of loadConfig: the config, the key set and what to warn about.
type loaded struct {
	cfg       Config
	keys      auth.KeyProvider
	level     slog.Level
	json      bool
	warnings  []string
	alarms    []string // logged at error level: the node runs, but should not like this
	version   bool
	configSrc string
}

// loadConfig builds the configuration from, in increasing precedence: built-in defaults, --dev
// defaults, the YAML config (--config-body, else the LIVEKIT_CONFIG variable, else the --config
// file, as LiveKit chooses), the key file (key_file or --key-file), LIVEKIT_KEYS, NODE_IP and
// UDP_PORT, and flags. Unknown YAML keys become warnings, one line each.
func loadConfig(args []string, getenv func(string) string, readFile func(string) ([]byte, error), out io.Writer) (*loaded, error) {
	fs, fv := newFlagSet(out)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	res := &loaded{version: fv.version}

	cfg := defaultConfig()
	if fv.dev {
		cfg.applyDev()
	}
	if err := res.readYAML(fv, getenv, readFile, &cfg); err != nil {
		return nil, err
	}
	keys, err := loadKeys(&cfg, fv, set, getenv)
	if err != nil {
		return nil, err
	}
	if err := applyEnv(&cfg, getenv, set); err != nil {
		return nil, err
	}
	fv.applyTo(&cfg, set)
	if err := res.setLogging(&cfg, fv.logLevel, fv.logFormat); err != nil {
		return nil, err
	}
	res.warnings = append(res.warnings, cfg.dropUncredentialedTURNServers()...)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := cfg.checkKeys(keys, res.version); err != nil {
		return nil, err
	}
	res.warnings = append(res.warnings, cfg.unsupported()...)
	res.alarms = append(cfg.weakSecrets(keys), cfg.devExposure()...)
	res.cfg, res.keys = cfg, keys
	return res, nil
}

// readYAML decodes the YAML config over cfg and records each unknown key as a warning. Like
// LiveKit, a config body (--config-body, else LIVEKIT_CONFIG) wins over the --config file.
func (res *loaded) readYAML(fv *flagValues, getenv func(string) string, readFile func(string) ([]byte, error), cfg *Config) error {
	var body []byte
	switch {
	case fv.configBody != "":
		body, res.configSrc = []byte(fv.configBody), "--config-body"
	case getenv("LIVEKIT_CONFIG") != "":
		body, res.configSrc = []byte(getenv("LIVEKIT_CONFIG")), "LIVEKIT_CONFIG"
	case fv.configFile != "":
		b, err := readFile(fv.configFile)
		if err != nil {
			return fmt.Errorf("reading config: %w", err)
		}
		body, res.configSrc = b, fv.configFile
	}
	if len(body) == 0 {
		return nil
	}
	unknown, err := decodeYAML(body, cfg)
	if err != nil {
		return fmt.Errorf("config %s: %w", res.configSrc, err)
	}
	for _, key := range unknown {
		res.warnings = append(res.warnings, fmt.Sprintf("config %s: %s", res.configSrc, describeUnsupported(key)))
	}
	return nil
}

// loadKeys returns the key set: keys: from the config, replaced by the key file (key_file or
// --key-file) when there is one, replaced by LIVEKIT_KEYS, replaced by --keys.
func loadKeys(cfg *Config, fv *flagValues, set map[string]bool, getenv func(string) string) (auth.KeyProvider, error) {
	keys := auth.KeyProvider(cfg.Keys)
	if set["key-file"] {
		cfg.KeyFile = fv.keyFile
	}
	if cfg.KeyFile != "" {
		k, err := readKeyFile(cfg.KeyFile)
		if err != nil {
			return nil, err
		}
		keys = k
	}
	return overrideKeys(keys, getenv("LIVEKIT_KEYS"), fv.keys)
}

// applyEnv applies the variables LiveKit reads beside LIVEKIT_CONFIG and LIVEKIT_KEYS: NODE_IP
// (--node-ip) and UDP_PORT (--udp-port). A flag given on the command line wins.
func applyEnv(cfg *Config, getenv func(string) string, set map[string]bool) error {
	if v := getenv("NODE_IP"); v != "" && !set["node-ip"] {
		cfg.RTC.NodeIP = v
	}
	if v := getenv("UDP_PORT"); v != "" && !set["udp-port"] {
		r, err := parsePortRange(v)
		if err != nil {
			return fmt.Errorf("UDP_PORT: %w", err)
		}
		cfg.RTC.UDPPort = r
	}
	return nil
}

// overrideKeys returns the key set: the LIVEKIT_KEYS variable replaces the config file's keys, and
// --keys replaces both.
func overrideKeys(keys auth.KeyProvider, env, flagVal string) (auth.KeyProvider, error) {
	for _, src := range []struct{ name, val string }{{"LIVEKIT_KEYS", env}, {"--keys", flagVal}} {
		if src.val == "" {
			continue
		}
		k, err := auth.ParseKeys(src.val)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src.name, err)
		}
		keys = k
	}
	return keys, nil
}

// applyTo copies the flags given on the command line (set) over cfg.
func (fv *flagValues) applyTo(cfg *Config, set map[string]bool) {
	if set["bind"] {
		cfg.BindAddresses = fv.bind
	}
	if set["port"] {
		cfg.Port = fv.port
	}
	if set["node-ip"] {
		cfg.RTC.NodeIP = fv.nodeIP
	}
	if set["udp-port"] {
		cfg.RTC.UDPPort = PortRange{Start: fv.udpPort, Set: true}
	}
	if set["tcp-port"] {
		cfg.RTC.TCPPort = Port(fv.tcpPort)
	}
	if set["srtp-gcm-only"] {
		cfg.RTC.SRTPGCMOnly = fv.srtpGCMOnly
	}
	if set["drain-timeout"] {
		cfg.DrainTimeout = fv.drainTimeout
	}
	if set["webhook-drain-timeout"] {
		cfg.WebhookDrainTimeout = fv.hookDrain
	}
	if set["debug-pages"] {
		cfg.DebugPages = fv.debugPages
	}
	if set["metrics-on-main-port"] {
		cfg.MetricsOnMainPort = fv.mainMetrics
	}
	if set["prometheus-port"] {
		cfg.Prometheus.Port = fv.promPort
	}
	if set["max-rooms"] {
		cfg.Limit.MaxRooms = fv.maxRooms
	}
	if set["max-participants"] {
		cfg.Room.MaxParticipants = fv.maxParticipants
	}
	if set["max-tracks-per-participant"] {
		cfg.Limit.MaxTracksPerParticipant = fv.maxTracks
	}
	if set["max-signal-message-size"] {
		cfg.Limit.MaxSignalMessageSize = fv.maxSignalMessageSize
	}
	if set["signal-rate"] {
		cfg.Limit.SignalMessagesPerSecond = fv.signalRate
	}
}

// setLogging picks the log level (--log-level, logging.level, log_level, else info) and format
// (--log-format, else logging.json).
func (res *loaded) setLogging(cfg *Config, levelFlag, formatFlag string) error {
	level := firstNonEmpty(levelFlag, cfg.Logging.Level, cfg.LogLevel, "info")
	if strings.EqualFold(level, "warning") { // LiveKit's spelling
		level = "warn"
	}
	if err := res.level.UnmarshalText([]byte(level)); err != nil {
		return fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	switch formatFlag {
	case "", "text":
		res.json = cfg.Logging.JSON
	case "json":
		res.json = true
	default:
		return fmt.Errorf("--log-format %q: want text or json", formatFlag)
	}
	return nil
}

// errNoKeys: the configuration names no API key.
var errNoKeys = errors.New("no API keys: give --keys, --key-file, LIVEKIT_KEYS, keys: or key_file: in the config file, or use --dev")

// minSecretLength is the shortest API secret accepted without complaint outside --dev: an HS256
// secret shorter than 32 bytes can be guessed offline from one captured token.
const minSecretLength = 32

// checkKeys refuses a node without API keys (unless it only prints its version), a key with an
// empty secret (anyone could sign its tokens) and a webhook configuration whose signing key is
// missing.
func (c *Config) checkKeys(keys auth.KeyProvider, versionOnly bool) error {
	if len(keys) == 0 && !versionOnly {
		return errNoKeys
	}
	for _, k := range keys.Keys() {
		if secret, _ := keys.Secret(k); secret == "" {
			return fmt.Errorf("API key %q has an empty secret", k)
		}
	}
	if len(c.Webhook.URLs) > 0 {
		if c.Webhook.APIKey == "" {
			return errors.New("webhook.urls needs webhook.api_key to sign events")
		}
		if _, ok := keys.Secret(c.Webhook.APIKey); !ok {
			return fmt.Errorf("webhook.api_key %q is not one of the configured keys", c.Webhook.APIKey)
		}
	}
	return nil
}

// devExposure warns when --dev, whose key and secret are public knowledge, listens on an address
// other machines may reach: anyone there can then mint tokens for this node.
func (c *Config) devExposure() []string {
	if !c.Dev {
		return nil
	}
	var out []string
	for _, b := range c.BindAddresses {
		if ip := net.ParseIP(b); b == "" || ip == nil || !ip.IsLoopback() {
			out = append(out, fmt.Sprintf("--dev serves the well-known key %q on bind address %q, which other machines may reach: anyone can mint tokens for this node; use --keys or a key_file", "devkey", b))
		}
	}
	return out
}

// weakSecrets names the keys whose secrets are shorter than minSecretLength, unless the node runs
// with --dev (whose well-known key is meant for local use only).
func (c *Config) weakSecrets(keys auth.KeyProvider) []string {
	if c.Dev {
		return nil
	}
	var out []string
	for _, k := range keys.Keys() {
		if secret, _ := keys.Secret(k); len(secret) < minSecretLength {
			out = append(out, fmt.Sprintf("API key %q has a secret shorter than %d bytes: its tokens can be forged by guessing it; use a long random secret", k, minSecretLength))
		}
	}
	return out
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func (c *Config) validate() error {
	if c.Port <= 0 || c.Port > 65535 {
		return fmt.Errorf("port %d is out of range", c.Port)
	}
	if u := c.RTC.UDPPort; u.Start < 0 || u.Start > 65535 || (u.End != 0 && (u.End < u.Start || u.End > 65535)) {
		return fmt.Errorf("rtc.udp_port %s is out of range", u)
	}
	if s, e := c.RTC.PortRangeStart, c.RTC.PortRangeEnd; s < 0 || e < 0 || s > 65535 || e > 65535 || (s > 0 && e > 0 && e < s) ||
		(!c.RTC.UDPPort.Set && (s > 0) != (e > 0)) {
		return fmt.Errorf("rtc.port_range_start/end %d-%d is not a port range", s, e)
	}
	if err := c.RTC.validateFilters(); err != nil {
		return err
	}
	if c.RTC.TCPPort < 0 || c.RTC.TCPPort > 65535 {
		return fmt.Errorf("rtc.tcp_port %d is out of range", c.RTC.TCPPort)
	}
	if err := c.TURN.Validate(); err != nil {
		return err
	}
	if _, err := turn.NewExternals(c.RTC.TURNServers); err != nil {
		return err
	}
	if c.RTC.NodeIP != "" && net.ParseIP(c.RTC.NodeIP) == nil {
		return fmt.Errorf("rtc.node_ip %q is not an IP address", c.RTC.NodeIP)
	}
	for _, a := range c.BindAddresses {
		if a != "" && net.ParseIP(a) == nil {
			return fmt.Errorf("bind address %q is not an IP address", a)
		}
	}
	if c.Room.EmptyTimeout < 0 || c.Room.DepartureTimeout < 0 || c.Room.MaxParticipants < 0 || c.Room.MaxMetadataSize < 0 {
		return errors.New("room: timeouts and max_participants must not be negative")
	}
	l := c.Limit
	if l.MaxRooms < 0 || l.MaxTracksPerParticipant < 0 || l.MaxMetadataSize < 0 || l.MaxAttributesSize < 0 ||
		l.MaxDataPacketSize < 0 || l.MaxRoomNameLength < 0 || l.MaxParticipantIdentityLength < 0 ||
		l.MaxParticipantNameLength < 0 || l.MaxSignalMessageSize < 0 || l.SignalMessageBurst < 0 ||
		l.MaxTrackNameSize < 0 || l.MaxTrackLayers < 0 || l.MaxSimulcastCodecs < 0 || l.MetadataUpdatesPerSecond < 0 ||
		l.ParticipantUpdateIntervalMs < 0 || l.ParticipantUpdateBytesPerSecond < 0 || l.MaxSubscriptionTracks < 0 ||
		l.MaxICECandidatesPerPC < 0 {
		return errors.New("limit: sizes and counts must not be negative")
	}
	for name, p := range map[string]int{"prometheus.port": c.metricsPort(), "debug_handler.port": c.DebugHandler.Port} {
		if p < 0 || p > 65535 {
			return fmt.Errorf("%s %d is out of range", name, p)
		}
		if p != 0 && p == c.Port {
			return fmt.Errorf("%s %d is the main port; use --metrics-on-main-port / --debug-pages to serve them there", name, p)
		}
	}
	if c.Prometheus.Password != "" && c.Prometheus.Username == "" {
		return errors.New("prometheus.password needs prometheus.username")
	}
	if c.DrainTimeout <= 0 || c.WebhookDrainTimeout <= 0 {
		return errors.New("--drain-timeout and --webhook-drain-timeout must be positive")
	}
	return nil
}

// dropUncredentialedTURNServers removes the rtc.turn_servers entries with neither
// username+credential nor a secret, one warning each: LiveKit's sample has such an entry, and a
// browser given a turn: URL without credentials refuses the whole RTCConfiguration.
func (c *Config) dropUncredentialedTURNServers() []string {
	var w []string
	kept := c.RTC.TURNServers[:0:0]
	for i, e := range c.RTC.TURNServers {
		if e.Secret == "" && e.SecretFile == "" && (e.Username == "" || e.Credential == "") {
			w = append(w, fmt.Sprintf("rtc.turn_servers[%d] (%s:%d) has no username/credential or secret: it is not handed to clients", i, e.Host, e.Port))
			continue
		}
		kept = append(kept, e)
	}
	c.RTC.TURNServers = kept
	return w
}

// unsupported lists accepted settings this node does not act on (or acts on differently).
func (c *Config) unsupported() []string {
	var w []string
	if c.RTC.UseExternalIP && c.RTC.NodeIP != "" {
		w = append(w, "rtc.use_external_ip is ignored: rtc.node_ip "+c.RTC.NodeIP+" is advertised")
	}
	if c.RTC.UDPPort.Set && (c.RTC.PortRangeStart != 0 || c.RTC.PortRangeEnd != 0) {
		w = append(w, "rtc.port_range_start/end is ignored: ICE is muxed on rtc.udp_port "+c.RTC.UDPPort.String())
	}
	return w
}

// decodeYAML decodes body over cfg and returns the dotted paths of keys that cfg does not have.
func decodeYAML(body []byte, cfg *Config) ([]string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	if doc.Kind == 0 { // empty document
		return nil, nil
	}
	// A keys: section replaces the keys so far (--dev's) instead of merging into them.
	prevKeys := cfg.Keys
	cfg.Keys = nil
	defer func() {
		if cfg.Keys == nil {
			cfg.Keys = prevKeys
		}
	}()
	if err := doc.Decode(cfg); err != nil {
		return nil, err
	}
	var unknown []string
	collectUnknown(&doc, reflect.TypeOf(*cfg), "", &unknown)
	sort.Strings(unknown)
	return unknown, nil
}

// collectUnknown walks a YAML mapping beside the struct type t it decodes into.
func collectUnknown(n *yaml.Node, t reflect.Type, prefix string, out *[]string) {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind != yaml.MappingNode || t.Kind() != reflect.Struct {
		return
	}
	fields := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fields[name] = f.Type
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := n.Content[i].Value
		ft, ok := fields[key]
		if !ok {
			*out = append(*out, prefix+key)
			continue
		}
		collectUnknown(n.Content[i+1], ft, prefix+key+".", out)
	}
}

// nodeConfig builds the actors configuration.
func (c *Config) nodeConfig(version string, log *slog.Logger) actors.Config {
	bindIP := ""
	if len(c.BindAddresses) == 1 {
		bindIP = c.BindAddresses[0]
	}
	var ice []*livekit.ICEServer
	if len(c.RTC.STUNServers) > 0 {
		urls := make([]string, 0, len(c.RTC.STUNServers))
		for _, s := range c.RTC.STUNServers {
			if !strings.HasPrefix(s, "stun:") && !strings.HasPrefix(s, "stuns:") {
				s = "stun:" + s
			}
			urls = append(urls, s)
		}
		ice = []*livekit.ICEServer{{Urls: urls}}
	}
	return actors.Config{
		Version: version,
		Logger:  log,
		Media:   c.RTC.mediaConfig(bindIP, c.Dev),
		Room: actors.RoomConfig{
			EmptyTimeout:       time.Duration(c.Room.EmptyTimeout) * time.Second,
			DepartureTimeout:   time.Duration(c.Room.DepartureTimeout) * time.Second,
			MaxParticipants:    c.Room.MaxParticipants,
			DisableAutoCreate:  c.Room.AutoCreate != nil && !*c.Room.AutoCreate,
			EnableRemoteUnmute: c.Room.EnableRemoteUnmute,
		},
		Limits: actors.Limits{
			MaxRooms:                c.Limit.MaxRooms,
			MaxTracksPerParticipant: c.Limit.MaxTracksPerParticipant,
			MaxMetadataSize:         cmp.Or(c.Limit.MaxMetadataSize, c.Room.MaxMetadataSize),
			MaxAttributesSize:       c.Limit.MaxAttributesSize,
			MaxDataPacketSize:       c.Limit.MaxDataPacketSize,

			DataMessagesPerSecond:           c.Limit.DataMessagesPerSecond,
			DataBytesPerSecond:              c.Limit.DataBytesPerSecond,
			DataChannelMaxBufferedAmount:    c.RTC.DataChannelMaxBufferedAmount,
			MaxTrackNameSize:                c.Limit.MaxTrackNameSize,
			MaxTrackLayers:                  c.Limit.MaxTrackLayers,
			MaxSimulcastCodecs:              c.Limit.MaxSimulcastCodecs,
			MaxParticipantNameSize:          c.Limit.MaxParticipantNameLength,
			MetadataUpdatesPerSecond:        c.Limit.MetadataUpdatesPerSecond,
			ParticipantUpdateInterval:       time.Duration(c.Limit.ParticipantUpdateIntervalMs) * time.Millisecond,
			ParticipantUpdateBytesPerSecond: c.Limit.ParticipantUpdateBytesPerSecond,
			MaxSubscriptionTracks:           c.Limit.MaxSubscriptionTracks,
			MaxICECandidatesPerPC:           c.Limit.MaxICECandidatesPerPC,
		},
		ICEServers: ice,
	}
}

// serverConfig builds the transport configuration.
func (c *Config) serverConfig() transport.ServerConfig {
	return transport.ServerConfig{
		MaxSignalMessageSize: c.Limit.MaxSignalMessageSize,
		SignalRateLimit:      c.Limit.SignalMessagesPerSecond,
		SignalRateBurst:      c.Limit.SignalMessageBurst,
		MaxRoomNameLength:    c.Limit.MaxRoomNameLength,
		MaxIdentityLength:    c.Limit.MaxParticipantIdentityLength,
		MaxNameLength:        c.Limit.MaxParticipantNameLength,
		Debug:                c.debugAccess(),
	}
}

// connLimits is the cap on the main port's TCP connections.
func (c *Config) connLimits() transport.ConnLimits {
	pick := func(v, def int) int {
		switch {
		case v < 0:
			return 0
		case v == 0:
			return def
		}
		return v
	}
	return transport.ConnLimits{Total: pick(c.Limit.MaxConnections, 10000), PerIP: pick(c.Limit.MaxConnectionsPerIP, 512)}
}

// listenAddrs returns the HTTP listen addresses of the main port.
func (c *Config) listenAddrs() []string { return c.listenAddrsFor(c.Port) }

// listenAddrsFor returns the listen addresses of port on every bind address.
func (c *Config) listenAddrsFor(port int) []string {
	binds := c.BindAddresses
	if len(binds) == 0 {
		binds = []string{""}
	}
	out := make([]string, 0, len(binds))
	for _, b := range binds {
		out = append(out, net.JoinHostPort(b, strconv.Itoa(port)))
	}
	return out
}
