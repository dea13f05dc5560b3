// Command livekit-cli talks to a LiveKit-compatible node: it calls the Room API, mints access
// tokens, joins rooms to publish IVF (VP8) and Ogg (Opus) files, and subscribes to every track of
// a room, recording video to IVF and audio to Ogg. The seed's flow works as written:
//
//	livekit-cli create-room                                   # generated name; prints the room's JSON
//	livekit-cli join --audio x.ogg --video y.ivf --room-id RM_…  # loops the files until Ctrl-C
//
//	livekit-cli [global flags] <command> [command flags]
//
// Global flags (also accepted after the command): --url (LIVEKIT_URL, default
// http://127.0.0.1:7880), --api-key (LIVEKIT_API_KEY, default devkey) and --api-secret
// (LIVEKIT_API_SECRET, default secret), which match a node started with --dev.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed
	exitUsage = 2 // bad command line
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, restore the default handling: a second Ctrl-C kills at once
		// even if leaving the room hangs.
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// commands lists every subcommand by name.
func commands() map[string]command {
	list := []command{
		{"create-room", "create a room, named or not (prints it as JSON; a join token on stderr)", cmdCreateRoom},
		{"list-rooms", "list rooms (all, or --names)", cmdListRooms},
		{"delete-room", "delete a room, disconnecting everyone in it", cmdDeleteRoom},
		{"list-participants", "list the participants of a room", cmdListParticipants},
		{"get-participant", "show one participant", cmdGetParticipant},
		{"remove-participant", "disconnect a participant from a room", cmdRemoveParticipant},
		{"mute-track", "mute or unmute a published track", cmdMuteTrack},
		{"update-metadata", "set room metadata, or a participant's with --identity", cmdUpdateMetadata},
		{"update-participant", "change a participant's name, metadata, attributes or permissions", cmdUpdateParticipant},
		{"send-data", "send a data packet to a room's participants", cmdSendData},
		{"create-token", "mint an access token (prints the JWT only)", cmdCreateToken},
		{"join", "join a room: publish IVF/Ogg files (looped until stopped), receive (and record) every track", cmdJoin},
		{"subscribe", "join a room without publishing: receive (and record) every track", cmdSubscribe},
	}
	m := make(map[string]command, len(list))
	for _, c := range list {
		m[c.name] = c
	}
	return m
}

// usageError is a bad command line; run prints it with the usage hint and exits 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// run is the whole program: it parses args (without the program name), runs one command and
// returns the exit code. Output goes to stdout (results) and stderr (progress, errors).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	tty := isTerminal(stderr)
	stdout, stderr = newSyncWriter(stdout), newSyncWriter(stderr)
	e := newEnv(stdout, stderr, tty)
	defer e.close()

	top := flag.NewFlagSet("livekit-cli", flag.ContinueOnError)
	top.SetOutput(io.Discard)
	e.addGlobalFlags(top)
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "livekit-cli: %v\n", err)
		fmt.Fprintln(stderr, "run 'livekit-cli help' for usage")
		return exitUsage
	}
	rest := top.Args()
	if len(rest) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	name := rest[0]
	if name == "help" {
		printUsage(stdout)
		return exitOK
	}
	cmd, ok := commands()[name]
	if !ok {
		fmt.Fprintf(stderr, "livekit-cli: unknown command %q\n", name)
		fmt.Fprintln(stderr, "run 'livekit-cli help' for usage")
		return exitUsage
	}
	err := cmd.run(ctx, e, rest[1:])
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "livekit-cli: %s: %s\n", name, ue.msg)
		fmt.Fprintf(stderr, "run 'livekit-cli %s -h' for usage\n", name)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "livekit-cli: %s: %s\n", name, describeError(err))
		return exitError
	}
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `livekit-cli talks to a LiveKit-compatible node.

usage: livekit-cli [global flags] <command> [command flags]

commands:
`)
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-20s %s\n", n, cmds[n].summary)
	}
	fmt.Fprint(w, `
global flags (before or after the command):
  --url URL          node address, http(s):// or ws(s):// (env LIVEKIT_URL, default `+defaultURL+`)
  --api-key KEY      API key (env LIVEKIT_API_KEY, default `+defaultAPIKey+`)
  --api-secret S     API secret (env LIVEKIT_API_SECRET, default `+defaultAPISecret+`)

'livekit-cli <command> -h' lists the flags of a command.
`)
}

// newFlagSet makes a subcommand's flag set with the global flags on it too, so that
// "livekit-cli list-rooms --url …" works as well as "livekit-cli --url … list-rooms".
func (e *env) newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: livekit-cli %s %s\n\nflags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	e.addGlobalFlags(fs)
	return fs
}

// parseFlags parses a subcommand's arguments; positional arguments are refused. The flag list is
// printed for -h only: a bad flag gets its one-line error and the -h hint from run, not the
// error twice around the whole list.
func parseFlags(fs *flag.FlagSet, args []string) error {
	usage, out := fs.Usage, fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.Usage = usage
	fs.SetOutput(out)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.Usage()
			return err
		}
		return &usageError{msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q (every value is given with a flag)", fs.Args())
	}
	return nil
}

// required returns a usage error naming the first empty value.
func required(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.TrimSpace(pairs[i+1]) == "" {
			return usagef("--%s is required", pairs[i])
		}
	}
	return nil
}
