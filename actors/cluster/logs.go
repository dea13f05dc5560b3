package cluster

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// RouteRedisLogs sends go-redis's own messages (dial failures while Redis is away, retried on
// every attempt) to log at debug level instead of the standard logger; the registry already warns
// once when Redis stops answering. go-redis's logger is process-wide, so the node calls this once.
func RouteRedisLogs(log *slog.Logger) {
	redis.SetLogger(slogPrintf{log})
}

type slogPrintf struct{ log *slog.Logger }

func (l slogPrintf) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}
