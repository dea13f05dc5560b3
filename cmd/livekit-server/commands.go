package main

// Subcommands of LiveKit's server binary: generate-keys, create-join-token and ports, with its
// output format, so scripts written around livekit-server keep working.

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/actor-sfu/livekit-server/transport/auth"
	"github.com/actor-sfu/livekit-server/transport/turn"
)

// base62 is the alphabet of generated keys and secrets.
const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// joinTokenValidFor is create-join-token's lifetime, LiveKit's 30 days.
const joinTokenValidFor = 30 * 24 * time.Hour

// subcommands maps a first argument to its handler; the rest of the arguments follow.
var subcommands = map[string]func(args []string, getenv func(string) string, stdout, stderr io.Writer) error{
	"generate-keys":     cmdGenerateKeys,
	"create-join-token": cmdCreateJoinToken,
	"ports":             cmdPorts,
}

// randomString returns n characters drawn uniformly from base62 with crypto/rand.
func randomString(n int) (string, error) {
	out := make([]byte, n)
	max := big.NewInt(int64(len(base62)))
	for i := range out {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("random: %w", err)
		}
		out[i] = base62[v.Int64()]
	}
	return string(out), nil
}

// cmdGenerateKeys prints a new API key ("API" and 12 characters, as LiveKit's) and a 44-character
// secret (262 bits), in LiveKit's two-line format.
func cmdGenerateKeys(args []string, _ func(string) string, stdout, _ io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("generate-keys takes no arguments, got %q", args)
	}
	key, err := randomString(12)
	if err != nil {
		return err
	}
	secret, err := randomString(44)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "API Key: ", "API"+key)
	fmt.Fprintln(stdout, "API Secret: ", secret)
	return nil
}

// cmdCreateJoinToken prints "Token: <jwt>": a 30-day join token for --room and --identity signed
// with the first configured key (keys are read as the server reads them). --recorder makes a
// hidden recorder that may only subscribe, as LiveKit's.
func cmdCreateJoinToken(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	sub := flag.NewFlagSet("create-join-token", flag.ContinueOnError)
	sub.SetOutput(stderr)
	room := sub.String("room", "", "name of the room to join (required)")
	identity := sub.String("identity", "", "identity of the participant holding the token (required)")
	recorder := sub.Bool("recorder", false, "a hidden participant that can only subscribe")
	serverArgs, err := splitSubcommandFlags(sub, args)
	if err != nil {
		return err
	}
	if *room == "" || *identity == "" {
		return errors.New("create-join-token needs --room and --identity")
	}
	ld, err := loadConfig(serverArgs, getenv, readConfigFile, io.Discard)
	if err != nil {
		return err
	}
	keys := ld.keys.Keys()
	key := keys[0]
	secret, _ := ld.keys.Secret(key)
	g := &auth.VideoGrant{RoomJoin: true, Room: *room}
	if *recorder {
		no := false
		g.Hidden, g.Recorder, g.CanPublish, g.CanPublishData = true, true, &no, &no
	}
	tok, err := auth.NewAccessToken(key, secret).SetIdentity(*identity).SetVideoGrant(g).SetValidFor(joinTokenValidFor).ToJWT()
	if err != nil {
		return fmt.Errorf("signing token: %w", err)
	}
	fmt.Fprintln(stdout, "Token:", tok)
	return nil
}

// splitSubcommandFlags parses the subcommand's own flags out of args and returns the others
// (server flags such as --config or --keys), which the subcommand reads the configuration with.
func splitSubcommandFlags(sub *flag.FlagSet, args []string) ([]string, error) {
	var own, rest []string
	for i := 0; i < len(args); i++ {
		name := args[i]
		for len(name) > 0 && name[0] == '-' {
			name = name[1:]
		}
		base, _, hasValue := strings.Cut(name, "=")
		f := sub.Lookup(base)
		switch {
		case f == nil:
			rest = append(rest, args[i])
		case hasValue || isBoolFlag(f):
			own = append(own, args[i])
		case i+1 < len(args):
			own = append(own, args[i], args[i+1])
			i++
		default:
			own = append(own, args[i])
		}
	}
	if err := sub.Parse(own); err != nil {
		return nil, err
	}
	return rest, nil
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// cmdPorts prints the ports the configuration uses, in LiveKit's format.
func cmdPorts(args []string, getenv func(string) string, stdout, _ io.Writer) error {
	ld, err := loadConfig(args, getenv, readConfigFile, io.Discard)
	if errors.Is(err, errNoKeys) {
		// ports needs no keys; a placeholder lets a config without them still answer.
		ld, err = loadConfig(args, func(k string) string {
			if k == "LIVEKIT_KEYS" {
				return "ports-placeholder: " + placeholderSecret
			}
			return getenv(k)
		}, readConfigFile, io.Discard)
	}
	if err != nil {
		return err
	}
	c := ld.cfg
	fmt.Fprintln(stdout, "TCP Ports")
	fmt.Fprintf(stdout, "%d - HTTP service\n", c.Port)
	if c.RTC.TCPPort != 0 {
		fmt.Fprintf(stdout, "%d - ICE/TCP\n", c.RTC.TCPPort)
	}
	if p := c.metricsPort(); p != 0 {
		fmt.Fprintf(stdout, "%d - Prometheus metrics\n", p)
	}
	if p := c.DebugHandler.Port; p != 0 {
		fmt.Fprintf(stdout, "%d - debug pages\n", p)
	}
	if t := c.TURN; t.Enabled {
		if t.TCPPort != 0 {
			fmt.Fprintf(stdout, "%d - TURN/TCP\n", t.TCPPort)
		}
		if t.TLSPort != 0 {
			fmt.Fprintf(stdout, "%d - TURN/TLS\n", t.TLSPort)
		}
	}
	fmt.Fprintln(stdout, "UDP Ports")
	if c.RTC.ephemeralPorts() {
		fmt.Fprintf(stdout, "%d-%d - ICE/UDP range\n", c.RTC.PortRangeStart, c.RTC.PortRangeEnd)
	} else {
		fmt.Fprintf(stdout, "%s - ICE/UDP\n", c.RTC.UDPPort)
	}
	if t := c.TURN; t.Enabled {
		if t.UDPPort != 0 {
			fmt.Fprintf(stdout, "%d - TURN/UDP\n", t.UDPPort)
		}
		start, end := t.RelayRangeStart, t.RelayRangeEnd
		if start == 0 && end == 0 {
			start, end = turn.DefaultRelayRangeStart, turn.DefaultRelayRangeEnd
		}
		fmt.Fprintf(stdout, "%d-%d - TURN relay\n", start, end)
	}
	return nil
}

// readConfigFile reads --config files.
var readConfigFile = os.ReadFile

// placeholderSecret stands in for keys when only the ports are asked for; it signs nothing.
const placeholderSecret = "placeholder-secret-that-signs-nothing-00000"
