package turn

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // coturn's REST scheme is HMAC-SHA1 by definition
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/actor-sfu/livekit-server/proto/livekit"
)

// DefaultExternalTTL is the lifetime of credentials minted for an
// rtc.turn_servers entry with a secret (LiveKit's default).
const DefaultExternalTTL = 14400 * time.Second

// ICEServers is the embedded server's entry for a participant's
// JoinResponse or ReconnectResponse: one ICEServer with freshly minted
// credentials whose URLs are, for each node IP, turn:<ip>:<udp>?transport=udp
// and turn:<ip>:<tcp>?transport=tcp, then turns:<domain>:<443>?transport=tcp.
// tlsOnly (the participant was moved to TURN/TLS, PROTOCOL.md §12.5) keeps
// only the turns: URL when there is one. Nil when no URL applies.
func (s *Server) ICEServers(participantSID string, tlsOnly bool) []*livekit.ICEServer {
	var urls []string
	if !tlsOnly || s.tlsPort == 0 {
		for _, ip := range s.nodeIPs {
			if s.udpPort > 0 {
				urls = append(urls, "turn:"+net.JoinHostPort(ip.String(), strconv.Itoa(s.udpPort))+"?transport=udp")
			}
			if s.tcpPort > 0 {
				urls = append(urls, "turn:"+net.JoinHostPort(ip.String(), strconv.Itoa(s.tcpPort))+"?transport=tcp")
			}
		}
	}
	if s.tlsPort > 0 {
		port := s.cfg.TLSURLPort
		if s.opts.EphemeralPorts {
			port = s.tlsPort
		}
		urls = append(urls, "turns:"+net.JoinHostPort(s.cfg.Domain, strconv.Itoa(port))+"?transport=tcp")
	}
	if len(urls) == 0 {
		return nil
	}
	c := s.Credentials(participantSID)
	return []*livekit.ICEServer{{Urls: urls, Username: c.Username, Credential: c.Password}}
}

// ExternalConfig is one rtc.turn_servers entry.
type ExternalConfig struct {
	Host       string `yaml:"host"`
	Port       int    `yaml:"port"`
	Protocol   string `yaml:"protocol"` // udp (default), tcp or tls
	Username   string `yaml:"username"`
	Credential string `yaml:"credential"`
	// Secret (or the trimmed content of SecretFile) turns on coturn's TURN
	// REST scheme: time-limited credentials minted per participant.
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	// TTL is the REST credentials' lifetime in seconds; default 14400.
	TTL int `yaml:"ttl"`
}

// External is a checked rtc.turn_servers entry, ready to hand to clients.
type External struct {
	url        string
	username   string
	credential string
	secret     string
	ttl        time.Duration
}

// NewExternal checks an entry and reads its secret_file.
func NewExternal(c ExternalConfig) (External, error) {
	if c.Host == "" || c.Port <= 0 || c.Port > 65535 {
		return External{}, fmt.Errorf("%w: host and port are required", ErrExternalServer)
	}
	hp := net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	e := External{username: c.Username, credential: c.Credential, secret: c.Secret, ttl: DefaultExternalTTL}
	switch strings.ToLower(c.Protocol) {
	case "", "udp":
		e.url = "turn:" + hp + "?transport=udp"
	case "tcp":
		e.url = "turn:" + hp + "?transport=tcp"
	case "tls":
		e.url = "turns:" + hp + "?transport=tcp"
	default:
		return External{}, fmt.Errorf("%w: %s: protocol %q is not udp, tcp or tls", ErrExternalServer, hp, c.Protocol)
	}
	if c.SecretFile != "" {
		s, err := readSecretFile(c.SecretFile)
		if err != nil {
			return External{}, err
		}
		e.secret = s
	}
	if c.TTL > 0 {
		e.ttl = time.Duration(c.TTL) * time.Second
	}
	if e.secret == "" && (e.username == "" || e.credential == "") {
		return External{}, fmt.Errorf("%w: %s: needs username and credential, or secret", ErrExternalServer, hp)
	}
	return e, nil
}

// NewExternals checks every rtc.turn_servers entry; the error names the
// first bad one by its index.
func NewExternals(cfgs []ExternalConfig) ([]External, error) {
	out := make([]External, 0, len(cfgs))
	for i, c := range cfgs {
		e, err := NewExternal(c)
		if err != nil {
			return nil, fmt.Errorf("rtc.turn_servers[%d]: %w", i, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// readSecretFile reads a shared secret that only its owner may read.
func readSecretFile(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrSecretFile, err)
	}
	if st.Mode().Perm()&0o007 != 0 {
		return "", fmt.Errorf("%w: %s is accessible to everyone (mode %v)", ErrSecretFile, path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrSecretFile, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%w: %s is empty", ErrSecretFile, path)
	}
	return s, nil
}

// ICEServer is the entry for one participant: static credentials as
// configured, or with a secret the TURN REST pair username
// "<expiry_unix>:<participant_sid>", credential
// base64(HMAC-SHA1(secret, username)).
func (e External) ICEServer(participantSID string, now time.Time) *livekit.ICEServer {
	if e.secret == "" {
		return &livekit.ICEServer{Urls: []string{e.url}, Username: e.username, Credential: e.credential}
	}
	user := strconv.FormatInt(now.Add(e.ttl).Unix(), 10) + ":" + participantSID
	return &livekit.ICEServer{Urls: []string{e.url}, Username: user, Credential: restCredential(e.secret, user)}
}

// TLS reports whether the entry is a turns: server.
func (e External) TLS() bool { return strings.HasPrefix(e.url, "turns:") }

// restCredential is coturn's use-auth-secret password for username.
func restCredential(secret, username string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Provider assembles a participant's ice_servers as LiveKit does
// (PROTOCOL.md §12.2): the embedded server, then each rtc.turn_servers
// entry, then one ICEServer for rtc.stun_servers. Nothing configured means
// an empty list (we never hand out public STUN servers). It is safe for
// concurrent use; its fields must not change once in use.
type Provider struct {
	Embedded *Server
	External []External
	STUN     []string
	now      func() time.Time
}

// ProviderConfig is everything a participant's ice_servers are made from.
type ProviderConfig struct {
	// TURN is the turn: section; the embedded server starts when Enabled.
	TURN Config
	// TURNOptions are the node facts the embedded server needs.
	TURNOptions Options
	// TURNServers is rtc.turn_servers.
	TURNServers []ExternalConfig
	// STUNServers is rtc.stun_servers (host:port).
	STUNServers []string
}

// NewProvider checks the external entries and starts the embedded server
// when the config enables it. Close stops it.
func NewProvider(c ProviderConfig) (*Provider, error) {
	ext, err := NewExternals(c.TURNServers)
	if err != nil {
		return nil, err
	}
	p := &Provider{External: ext, STUN: append([]string(nil), c.STUNServers...)}
	if c.TURN.Enabled {
		if p.Embedded, err = New(c.TURN, c.TURNOptions); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Close stops the embedded server, if any.
func (p *Provider) Close() error {
	if p.Embedded == nil {
		return nil
	}
	return p.Embedded.Close()
}

// ICEServers mints the list for one participant session; call it at every
// join and resume. tlsOnly keeps only TLS-capable TURN (the embedded turns:
// URL, or its plain URLs when it has no TLS port) and every external entry
// and STUN server, as LiveKit does.
func (p *Provider) ICEServers(participantSID string, tlsOnly bool) []*livekit.ICEServer {
	now := time.Now()
	if p.now != nil {
		now = p.now()
	}
	var out []*livekit.ICEServer
	if p.Embedded != nil {
		out = append(out, p.Embedded.ICEServers(participantSID, tlsOnly)...)
	}
	for _, e := range p.External {
		out = append(out, e.ICEServer(participantSID, now))
	}
	if len(p.STUN) > 0 {
		urls := make([]string, 0, len(p.STUN))
		for _, s := range p.STUN {
			urls = append(urls, "stun:"+strings.TrimPrefix(s, "stun:"))
		}
		out = append(out, &livekit.ICEServer{Urls: urls})
	}
	return out
}
