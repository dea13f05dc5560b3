package main

import (
	"io"
	"strings"
	"testing"
)

const limitsYAML = `
keys: {k: s}
room:
  max_participants: 9
limit:
  max_rooms: 3
  max_tracks_per_participant: 4
  max_metadata_size: 1000
  max_attributes_size: 2000
  max_data_packet_size: 3000
  max_room_name_length: 40
  max_participant_identity_length: 50
  max_participant_name_length: 60
  max_signal_message_size: 70000
  signal_messages_per_second: 12.5
  signal_message_burst: 30
`

// Every limit reaches the actors or transport configuration, from YAML and from flags (which win).
func TestLimitsFromYAMLAndFlags(t *testing.T) {
	fs := files(map[string]string{"l.yaml": limitsYAML})
	ld, err := loadConfig([]string{"--config", "l.yaml"}, env(nil), fs, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(ld.warnings) != 0 {
		t.Errorf("limit keys reported as unknown: %v", ld.warnings)
	}
	nc := ld.cfg.nodeConfig("v", nil)
	sc := ld.cfg.serverConfig()
	l := nc.Limits
	if nc.Room.MaxParticipants != 9 || l.MaxRooms != 3 || l.MaxTracksPerParticipant != 4 || l.MaxMetadataSize != 1000 ||
		l.MaxAttributesSize != 2000 || l.MaxDataPacketSize != 3000 {
		t.Errorf("node limits = %+v, max participants %d", l, nc.Room.MaxParticipants)
	}
	if sc.MaxRoomNameLength != 40 || sc.MaxIdentityLength != 50 || sc.MaxNameLength != 60 || sc.MaxSignalMessageSize != 70000 ||
		sc.SignalRateLimit != 12.5 || sc.SignalRateBurst != 30 {
		t.Errorf("server limits = %+v", sc)
	}

	ld, err = loadConfig([]string{"--config", "l.yaml", "--max-rooms", "5", "--max-participants", "6", "--max-tracks-per-participant", "7",
		"--max-signal-message-size", "8000", "--signal-rate", "-1"}, env(nil), fs, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	nc, sc = ld.cfg.nodeConfig("v", nil), ld.cfg.serverConfig()
	if nc.Limits.MaxRooms != 5 || nc.Room.MaxParticipants != 6 || nc.Limits.MaxTracksPerParticipant != 7 ||
		sc.MaxSignalMessageSize != 8000 || sc.SignalRateLimit != -1 {
		t.Errorf("flags did not override: %+v %+v", nc.Limits, sc)
	}

	for _, bad := range []string{"limit:\n  max_rooms: -1\n", "limit:\n  signal_message_burst: -3\n"} {
		_, err := loadConfig([]string{"--config", "b.yaml", "--keys", "k: s"}, env(nil), files(map[string]string{"b.yaml": bad}), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "must not be negative") {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
	if _, err := loadConfig([]string{"--dev", "--drain-timeout", "0s"}, env(nil), fs, io.Discard); err == nil {
		t.Error("a zero drain timeout was accepted")
	}
}
