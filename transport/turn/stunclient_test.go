package turn

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/pion/stun"
)

// rawAllocate sends one Allocate over conn the way a client does: first
// without credentials to learn the nonce, then with user/pass. It returns
// the error code of the final answer (0 on success). On a stream (TCP, TLS)
// messages are read by their STUN length.
func rawAllocate(conn net.Conn, user, pass string) (int, error) {
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	res, err := roundTrip(conn, r, allocateRequest())
	if err != nil {
		return 0, err
	}
	var nonce stun.Nonce
	if err := nonce.GetFrom(res); err != nil {
		return 0, fmt.Errorf("first answer has no nonce: %w", err)
	}
	res, err = roundTrip(conn, r, allocateRequest(stun.NewUsername(user), stun.NewRealm(Realm), nonce,
		stun.NewLongTermIntegrity(user, Realm, pass)))
	if err != nil {
		return 0, err
	}
	if res.Type.Class == stun.ClassSuccessResponse {
		return 0, nil
	}
	var code stun.ErrorCodeAttribute
	if err := code.GetFrom(res); err != nil {
		return 0, fmt.Errorf("error answer without code: %w", err)
	}
	return int(code.Code), nil
}

func allocateRequest(extra ...stun.Setter) *stun.Message {
	setters := []stun.Setter{stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest),
		stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}}
	setters = append(setters, extra...)
	setters = append(setters, stun.Fingerprint)
	return stun.MustBuild(setters...)
}

// roundTrip writes m and reads one answer.
func roundTrip(conn net.Conn, r *bufio.Reader, m *stun.Message) (*stun.Message, error) {
	if _, err := conn.Write(m.Raw); err != nil {
		return nil, err
	}
	var raw []byte
	if _, ok := conn.(*net.UDPConn); ok {
		buf := make([]byte, 1500)
		n, err := conn.Read(buf)
		if err != nil {
			return nil, err
		}
		raw = buf[:n]
	} else {
		hdr := make([]byte, 20)
		if _, err := io.ReadFull(r, hdr); err != nil {
			return nil, err
		}
		body := make([]byte, binary.BigEndian.Uint16(hdr[2:4]))
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, err
		}
		raw = append(hdr, body...)
	}
	res := &stun.Message{Raw: raw}
	if err := res.Decode(); err != nil {
		return nil, err
	}
	if res.TransactionID != m.TransactionID {
		return nil, fmt.Errorf("answer to another transaction")
	}
	return res, nil
}
