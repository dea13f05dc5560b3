// This file holds the adapter that routes pion's logs into slog.
//
// Who writes what: each pion object logs through its own pionLogger from
// its own goroutines; the limiter is atomics only.

package media

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/pion/logging"
)

// pionLogInterval is the least time between two lines of one pion logger.
// pion logs some per-packet problems at Error (a datagram over the receive
// MTU, a packet that fails SRTP authentication), so without a limit a peer
// could write one line to our log per packet it sends.
const pionLogInterval = time.Second

// pionLogMax truncates pion's messages, which can quote peer input.
const pionLogMax = 256

// pionLogs is a pion LoggerFactory over slog: pion's errors become Warn,
// its warnings, info and debug lines Debug (pion's own default shows errors
// only; its warnings are routine: "no candidate pairs yet"), its trace
// nothing; every
// logger writes at most one line per pionLogInterval and reports how many
// it held back.
type pionLogs struct{ log *slog.Logger }

// NewLogger returns the logger for one pion object's scope ("ice", "mux"…).
func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return &pionLogger{log: f.log.With("pion", scope)}
}

type pionLogger struct {
	log        *slog.Logger
	next       atomic.Int64 // nanotime before which lines are only counted
	suppressed atomic.Uint64
}

// emit writes one line if the level is enabled and the limiter allows it;
// the message is formatted only then.
func (l *pionLogger) emit(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	now := nanotime()
	next := l.next.Load()
	if now < next || !l.next.CompareAndSwap(next, now+int64(pionLogInterval)) {
		l.suppressed.Add(1)
		return
	}
	msg := format
	if args != nil {
		msg = fmt.Sprintf(format, args...)
	}
	if len(msg) > pionLogMax {
		msg = msg[:pionLogMax] + "…"
	}
	if n := l.suppressed.Swap(0); n > 0 {
		l.log.Log(ctx, level, msg, "suppressed", n)
		return
	}
	l.log.Log(ctx, level, msg)
}

func (l *pionLogger) Trace(string)                      {}
func (l *pionLogger) Tracef(string, ...any)             {}
func (l *pionLogger) Debug(msg string)                  { l.emit(slog.LevelDebug, msg, nil) }
func (l *pionLogger) Debugf(format string, args ...any) { l.emit(slog.LevelDebug, format, args) }
func (l *pionLogger) Info(msg string)                   { l.emit(slog.LevelDebug, msg, nil) }
func (l *pionLogger) Infof(format string, args ...any)  { l.emit(slog.LevelDebug, format, args) }
func (l *pionLogger) Warn(msg string)                   { l.emit(slog.LevelDebug, msg, nil) }
func (l *pionLogger) Warnf(format string, args ...any)  { l.emit(slog.LevelDebug, format, args) }
func (l *pionLogger) Error(msg string)                  { l.emit(slog.LevelWarn, msg, nil) }
func (l *pionLogger) Errorf(format string, args ...any) { l.emit(slog.LevelWarn, format, args) }
