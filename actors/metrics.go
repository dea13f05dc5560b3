package actors

import "github.com/actor-sfu/livekit-server/actors/media"

// MediaCounters is a snapshot of the node-wide media counters (packets, bytes, loss, NACKs, PLIs,
// sampled forwarding latency), summed over every track the node ever forwarded.
type MediaCounters = media.CounterSnapshot

// MediaCounters reads the media engine's counters. It sends no actor message and never blocks.
func (n *Node) MediaCounters() MediaCounters { return n.engine.Counters().Snapshot() }

// MediaLatencyBuckets are the upper bounds, in seconds, of MediaCounters.LatencyCounts.
func MediaLatencyBuckets() []float64 { return media.LatencyBuckets() }
