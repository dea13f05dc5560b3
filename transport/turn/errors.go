package turn

import "errors"

var (
	// ErrNoListeners means the configuration enables TURN but opens no port.
	ErrNoListeners = errors.New("turn: enabled but udp_port, tcp_port and tls_port are all 0")
	// ErrTLSConfig means tls_port is set without a domain, or without a
	// certificate while TLS is not terminated in front of us (external_tls).
	ErrTLSConfig = errors.New("turn: tls_port needs domain, and cert_file/key_file unless external_tls")
	// ErrRelayRange means relay_range_start/end do not describe a port range.
	ErrRelayRange = errors.New("turn: relay_range_start must be in 1..relay_range_end")
	// ErrNoNodeIP means the server does not know which address to advertise:
	// the relay address and the URLs need one.
	ErrNoNodeIP = errors.New("turn: no node IP to advertise")
	// ErrNoKey means no API key pair was given to mint credentials with.
	ErrNoKey = errors.New("turn: an API key and secret are needed to mint credentials")
	// ErrExternalServer means an rtc.turn_servers entry is incomplete.
	ErrExternalServer = errors.New("turn: invalid rtc.turn_servers entry")
	// ErrSecretFile means a secret_file is unreadable, empty, or readable by
	// everyone.
	ErrSecretFile = errors.New("turn: unusable secret_file")
)
