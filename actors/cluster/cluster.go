package cluster

import (
	"context"
	"fmt"
	"log/slog"
)

// Cluster is one node's view of the cluster: its registry entry, the room directory and the
// placer, wired so that the directory is rewritten when Redis comes back empty.
type Cluster struct {
	Registry  *Registry
	Directory *Directory
	Placer    *Placer
}

// Start registers the node described by node (NodeID, addresses, Stats; Region defaults to
// cfg.Region) and returns its cluster view. onLost, if set, receives the rooms this node held that
// another node took over while Redis was away; the caller closes them. Stats older than two TTLs
// make a node unavailable to the selector.
func Start(ctx context.Context, rdb RedisClient, cfg Config, node RegistryOptions, onLost func(rooms []string)) (*Cluster, error) {
	if node.Region == "" {
		node.Region = cfg.Region
	}
	log := node.Logger
	if log == nil {
		log = slog.Default()
	}
	dir := NewDirectory(rdb, node.NodeID, log)
	node.OnResync = func(ctx context.Context) {
		lost, err := dir.Rewrite(ctx)
		if err != nil {
			log.Warn("cluster: rewrite room directory", "node_id", node.NodeID, "err", err)
		}
		if len(lost) > 0 && onLost != nil {
			onLost(lost)
		}
	}
	reg, err := NewRegistry(rdb, node)
	if err != nil {
		return nil, err
	}
	sel, err := NewSelector(cfg.NodeSelector, 2*reg.TTL())
	if err != nil {
		return nil, err
	}
	if err := reg.Start(ctx); err != nil {
		return nil, fmt.Errorf("cluster: start: %w", err)
	}
	return &Cluster{Registry: reg, Directory: dir, Placer: NewPlacer(reg, dir, sel)}, nil
}

// Stop removes the node from the registry. Its directory entries stay until their rooms are
// released or taken over.
func (c *Cluster) Stop(ctx context.Context) error { return c.Registry.Stop(ctx) }
