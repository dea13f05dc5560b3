package cluster_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/actor-sfu/livekit-server/actors/cluster"
	"github.com/actor-sfu/livekit-server/testkit/redis"
)

// After Redis lost its data, a room another node placed in the gap is reported lost; the others
// are written back.
func TestDirectoryRewriteReportsLostRooms(t *testing.T) {
	srv := redis.Start(t)
	ctx := context.Background()
	rdb := srv.Client()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	d1 := cluster.NewDirectory(rdb, "ND_1", quiet)
	d2 := cluster.NewDirectory(rdb, "ND_2", quiet)
	for _, room := range []string{"x", "y", "z"} {
		if err := d1.Claim(ctx, room); err != nil {
			t.Fatal(err)
		}
	}
	if err := d2.Claim(ctx, "x"); err == nil {
		t.Fatal("ND_2 claimed ND_1's room")
	}
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if owner, err := d2.Place(ctx, "x", "ND_2"); err != nil || owner != "ND_2" {
		t.Fatalf("place in the gap: %q %v", owner, err)
	}
	lost, err := d1.Rewrite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(lost, []string{"x"}) || !slices.Equal(d1.Owned(), []string{"y", "z"}) {
		t.Fatalf("lost %v, still owned %v", lost, d1.Owned())
	}
	for room, want := range map[string]string{"x": "ND_2", "y": "ND_1", "z": "ND_1"} {
		if got, ok, err := d1.Lookup(ctx, room); err != nil || !ok || got != want {
			t.Fatalf("%s: %q %v %v, want %s", room, got, ok, err, want)
		}
	}
}
