package actors

// Node.Stats: the typed snapshot of live actors, mailboxes, subscriptions and connection quality
// that /metrics reads.

import "github.com/actor-sfu/livekit-server/proto/livekit"

// NodeStats is a typed snapshot of what runs on a node, for /metrics. Node.Stats reads it from
// the process registry and the counters each actor publishes; it sends no actor message.
type NodeStats struct {
	// NodeID is the node's ID (ND_…), LiveKit's node_id label.
	NodeID string
	// Rooms, Participants and Tracks count the live actors of each kind.
	Rooms, Participants, Tracks int64
	// Subscriptions is the number of subscriber copies of published tracks (the sum over tracks
	// of their subscribers).
	Subscriptions int64
	// TracksByType and SubscriptionsByType split Tracks and Subscriptions by track type (audio,
	// video, data).
	TracksByType, SubscriptionsByType map[livekit.TrackType]int64
	// Quality counts participants by the connection quality last computed for them; participants
	// not rated yet are not counted.
	Quality map[livekit.ConnectionQuality]int64
	// Actors holds mailbox figures by actor kind (node, room, participant, track).
	Actors map[string]ActorKindStats
	// DataDropped counts data packets dropped instead of relayed since the node started.
	DataDropped DataDropStats
	// ICECandidatesIgnored counts remote ICE candidates the node refused to contact: beyond
	// MaxICECandidatesPerPC, in an address range it does not contact, or naming a host.
	ICECandidatesIgnored int64
}

// ActorKindStats sums the live actors of one kind.
type ActorKindStats struct {
	// Count is the number of live actors of the kind.
	Count int64
	// Mailbox is the user messages waiting in their mailboxes, summed.
	Mailbox int64
	// MailboxMax is the deepest single mailbox.
	MailboxMax int64
	// Processed is the messages the live actors of the kind handled so far.
	Processed int64
}

// Stats reads the node's typed snapshot. It never blocks on an actor.
func (n *Node) Stats() NodeStats {
	out := NodeStats{
		NodeID:  n.cfg.NodeID,
		Quality: map[livekit.ConnectionQuality]int64{}, Actors: map[string]ActorKindStats{},
		TracksByType: map[livekit.TrackType]int64{}, SubscriptionsByType: map[livekit.TrackType]int64{},
	}
	n.eachLive(func(_ string, s *actorStats) {
		kind := "unknown"
		if s != nil {
			kind = s.kind
		}
		k := out.Actors[kind]
		k.Count++
		if s != nil {
			depth := s.queued.Load()
			k.Mailbox += depth
			k.MailboxMax = max(k.MailboxMax, depth)
			k.Processed += s.processed.Load()
			subs := s.subscribers.Load()
			out.Subscriptions += subs
			if tt := s.trackType.Load(); tt > 0 {
				out.TracksByType[livekit.TrackType(tt-1)]++
				out.SubscriptionsByType[livekit.TrackType(tt-1)] += subs
			}
			if q := s.quality.Load(); q > 0 {
				out.Quality[livekit.ConnectionQuality(q-1)]++
			}
		}
		out.Actors[kind] = k
	})
	out.Rooms = out.Actors["room"].Count
	out.Participants = out.Actors["participant"].Count
	out.Tracks = out.Actors["track"].Count
	out.DataDropped = n.drops.snapshot()
	out.ICECandidatesIgnored = n.drops.iceCandidates.Load()
	return out
}
