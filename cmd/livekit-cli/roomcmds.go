package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/transport/auth"
)

// Each Room API command mints a token with exactly the grant its call needs: roomCreate for
// create-room and delete-room, roomList for list-rooms, roomAdmin on the room for the rest.

func createGrant() *auth.VideoGrant { return &auth.VideoGrant{RoomCreate: true} }

func listGrant() *auth.VideoGrant { return &auth.VideoGrant{RoomList: true} }

func adminGrant(room string) *auth.VideoGrant {
	return &auth.VideoGrant{RoomAdmin: true, Room: room}
}

// call runs do with a Room API client whose token carries grant, under a context bounded by
// apiTimeout.
func (e *env) call(ctx context.Context, grant *auth.VideoGrant, do func(context.Context, livekit.RoomService) error) error {
	rs, err := e.roomService(grant)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	return do(cctx, rs)
}

func cmdCreateRoom(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("create-room", "[--name NAME] [--empty-timeout 5m] [--max-participants N] [--metadata S]\n\n"+
		"Creates a room and prints it as JSON on stdout (its sid RM_… is what join --room-id takes),\n"+
		"then a join token for it on stderr. Without --name the room gets a generated name (room-…).")
	var req livekit.CreateRoomRequest
	var emptyTimeout, departureTimeout seconds
	var maxParticipants uint
	identity := ""
	validFor := auth.DefaultValidFor
	fs.StringVar(&req.Name, "name", "", "room name (default: generated, room-<8 hex digits>)")
	fs.Var(&emptyTimeout, "empty-timeout", "close the room after it has been empty this long (seconds or duration; 0: node default)")
	fs.Var(&departureTimeout, "departure-timeout", "close the room this long after the last participant left (0: node default)")
	fs.UintVar(&maxParticipants, "max-participants", 0, "participant limit (0: unlimited)")
	fs.StringVar(&req.Metadata, "metadata", "", "room metadata")
	fs.StringVar(&identity, "identity", "", "identity for the printed join token (default: random)")
	fs.DurationVar(&validFor, "valid-for", validFor, "validity of the printed join token")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if strings.TrimSpace(req.Name) == "" {
		req.Name = randomRoomName()
	}
	req.EmptyTimeout, req.DepartureTimeout = uint32(emptyTimeout), uint32(departureTimeout)
	req.MaxParticipants = uint32(maxParticipants)
	return e.call(ctx, createGrant(), func(cctx context.Context, rs livekit.RoomService) error {
		room, err := rs.CreateRoom(cctx, &req)
		if err != nil {
			return err
		}
		if err := e.printJSON(room); err != nil {
			return err
		}
		if identity == "" {
			identity = randomIdentity()
		}
		tok, err := joinToken(e, room.GetName(), identity, validFor)
		if err != nil {
			return err
		}
		// On stderr, so that stdout is the room's JSON alone (create-room | jq -r .sid).
		fmt.Fprintf(e.stderr, "join token (identity %q, valid %s): %s\n", identity, validFor, tok)
		return nil
	})
}

func cmdListRooms(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("list-rooms", "[--names a,b]")
	var names stringList
	fs.Var(&names, "names", "only these rooms (comma-separated or repeated)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return e.call(ctx, listGrant(), func(cctx context.Context, rs livekit.RoomService) error {
		res, err := rs.ListRooms(cctx, &livekit.ListRoomsRequest{Names: names})
		if err != nil {
			return err
		}
		return e.printJSON(res)
	})
}

func cmdDeleteRoom(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("delete-room", "--room NAME")
	room := fs.String("room", "", "room name (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := required("room", *room); err != nil {
		return err
	}
	return e.call(ctx, createGrant(), func(cctx context.Context, rs livekit.RoomService) error {
		if _, err := rs.DeleteRoom(cctx, &livekit.DeleteRoomRequest{Room: *room}); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "deleted room %s\n", *room)
		return nil
	})
}

func cmdListParticipants(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("list-participants", "--room NAME")
	room := fs.String("room", "", "room name (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := required("room", *room); err != nil {
		return err
	}
	return e.call(ctx, adminGrant(*room), func(cctx context.Context, rs livekit.RoomService) error {
		res, err := rs.ListParticipants(cctx, &livekit.ListParticipantsRequest{Room: *room})
		if err != nil {
			return err
		}
		return e.printJSON(res)
	})
}

// targetFlags is a flag set with --room and --identity, both required.
type targetFlags struct {
	fs             *flag.FlagSet
	room, identity *string
}

func newTargetFlags(e *env, name, synopsis string) *targetFlags {
	fs := e.newFlagSet(name, strings.TrimSpace("--room NAME --identity ID "+synopsis))
	return &targetFlags{
		fs:       fs,
		room:     fs.String("room", "", "room name (required)"),
		identity: fs.String("identity", "", "participant identity (required)"),
	}
}

func (t *targetFlags) parse(args []string) error {
	if err := parseFlags(t.fs, args); err != nil {
		return err
	}
	return required("room", *t.room, "identity", *t.identity)
}

func cmdGetParticipant(ctx context.Context, e *env, args []string) error {
	t := newTargetFlags(e, "get-participant", "")
	if err := t.parse(args); err != nil {
		return err
	}
	room, identity := t.room, t.identity
	return e.call(ctx, adminGrant(*room), func(cctx context.Context, rs livekit.RoomService) error {
		p, err := rs.GetParticipant(cctx, &livekit.RoomParticipantIdentity{Room: *room, Identity: *identity})
		if err != nil {
			return err
		}
		return e.printJSON(p)
	})
}

func cmdRemoveParticipant(ctx context.Context, e *env, args []string) error {
	t := newTargetFlags(e, "remove-participant", "")
	if err := t.parse(args); err != nil {
		return err
	}
	room, identity := t.room, t.identity
	return e.call(ctx, adminGrant(*room), func(cctx context.Context, rs livekit.RoomService) error {
		if _, err := rs.RemoveParticipant(cctx, &livekit.RoomParticipantIdentity{Room: *room, Identity: *identity}); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "removed %s from room %s\n", *identity, *room)
		return nil
	})
}

func cmdMuteTrack(ctx context.Context, e *env, args []string) error {
	t := newTargetFlags(e, "mute-track", "--track TR_xxx [--muted=false]")
	track := t.fs.String("track", "", "track SID, TR_… (required)")
	muted := t.fs.Bool("muted", true, "mute (true) or unmute (false)")
	if err := t.parse(args); err != nil {
		return err
	}
	room, identity := t.room, t.identity
	if err := required("track", *track); err != nil {
		return err
	}
	return e.call(ctx, adminGrant(*room), func(cctx context.Context, rs livekit.RoomService) error {
		res, err := rs.MutePublishedTrack(cctx, &livekit.MuteRoomTrackRequest{
			Room: *room, Identity: *identity, TrackSid: *track, Muted: *muted,
		})
		if err != nil {
			return err
		}
		return e.printJSON(res.GetTrack())
	})
}

func cmdUpdateMetadata(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("update-metadata", "--room NAME [--identity ID] --metadata S")
	room := fs.String("room", "", "room name (required)")
	identity := fs.String("identity", "", "update this participant's metadata instead of the room's")
	metadata := fs.String("metadata", "", "the new metadata")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := required("room", *room); err != nil {
		return err
	}
	return e.call(ctx, adminGrant(*room), func(cctx context.Context, rs livekit.RoomService) error {
		if *identity != "" {
			p, err := rs.UpdateParticipant(cctx, &livekit.UpdateParticipantRequest{Room: *room, Identity: *identity, Metadata: *metadata})
			if err != nil {
				return err
			}
			return e.printJSON(p)
		}
		r, err := rs.UpdateRoomMetadata(cctx, &livekit.UpdateRoomMetadataRequest{Room: *room, Metadata: *metadata})
		if err != nil {
			return err
		}
		return e.printJSON(r)
	})
}

func cmdUpdateParticipant(ctx context.Context, e *env, args []string) error {
	t := newTargetFlags(e, "update-participant",
		"[--name N] [--metadata S] [--attributes k=v,…] [--can-publish[=false]] …")
	fs := t.fs
	name := fs.String("name", "", "new display name")
	metadata := fs.String("metadata", "", "new metadata (empty: unchanged)")
	attrs := keyValues{}
	fs.Var(attrs, "attributes", "attributes to set, key=value (comma-separated or repeated; an empty value deletes the key)")
	var canPublish, canSubscribe, canPublishData, canUpdateMetadata optBool
	fs.Var(&canPublish, "can-publish", "allow publishing tracks")
	fs.Var(&canSubscribe, "can-subscribe", "allow subscribing")
	fs.Var(&canPublishData, "can-publish-data", "allow sending data")
	fs.Var(&canUpdateMetadata, "can-update-metadata", "allow updating its own metadata")
	if err := t.parse(args); err != nil {
		return err
	}
	room, identity := t.room, t.identity
	return e.call(ctx, adminGrant(*room), func(cctx context.Context, rs livekit.RoomService) error {
		req := &livekit.UpdateParticipantRequest{Room: *room, Identity: *identity, Name: *name, Metadata: *metadata}
		if len(attrs) > 0 {
			req.Attributes = attrs
		}
		if canPublish.v != nil || canSubscribe.v != nil || canPublishData.v != nil || canUpdateMetadata.v != nil {
			// The permission is replaced as a whole: start from the current one.
			cur, err := rs.GetParticipant(cctx, &livekit.RoomParticipantIdentity{Room: *room, Identity: *identity})
			if err != nil {
				return err
			}
			perm := &livekit.ParticipantPermission{}
			if cur.GetPermission() != nil {
				perm = proto.Clone(cur.GetPermission()).(*livekit.ParticipantPermission)
			}
			setIf(&perm.CanPublish, canPublish)
			setIf(&perm.CanSubscribe, canSubscribe)
			setIf(&perm.CanPublishData, canPublishData)
			setIf(&perm.CanUpdateMetadata, canUpdateMetadata)
			req.Permission = perm
		}
		p, err := rs.UpdateParticipant(cctx, req)
		if err != nil {
			return err
		}
		return e.printJSON(p)
	})
}

func setIf(dst *bool, o optBool) {
	if o.v != nil {
		*dst = *o.v
	}
}

func cmdSendData(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("send-data", "--room NAME --data TEXT [--topic T] [--identities a,b] [--reliable=false]")
	room := fs.String("room", "", "room name (required)")
	data := fs.String("data", "", "payload (required)")
	topic := fs.String("topic", "", "topic")
	reliable := fs.Bool("reliable", true, "reliable (true) or lossy (false) delivery")
	var to stringList
	fs.Var(&to, "identities", "only to these participants (comma-separated or repeated)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := required("room", *room, "data", *data); err != nil {
		return err
	}
	req := &livekit.SendDataRequest{Room: *room, Data: []byte(*data), Kind: livekit.DataPacket_RELIABLE, DestinationIdentities: to}
	if !*reliable {
		req.Kind = livekit.DataPacket_LOSSY
	}
	if *topic != "" {
		req.Topic = topic
	}
	return e.call(ctx, adminGrant(*room), func(cctx context.Context, rs livekit.RoomService) error {
		if _, err := rs.SendData(cctx, req); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "sent %d bytes to room %s\n", len(*data), *room)
		return nil
	})
}

// resolveRoomID finds the name of the room whose SID is sid.
func resolveRoomID(ctx context.Context, e *env, sid string) (name string, err error) {
	err = e.call(ctx, listGrant(), func(cctx context.Context, rs livekit.RoomService) error {
		res, err := rs.ListRooms(cctx, &livekit.ListRoomsRequest{})
		if err != nil {
			return fmt.Errorf("resolve --room-id: %w", err)
		}
		for _, r := range res.GetRooms() {
			if r.GetSid() == sid {
				name = r.GetName()
				return nil
			}
		}
		hint := "'livekit-cli list-rooms' shows them; a room nobody joins closes after its empty_timeout"
		if !strings.HasPrefix(sid, "RM_") {
			hint = "a room sid starts with RM_; for a room name use --room"
		}
		return fmt.Errorf("no room with sid %q on the node (%d rooms; %s)", sid, len(res.GetRooms()), hint)
	})
	return name, err
}
