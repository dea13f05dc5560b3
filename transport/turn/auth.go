package turn

import (
	"log/slog"
	"net"
	"sync"
	"time"

	pionturn "github.com/pion/turn/v2"
)

// admitIdle is how long an admitted (client address, username) pair is
// remembered without a request. pion caps allocation lifetimes at one hour,
// so a client silent for longer has no allocation left to refresh.
const admitIdle = time.Hour

// maxAdmitted bounds the remembered pairs. A pair is recorded before pion
// checks the password, so someone holding a live username (not its
// password) could otherwise grow the map from many source addresses; past
// the bound, new pairs are still served but not remembered, and lose only
// the grace after expiry.
const maxAdmitted = 1 << 16

// authenticator is the server's pion AuthHandler. It accepts only usernames
// we minted, recomputes their password from the API secret, and applies the
// expiry LiveKit's way: only to the request that creates an allocation.
//
// pion v2 does not tell the AuthHandler which request it authenticates, so
// the first request that passes with a credential still in date admits its
// (client address, username) pair; later requests of that pair (Refresh,
// CreatePermission, ChannelBind) pass after the expiry too. A client address
// on UDP, or a connection on TCP/TLS, is the 5-tuple an allocation belongs to,
// so an expired credential never creates a new allocation.
type authenticator struct {
	keys   SecretLookup
	active func(participantSID string) bool
	now    func() time.Time
	log    *slog.Logger

	mu        sync.Mutex
	admitted  map[string]time.Time // client addr + "|" + username → last request
	lastSweep time.Time
}

func newAuthenticator(keys SecretLookup, active func(string) bool, log *slog.Logger) *authenticator {
	return &authenticator{keys: keys, active: active, now: time.Now, log: log, admitted: map[string]time.Time{}}
}

// handle implements pionturn.AuthHandler.
func (a *authenticator) handle(username, realm string, src net.Addr) ([]byte, bool) {
	c, ok := parseUsername(username)
	if !ok {
		a.log.Debug("turn: unknown username", "client", src.String())
		return nil, false
	}
	secret, ok := a.keys.Secret(c.apiKey)
	if !ok {
		a.log.Debug("turn: unknown api key", "client", src.String(), "participant", c.sid)
		return nil, false
	}
	if !a.admit(src.String()+"|"+username, c) {
		a.log.Debug("turn: credential expired or session gone", "client", src.String(), "participant", c.sid)
		return nil, false
	}
	// pion checks MESSAGE-INTEGRITY with this key; a wrong password fails there.
	return pionturn.GenerateAuthKey(username, realm, password(secret, c.sid, c.expS)), true
}

// admit decides whether the pair may go on: known pairs always, new pairs
// only while the credential is in date and the session is alive. The
// session check runs outside the lock: it may ask another component.
func (a *authenticator) admit(key string, c claims) bool {
	now := a.now()
	a.mu.Lock()
	a.sweepLocked(now)
	_, known := a.admitted[key]
	if known {
		a.admitted[key] = now
	}
	a.mu.Unlock()
	if known {
		return true
	}
	if now.After(c.expiry) || (a.active != nil && !a.active(c.sid)) {
		return false
	}
	a.mu.Lock()
	if len(a.admitted) < maxAdmitted {
		a.admitted[key] = now
	}
	a.mu.Unlock()
	return true
}

// sweepLocked forgets pairs idle for admitIdle, at most once a minute.
func (a *authenticator) sweepLocked(now time.Time) {
	if now.Sub(a.lastSweep) < time.Minute {
		return
	}
	a.lastSweep = now
	for k, seen := range a.admitted {
		if now.Sub(seen) > admitIdle {
			delete(a.admitted, k)
		}
	}
}

// admittedCount is the number of remembered pairs (tests).
func (a *authenticator) admittedCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.admitted)
}
