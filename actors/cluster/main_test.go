package cluster_test

import (
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/actor-sfu/livekit-server/actors/cluster"
)

func TestMain(m *testing.M) {
	cluster.RouteRedisLogs(slog.New(slog.NewTextHandler(io.Discard, nil)))
	os.Exit(m.Run())
}
