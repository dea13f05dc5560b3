// Package cluster is what lets many nodes share one set of rooms (DESIGN.md §9): a node registry
// and a room directory kept in Redis, and the node selector that places new rooms by load.
//
// It is built only when the YAML has a `redis:` section; without one the node runs alone and
// nothing here starts. Config holds LiveKit's `redis:`, `node_selector:` and `region` keys, and
// NewClient builds the matching go-redis client (single server, sentinel failover, or cluster).
//
// # Pieces
//
//   - Registry: each node writes its NodeInfo (id, HTTP, actor-remote and media addresses, state
//     SERVING or SHUTTING_DOWN, stats with CPU load from /proc/stat and the one-minute load
//     average) every Refresh (default 2 s) with a TTL of three refreshes. A node that stops
//     refreshing is gone from Nodes once its TTL runs out. When a refresh finds the node's own
//     entry missing although it registered before, Redis lost its data, and OnResync runs.
//   - Directory: room name → node id. Place is SET NX; TakeOver replaces a dead owner with a
//     compare-and-set Lua script; Release deletes only the node's own entry (another CAS script).
//     It remembers the rooms this node holds (Place/TakeOver answering self, or Claim) and
//     Rewrite writes them again after Redis came back empty.
//   - Selector: LiveKit's node_selector over SERVING nodes with fresh stats: kind any, cpuload or
//     sysload drops nodes over the limit (all stay when all are over), sort_by random, cpuload,
//     sysload, rooms, clients, tracks or bytespersec picks the lowest, ties at random.
//   - Placer: lookup, keep a live owner, take over a dead one, else select and write with CAS;
//     two nodes placing one room at once get the same answer. It counts its own placements made
//     after a node's last stats, so a burst between refreshes still spreads.
//   - Ready: no new room is placed while this node's latest refresh failed, nor for one TTL after
//     Redis came back empty, so that live nodes rewrite the rooms they hold before anyone places
//     them anew. Lookups of placed rooms keep working.
//   - Cluster: the three wired for one node (the directory rewritten on resync).
//
// # Redis keys
//
//	{livekit-nodes}:index          set of node ids that registered (pruned of expired ones on read)
//	{livekit-nodes}:nodes/<id>     NodeInfo as JSON, with a TTL (PX) refreshed by its node
//	livekit:rooms/<name>           node id holding the room; no TTL (dead owners are taken over)
//
// The two registry keys share the hash tag {livekit-nodes} so that listing the nodes is one MGET
// on a Redis cluster too; room keys spread over slots. Commands used: SET (NX, PX, GET), SADD,
// SREM, SMEMBERS, MGET, GET, DEL and EVALSHA/EVAL of two short scripts; Redis 6.2 or later.
//
// Tests run each shape against Debian's redis-server (testkit/redis): a single server, a Sentinel
// monitoring it, and a one-node Redis Cluster with every slot assigned.
//
// Clocks: stats freshness compares a node's updated_at with the reader's clock, so nodes' clocks
// must agree to within the selector's staleness bound (two TTLs); liveness itself is Redis's TTL.
package cluster
