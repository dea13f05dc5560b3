package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twitchtv/twirp"

	"github.com/actor-sfu/livekit-server/proto/livekit"
	"github.com/actor-sfu/livekit-server/transport/auth"
)

// countingListener counts the bytes the server reads from its connections.
type countingListener struct {
	net.Listener
	read atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, read: &l.read}, nil
}

type countingConn struct {
	net.Conn
	read *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// serveReal runs s behind its own HTTPServer on a loopback listener, as the command does.
func serveReal(t *testing.T, cfg ServerConfig, node *fakeNode) (*countingListener, string) {
	t.Helper()
	s := newServer(cfg, node, testKeys, testLogger())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	hs := s.HTTPServer(nil)
	go func() { _ = hs.Serve(cl) }()
	t.Cleanup(func() {
		// Shutdown also waits for connections still lingering after a refused body.
		ctx, cancel := context.WithTimeout(context.Background(), testWait)
		defer cancel()
		_ = hs.Shutdown(ctx)
	})
	return cl, ln.Addr().String()
}

// TestRoomAPIRefusesAnonymousBodiesUnread: 100 concurrent Room API calls without a token, each
// claiming a 1 GiB body and sending the first 64 KiB of it, are all answered 401 while the server
// reads next to nothing of their bodies and its heap stays small.
func TestRoomAPIRefusesAnonymousBodiesUnread(t *testing.T) {
	node := newFakeNode()
	cl, addr := serveReal(t, ServerConfig{}, node)
	const clients, sent = 100, 64 << 10
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	var wg sync.WaitGroup
	errs := make(chan error, clients)
	var conns sync.Map
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, testWait)
			if err != nil {
				errs <- err
				return
			}
			conns.Store(c, true)
			_ = c.SetDeadline(time.Now().Add(testWait))
			head := "POST /twirp/livekit.RoomService/CreateRoom HTTP/1.1\r\nHost: node\r\n" +
				"Content-Type: application/protobuf\r\nContent-Length: 1073741824\r\n\r\n"
			go func() { _, _ = c.Write(append([]byte(head), make([]byte, sent)...)) }()
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				errs <- fmt.Errorf("reading response: %w", err)
				return
			}
			body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
			if res.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `"code":"unauthenticated"`) {
				errs <- fmt.Errorf("answer %d %s", res.StatusCode, body)
			}
		}()
	}
	wg.Wait()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	conns.Range(func(c, _ any) bool { _ = c.(net.Conn).Close(); return true })
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Each connection's headers plus at most a read buffer or two of body.
	if got := cl.read.Load(); got > clients*16<<10 {
		t.Errorf("server read %d bytes from %d anonymous clients; bodies were read", got, clients)
	}
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 32<<20 {
		t.Errorf("heap grew by %d bytes", grown)
	}
	if len(node.calls) != 0 {
		t.Errorf("anonymous calls reached the node: %v", node.calls)
	}
}

// TestRoomAPIBodyLimit: an authenticated body over MaxRequestBodySize is refused, with 413 when its
// length is declared and as malformed when it is streamed; one within the limit passes.
func TestRoomAPIBodyLimit(t *testing.T) {
	node := newFakeNode()
	_, addr := serveReal(t, ServerConfig{MaxRequestBodySize: 1 << 10}, node)
	url := "http://" + addr + "/twirp/livekit.RoomService/UpdateRoomMetadata"
	tok := serviceToken(t, &auth.VideoGrant{RoomAdmin: true, Room: "r1"})
	post := func(body io.Reader) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, url, body)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res, string(out)
	}
	big := fmt.Sprintf(`{"room":"r1","metadata":%q}`, strings.Repeat("m", 2<<10))
	if res, out := post(strings.NewReader(big)); res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(out, `"code":"malformed"`) {
		t.Errorf("declared oversized body: %d %s", res.StatusCode, out)
	}
	// No Content-Length: the body is streamed (chunked) and cut off at the limit.
	if res, out := post(io.MultiReader(strings.NewReader(big))); res.StatusCode != http.StatusBadRequest || !strings.Contains(out, `"code":"malformed"`) {
		t.Errorf("streamed oversized body: %d %s", res.StatusCode, out)
	}
	if res, out := post(strings.NewReader(`{"room":"r1","metadata":"small"}`)); res.StatusCode != http.StatusOK {
		t.Errorf("body within the limit: %d %s", res.StatusCode, out)
	}
	// A Twirp client reads the code from the 413's body.
	c := livekit.NewRoomServiceJSONClient("http://"+addr, http.DefaultClient)
	_, err := c.UpdateRoomMetadata(withBearer(t, tok), &livekit.UpdateRoomMetadataRequest{Room: "r1", Metadata: strings.Repeat("m", 2<<10)})
	var te twirp.Error
	if !errors.As(err, &te) || te.Code() != twirp.Malformed {
		t.Errorf("twirp client: %v", err)
	}
	node.mu.Lock()
	defer node.mu.Unlock()
	if len(node.calls) != 1 {
		t.Errorf("node calls %v, want only the small update", node.calls)
	}
}

// TestSlowHeadersAreCut: a client that sends its headers slowly is disconnected after
// ReadHeaderTimeout.
func TestSlowHeadersAreCut(t *testing.T) {
	_, addr := serveReal(t, ServerConfig{ReadHeaderTimeout: 200 * time.Millisecond}, newFakeNode())
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: node\r\n"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(testWait))
	_, err = io.Copy(io.Discard, c)
	if err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("closed after %v", el)
	}
}

// TestWebSocketOutlivesHTTPTimeouts: an upgraded /rtc connection keeps working in both directions
// long after ReadTimeout and IdleTimeout have passed.
func TestWebSocketOutlivesHTTPTimeouts(t *testing.T) {
	node := newFakeNode()
	_, addr := serveReal(t, ServerConfig{ReadHeaderTimeout: 100 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, IdleTimeout: 200 * time.Millisecond}, node)
	ws := dial(t, "http://"+addr)
	if readBinary(t, ws).GetJoin() == nil {
		t.Fatal("no join response")
	}
	sess := recv(t, node.sessions, "session")
	time.Sleep(time.Second)
	sendBinary(t, ws, &livekit.SignalRequest{Message: &livekit.SignalRequest_Ping{Ping: 42}})
	if got := recv(t, sess.signals, "request").GetPing(); got != 42 {
		t.Fatalf("request after the timeouts: ping %d", got)
	}
	if err := sess.sink.Send(&livekit.SignalResponse{Message: &livekit.SignalResponse_Pong{Pong: 43}}); err != nil {
		t.Fatal(err)
	}
	if got := readBinary(t, ws).GetPong(); got != 43 {
		t.Fatalf("response after the timeouts: pong %d", got)
	}
}
