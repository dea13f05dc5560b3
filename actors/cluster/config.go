package cluster

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// ErrNotConfigured is returned by NewClient when the redis section names no server: the node then
// runs alone with its in-memory directory.
var ErrNotConfigured = errors.New("cluster: redis is not configured")

// Config is the part of LiveKit's YAML that concerns many nodes: `redis:`, `node_selector:` and
// `region`.
type Config struct {
	Redis        RedisConfig        `yaml:"redis"`
	NodeSelector NodeSelectorConfig `yaml:"node_selector"`
	Region       string             `yaml:"region"`
}

// RedisConfig is LiveKit's `redis:` section. Exactly one shape is used: cluster_addresses if any,
// else sentinel_master_name with sentinel_addresses, else address.
type RedisConfig struct {
	Address            string   `yaml:"address"`
	Username           string   `yaml:"username"`
	Password           string   `yaml:"password"`
	DB                 int      `yaml:"db"`
	UseTLS             bool     `yaml:"use_tls"`
	SentinelMasterName string   `yaml:"sentinel_master_name"`
	SentinelUsername   string   `yaml:"sentinel_username"`
	SentinelPassword   string   `yaml:"sentinel_password"`
	SentinelAddresses  []string `yaml:"sentinel_addresses"`
	ClusterAddresses   []string `yaml:"cluster_addresses"`
}

// IsConfigured reports whether the section names a server of any shape.
func (c RedisConfig) IsConfigured() bool {
	return c.Address != "" || c.SentinelMasterName != "" || len(c.ClusterAddresses) > 0
}

// Node selector kinds (LiveKit's `node_selector.kind`).
const (
	SelectAny     = "any"
	SelectCPULoad = "cpuload"
	SelectSysload = "sysload"
)

// Node selector sort keys (LiveKit's `node_selector.sort_by`).
const (
	SortRandom      = "random"
	SortSysload     = "sysload"
	SortCPULoad     = "cpuload"
	SortRooms       = "rooms"
	SortClients     = "clients"
	SortTracks      = "tracks"
	SortBytesPerSec = "bytespersec"
)

// NodeSelectorConfig is LiveKit's `node_selector:` section. Zero fields take LiveKit's defaults
// (see WithDefaults).
type NodeSelectorConfig struct {
	Kind         string  `yaml:"kind"`
	SortBy       string  `yaml:"sort_by"`
	CPULoadLimit float64 `yaml:"cpu_load_limit"`
	SysloadLimit float64 `yaml:"sysload_limit"`
}

// WithDefaults fills LiveKit's defaults: kind any, sort_by random, both limits 0.9.
func (c NodeSelectorConfig) WithDefaults() NodeSelectorConfig {
	if c.Kind == "" {
		c.Kind = SelectAny
	}
	if c.SortBy == "" {
		c.SortBy = SortRandom
	}
	if c.CPULoadLimit == 0 {
		c.CPULoadLimit = 0.9
	}
	if c.SysloadLimit == 0 {
		c.SysloadLimit = 0.9
	}
	return c
}

// Validate reports an unknown kind or sort key, or a limit outside (0, 1].
func (c NodeSelectorConfig) Validate() error {
	c = c.WithDefaults()
	switch c.Kind {
	case SelectAny, SelectCPULoad, SelectSysload:
	default:
		return fmt.Errorf("node_selector.kind %q: want any, cpuload or sysload", c.Kind)
	}
	switch c.SortBy {
	case SortRandom, SortSysload, SortCPULoad, SortRooms, SortClients, SortTracks, SortBytesPerSec:
	default:
		return fmt.Errorf("node_selector.sort_by %q: want random, sysload, cpuload, rooms, clients, tracks or bytespersec", c.SortBy)
	}
	if c.CPULoadLimit < 0 || c.CPULoadLimit > 1 || c.SysloadLimit < 0 {
		return fmt.Errorf("node_selector limits: cpu_load_limit %v must be in (0,1], sysload_limit %v above 0",
			c.CPULoadLimit, c.SysloadLimit)
	}
	return nil
}

// NewClient builds the go-redis client the section describes: a cluster client for
// cluster_addresses, a failover (sentinel) client for sentinel_master_name, else a single-server
// client. It does not dial; the first command does.
func NewClient(c RedisConfig) (redis.UniversalClient, error) {
	if !c.IsConfigured() {
		return nil, ErrNotConfigured
	}
	switch {
	case len(c.ClusterAddresses) > 0:
		if c.DB != 0 {
			return nil, fmt.Errorf("redis: db %d: a Redis cluster has only db 0", c.DB)
		}
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:     c.ClusterAddresses,
			Username:  c.Username,
			Password:  c.Password,
			TLSConfig: tlsFor(c.UseTLS),
		}), nil
	case c.SentinelMasterName != "":
		if len(c.SentinelAddresses) == 0 {
			return nil, fmt.Errorf("redis: sentinel_master_name %q without sentinel_addresses", c.SentinelMasterName)
		}
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:       c.SentinelMasterName,
			SentinelAddrs:    c.SentinelAddresses,
			SentinelUsername: c.SentinelUsername,
			SentinelPassword: c.SentinelPassword,
			Username:         c.Username,
			Password:         c.Password,
			DB:               c.DB,
			TLSConfig:        tlsFor(c.UseTLS),
		}), nil
	default:
		return redis.NewClient(&redis.Options{
			Addr:      c.Address,
			Username:  c.Username,
			Password:  c.Password,
			DB:        c.DB,
			TLSConfig: tlsFor(c.UseTLS),
		}), nil
	}
}

// tlsFor returns nil without use_tls, else a TLS 1.2+ config. Its ServerName stays empty so that
// crypto/tls verifies the host of each address dialled (every node of a cluster has its own).
func tlsFor(use bool) *tls.Config {
	if !use {
		return nil
	}
	return &tls.Config{MinVersion: tls.VersionTLS12}
}

// RedisClient is what the cluster needs of go-redis: any of the single, failover and cluster
// clients NewClient builds.
type RedisClient = redis.UniversalClient
