package conformance

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
)

// dataInbox records user packets a participant receives.
type dataInbox struct {
	mu   sync.Mutex
	msgs []dataMsg
	got  chan struct{}
}

type dataMsg struct {
	from, topic string
	payload     []byte
}

func newDataInbox() *dataInbox { return &dataInbox{got: make(chan struct{}, 1024)} }

func (in *dataInbox) install(cb *lksdk.RoomCallback) {
	cb.OnDataPacket = func(data lksdk.DataPacket, params lksdk.DataReceiveParams) {
		u, ok := data.(*lksdk.UserDataPacket)
		if !ok {
			return
		}
		in.mu.Lock()
		in.msgs = append(in.msgs, dataMsg{from: params.SenderIdentity, topic: u.Topic, payload: append([]byte(nil), u.Payload...)})
		in.mu.Unlock()
		in.got <- struct{}{}
	}
}

func (in *dataInbox) waitN(t *testing.T, n int, d time.Duration) []dataMsg {
	t.Helper()
	deadline := time.After(d)
	for {
		in.mu.Lock()
		if len(in.msgs) >= n {
			out := append([]dataMsg(nil), in.msgs...)
			in.mu.Unlock()
			return out
		}
		in.mu.Unlock()
		select {
		case <-in.got:
		case <-deadline:
			t.Fatalf("timed out after %v waiting for %d data messages (have %d)", d, n, len(in.msgs))
		}
	}
}

// dataPayloads are the reliable messages each side sends, up to the 64 000
// bytes the JS client allows per message.
func dataPayloads(from string) [][]byte {
	var out [][]byte
	for i, size := range []int{1, 100, 1000, 15000, 60000, 7, 3000} {
		b := bytes.Repeat([]byte{byte('a' + i)}, size)
		copy(b, fmt.Sprintf("%s#%d", from, i))
		out = append(out, b)
	}
	return out
}

// TestReliableDataBothWays: alice and bob exchange reliable user packets; each
// arrives complete, in order, with the sender's identity and topic.
func TestReliableDataBothWays(t *testing.T) {
	aliceIn, bobIn := newDataInbox(), newDataInbox()
	acb, bcb := lksdk.NewRoomCallback(), lksdk.NewRoomCallback()
	aliceIn.install(acb)
	bobIn.install(bcb)
	alice := join(t, "data", "alice", acb)
	bob := join(t, "data", "bob", bcb)

	for _, dir := range []struct {
		from  *lksdk.Room
		name  string
		inbox *dataInbox
	}{{alice, "alice", bobIn}, {bob, "bob", aliceIn}} {
		sent := dataPayloads(dir.name)
		for _, p := range sent {
			if err := dir.from.LocalParticipant.PublishDataPacket(&lksdk.UserDataPacket{Payload: p, Topic: "chat"}, lksdk.WithDataPublishReliable(true)); err != nil {
				t.Fatalf("%s: PublishDataPacket: %v", dir.name, err)
			}
		}
		got := dir.inbox.waitN(t, len(sent), 15*time.Second)
		for i, m := range got {
			if i >= len(sent) {
				t.Errorf("unexpected extra message from %q", m.from)
				continue
			}
			if m.from != dir.name || m.topic != "chat" || !bytes.Equal(m.payload, sent[i]) {
				t.Errorf("message %d from %s: got from=%q topic=%q %d bytes (equal: %v)", i, dir.name, m.from, m.topic, len(m.payload), bytes.Equal(m.payload, sent[i]))
			}
		}
	}

	// Server-originated data (RoomService.SendData) reaches bob only, with no sender.
	ctx := testCtx(t, 10*time.Second)
	if _, err := roomClient().SendData(ctx, &livekit.SendDataRequest{
		Room: "data", Data: []byte("from the server"), Kind: livekit.DataPacket_RELIABLE,
		Topic: ptr("api"), DestinationIdentities: []string{"bob"},
	}); err != nil {
		t.Fatalf("SendData: %v", err)
	}
	got := bobIn.waitN(t, len(dataPayloads("alice"))+1, 10*time.Second)
	last := got[len(got)-1]
	if string(last.payload) != "from the server" || last.topic != "api" || last.from != "" {
		t.Errorf("server data: from=%q topic=%q payload=%q", last.from, last.topic, last.payload)
	}
	time.Sleep(300 * time.Millisecond)
	aliceIn.mu.Lock()
	defer aliceIn.mu.Unlock()
	if n := len(aliceIn.msgs); n != len(dataPayloads("bob")) {
		t.Errorf("alice got %d messages, want %d (server data was addressed to bob only)", n, len(dataPayloads("bob")))
	}
}

func ptr[T any](v T) *T { return &v }
