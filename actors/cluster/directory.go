package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/redis/go-redis/v9"
)

// roomKeyPrefix names the directory entries: livekit:rooms/<name> → node id. Entries have no TTL;
// a dead owner is detected through the registry and the entry taken over.
const roomKeyPrefix = "livekit:rooms/"

func roomKey(name string) string { return roomKeyPrefix + name }

// casScript replaces KEYS[1] by ARGV[2] only while it still holds ARGV[1]; it returns 1 when it
// did. Two readers that both saw the same dead owner race here and exactly one wins.
var casScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	redis.call("SET", KEYS[1], ARGV[2])
	return 1
end
return 0`)

// delScript deletes KEYS[1] only while it holds ARGV[1], so that a node never releases a room
// another node has taken over.
var delScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// Directory maps room names to the node that holds them. Every write is a compare-and-set, so
// nodes that place the same room at the same moment agree on one owner. It remembers which rooms
// this node owns, to write them again after Redis lost its data.
type Directory struct {
	rdb  RedisClient
	self string
	log  *slog.Logger

	mu    sync.Mutex
	owned map[string]struct{}
}

// NewDirectory returns the directory as seen by node self.
func NewDirectory(rdb RedisClient, self string, log *slog.Logger) *Directory {
	if log == nil {
		log = slog.Default()
	}
	return &Directory{rdb: rdb, self: self, log: log.With("node_id", self), owned: map[string]struct{}{}}
}

// Lookup returns the node id recorded for room; ok is false when the room is not placed.
func (d *Directory) Lookup(ctx context.Context, room string) (node string, ok bool, err error) {
	node, err = d.rdb.Get(ctx, roomKey(room)).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("cluster: look up room %q: %w", room, err)
	}
	return node, true, nil
}

// Place records room on node unless it is already placed (SET NX). It returns the owner after the
// call: node when this call placed it, else whoever holds it.
func (d *Directory) Place(ctx context.Context, room, node string) (owner string, err error) {
	// SET NX, then GET when it was taken; the few retries cover a release in between. (SET NX GET
	// would save the second trip but needs Redis 7.)
	for range 3 {
		set, err := d.rdb.SetNX(ctx, roomKey(room), node, 0).Result()
		if err != nil {
			return "", fmt.Errorf("cluster: place room %q: %w", room, err)
		}
		if set {
			owner = node
			break
		}
		holder, ok, err := d.Lookup(ctx, room)
		if err != nil {
			return "", err
		}
		if ok {
			owner = holder
			break
		}
	}
	if owner == "" {
		return "", fmt.Errorf("cluster: place room %q: entry kept changing", room)
	}
	d.track(room, owner)
	return owner, nil
}

// TakeOver moves room from oldNode (found dead) to newNode if the entry still names oldNode. It
// returns the owner after the call; when another node won the race that is the other node's pick.
func (d *Directory) TakeOver(ctx context.Context, room, oldNode, newNode string) (owner string, err error) {
	n, err := casScript.Run(ctx, d.rdb, []string{roomKey(room)}, oldNode, newNode).Int()
	if err != nil {
		return "", fmt.Errorf("cluster: take over room %q from %s: %w", room, oldNode, err)
	}
	if n == 1 {
		d.track(room, newNode)
		return newNode, nil
	}
	owner, ok, err := d.Lookup(ctx, room)
	if err != nil {
		return "", err
	}
	if !ok {
		// Released between our CAS and the read: place it afresh.
		return d.Place(ctx, room, newNode)
	}
	d.track(room, owner)
	return owner, nil
}

// Claim records that this node now holds room: the room's node calls it when it starts the room,
// whoever placed it. It fails with ErrNotOwner if the entry names another node.
func (d *Directory) Claim(ctx context.Context, room string) error {
	owner, err := d.Place(ctx, room, d.self)
	if err != nil {
		return err
	}
	if owner != d.self {
		return fmt.Errorf("cluster: claim room %q: held by %s: %w", room, owner, ErrNotOwner)
	}
	return nil
}

// ErrNotOwner is returned when a room's entry names another node.
var ErrNotOwner = errors.New("room is placed on another node")

// Release removes room's entry if this node holds it; the room's node calls it when the room
// closes.
func (d *Directory) Release(ctx context.Context, room string) error {
	d.mu.Lock()
	delete(d.owned, room)
	d.mu.Unlock()
	if err := delScript.Run(ctx, d.rdb, []string{roomKey(room)}, d.self).Err(); err != nil {
		return fmt.Errorf("cluster: release room %q: %w", room, err)
	}
	return nil
}

// Owned lists the rooms this node holds according to its own records, sorted.
func (d *Directory) Owned() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	rooms := make([]string, 0, len(d.owned))
	for r := range d.owned {
		rooms = append(rooms, r)
	}
	slices.Sort(rooms)
	return rooms
}

// Rewrite writes every room this node owns back with SET NX after Redis lost its data: one
// pipelined round trip for all of them, plus a GET for each one found taken. Rooms that went to
// another node meanwhile are forgotten and returned as lost: the caller closes them.
func (d *Directory) Rewrite(ctx context.Context) (lost []string, err error) {
	rooms := d.Owned()
	if len(rooms) == 0 {
		return nil, nil
	}
	sets := make([]*redis.BoolCmd, len(rooms))
	_, err = d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, room := range rooms {
			sets[i] = p.SetNX(ctx, roomKey(room), d.self, 0)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: rewrite %d rooms: %w", len(rooms), err)
	}
	var taken []string
	for i, c := range sets {
		if !c.Val() {
			taken = append(taken, rooms[i])
		}
	}
	for _, room := range taken {
		owner, ok, err := d.Lookup(ctx, room)
		if err != nil {
			return lost, err
		}
		if ok && owner != d.self {
			d.track(room, owner)
			lost = append(lost, room)
		}
	}
	if len(lost) > 0 {
		d.log.Warn("cluster: rooms taken over by other nodes while Redis was away", "rooms", lost)
	}
	return lost, nil
}

// track keeps the owned set in step with what Redis answered for room.
func (d *Directory) track(room, owner string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if owner == d.self {
		d.owned[room] = struct{}{}
	} else {
		delete(d.owned, room)
	}
}
