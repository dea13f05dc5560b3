package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/actor-sfu/livekit-server/transport/auth"
)

// joinToken mints a token that lets identity join room with LiveKit's default permissions
// (publish, subscribe, publish data).
func joinToken(e *env, room, identity string, validFor time.Duration) (string, error) {
	tok, err := auth.NewAccessToken(e.apiKey, e.apiSecret).
		SetIdentity(identity).SetName(identity).
		SetVideoGrant(&auth.VideoGrant{RoomJoin: true, Room: room}).
		SetValidFor(validFor).ToJWT()
	if err != nil {
		return "", fmt.Errorf("mint join token: %w", err)
	}
	return tok, nil
}

// randomIdentity is the identity used when none is given: "cli-" and 8 hex digits.
func randomIdentity() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "cli-" + hex.EncodeToString(b[:])
}

// randomRoomName is the name create-room gives a room when none is given: "room-" and 8 hex
// digits, short enough to type and unique in practice.
func randomRoomName() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "room-" + hex.EncodeToString(b[:])
}

func cmdCreateToken(_ context.Context, e *env, args []string) error {
	fs := e.newFlagSet("create-token",
		"[--join --room NAME --identity ID] [--create] [--list] [--admin --room NAME] [--valid-for 6h] …")
	var (
		identity, name, room, metadata string
		join, create, list, admin      bool
		hidden, recorder               bool
		validFor                       = auth.DefaultValidFor
		canPublish, canSubscribe       optBool
		canPublishData, canUpdateMeta  optBool
		sources                        stringList
	)
	attrs := keyValues{}
	fs.StringVar(&identity, "identity", "", "participant identity (required with --join)")
	fs.StringVar(&name, "name", "", "participant display name")
	fs.StringVar(&room, "room", "", "room the grant applies to (required with --join and --admin)")
	fs.StringVar(&metadata, "metadata", "", "participant metadata")
	fs.Var(attrs, "attributes", "participant attributes, key=value (comma-separated or repeated)")
	fs.BoolVar(&join, "join", false, "grant roomJoin: connect to --room")
	fs.BoolVar(&create, "create", false, "grant roomCreate: create-room and delete-room")
	fs.BoolVar(&list, "list", false, "grant roomList: list-rooms")
	fs.BoolVar(&admin, "admin", false, "grant roomAdmin on --room: participants, tracks, metadata, data")
	fs.DurationVar(&validFor, "valid-for", validFor, "how long the token is valid")
	fs.Var(&canPublish, "can-publish", "allow publishing tracks (default true)")
	fs.Var(&canSubscribe, "can-subscribe", "allow subscribing (default true)")
	fs.Var(&canPublishData, "can-publish-data", "allow sending data (default: same as --can-publish)")
	fs.Var(&canUpdateMeta, "can-update-metadata", "allow updating its own metadata (default false)")
	fs.Var(&sources, "sources", "allowed publish sources: camera, microphone, screen_share, screen_share_audio")
	fs.BoolVar(&hidden, "hidden", false, "hide the participant from others")
	fs.BoolVar(&recorder, "recorder", false, "mark the participant as a recorder")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !join && !create && !list && !admin {
		return usagef("no grant: give at least one of --join, --create, --list, --admin")
	}
	if join {
		if err := required("room", room, "identity", identity); err != nil {
			return usagef("--join: %v", err)
		}
	}
	if admin {
		if err := required("room", room); err != nil {
			return usagef("--admin: %v", err)
		}
	}
	if validFor <= 0 {
		return usagef("--valid-for must be positive")
	}
	grant := &auth.VideoGrant{
		RoomJoin: join, RoomCreate: create, RoomList: list, RoomAdmin: admin, Room: room,
		CanPublish: canPublish.v, CanSubscribe: canSubscribe.v, CanPublishData: canPublishData.v,
		CanUpdateOwnMetadata: canUpdateMeta.v, CanPublishSources: sources,
		Hidden: hidden, Recorder: recorder,
	}
	at := auth.NewAccessToken(e.apiKey, e.apiSecret).SetVideoGrant(grant).SetValidFor(validFor).
		SetIdentity(identity).SetName(name).SetMetadata(metadata)
	if len(attrs) > 0 {
		at.SetAttributes(attrs)
	}
	tok, err := at.ToJWT()
	if err != nil {
		return fmt.Errorf("mint token: %w", err)
	}
	_, err = fmt.Fprintln(e.stdout, tok)
	return err
}
