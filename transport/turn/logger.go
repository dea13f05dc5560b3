package turn

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// slogFactory routes pion's logging to slog. pion's error level is mostly
// client misbehaviour (bad integrity, unknown allocation), so it is logged
// at debug: a client must not be able to flood the node's log.
type slogFactory struct{ log *slog.Logger }

// NewLogger implements logging.LoggerFactory.
func (f slogFactory) NewLogger(scope string) logging.LeveledLogger {
	return slogLogger{log: f.log.With("pion", scope)}
}

type slogLogger struct{ log *slog.Logger }

func (l slogLogger) at(lvl slog.Level, msg string) {
	l.log.Log(context.Background(), lvl, msg)
}

// atf formats only when the level is on: pion logs per packet on some paths.
func (l slogLogger) atf(lvl slog.Level, format string, args []any) {
	if l.log.Enabled(context.Background(), lvl) {
		l.log.Log(context.Background(), lvl, fmt.Sprintf(format, args...))
	}
}

// The logging.LeveledLogger methods: trace is dropped, everything else is
// debug (see slogFactory).
func (l slogLogger) Trace(string)                      {}
func (l slogLogger) Tracef(string, ...any)             {}
func (l slogLogger) Debug(msg string)                  { l.at(slog.LevelDebug, msg) }
func (l slogLogger) Debugf(format string, args ...any) { l.atf(slog.LevelDebug, format, args) }
func (l slogLogger) Info(msg string)                   { l.at(slog.LevelDebug, msg) }
func (l slogLogger) Infof(format string, args ...any)  { l.atf(slog.LevelDebug, format, args) }
func (l slogLogger) Warn(msg string)                   { l.at(slog.LevelDebug, msg) }
func (l slogLogger) Warnf(format string, args ...any)  { l.atf(slog.LevelDebug, format, args) }
func (l slogLogger) Error(msg string)                  { l.at(slog.LevelDebug, msg) }
func (l slogLogger) Errorf(format string, args ...any) { l.atf(slog.LevelDebug, format, args) }
