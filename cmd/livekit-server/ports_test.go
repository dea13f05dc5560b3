package main

import (
	"io"
	"slices"
	"testing"
)

// The rtc keys reach the media engine with LiveKit's meaning.
func TestRTCPortAndFilterKeys(t *testing.T) {
	cases := []struct {
		name, yaml string
		dev        bool
		check      func(t *testing.T, c *Config)
	}{
		{name: "port_range without udp_port gives a port per PeerConnection", yaml: "rtc:\n  port_range_start: 50000\n  port_range_end: 50100\n", check: func(t *testing.T, c *Config) {
			m := c.nodeConfig("", nil).Media
			if m.PortRangeStart != 50000 || m.PortRangeEnd != 50100 || m.UDPPort != 0 {
				t.Errorf("media = %+v, want ephemeral 50000-50100", m)
			}
			if p := c.RTC.mediaPorts(); len(p) != 1 || p[0].Min != 50000 || p[0].Max != 50100 {
				t.Errorf("TURN media ports %v", p)
			}
		}},
		{name: "udp_port wins over port_range", yaml: "rtc:\n  udp_port: 7000-7003\n  port_range_start: 50000\n  port_range_end: 50100\n", check: func(t *testing.T, c *Config) {
			m := c.nodeConfig("", nil).Media
			if m.UDPPort != 7000 || m.UDPPortEnd != 7003 || m.PortRangeStart != 0 {
				t.Errorf("media = %+v, want muxed 7000-7003", m)
			}
			if p := c.RTC.mediaPorts(); len(p) != 1 || p[0].Min != 7000 || p[0].Max != 7003 {
				t.Errorf("TURN media ports %v", p)
			}
		}},
		{name: "enable_loopback_candidate adds loopback, keeps the rest", yaml: "rtc:\n  node_ip: 10.1.2.3\n  enable_loopback_candidate: true\n  ips:\n    includes: [10.1.2.3/32]\n    excludes: [10.9.0.0/16]\n  interfaces:\n    includes: [eth0]\n    excludes: [docker0]\n", check: func(t *testing.T, c *Config) {
			m := c.nodeConfig("", nil).Media
			if m.LoopbackOnly || !m.IncludeLoopback || m.BindIP != "" {
				t.Errorf("media = %+v, want loopback as well, unbound", m)
			}
			if !slices.Equal(m.IPsInclude, []string{"10.1.2.3/32"}) || !slices.Equal(m.IPsExclude, []string{"10.9.0.0/16"}) ||
				!slices.Equal(m.InterfacesInclude, []string{"eth0"}) || !slices.Equal(m.InterfacesExclude, []string{"docker0"}) {
				t.Errorf("filters = %+v", m)
			}
		}},
		{name: "--dev stays loopback only", dev: true, yaml: "rtc:\n  enable_loopback_candidate: true\n", check: func(t *testing.T, c *Config) {
			if m := c.nodeConfig("", nil).Media; !m.LoopbackOnly {
				t.Errorf("media = %+v, want loopback only", m)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"--config-body", tc.yaml, "--keys", "k: secretsecretsecretsecretsecretsecret"}
			if tc.dev {
				args = append(args, "--dev")
			}
			ld, err := loadConfig(args, env(nil), files(nil), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, &ld.cfg)
		})
	}
	for _, bad := range []string{
		"rtc:\n  ips:\n    includes: [not-a-cidr]\n",
		"rtc:\n  port_range_start: 50000\n",
		"rtc:\n  port_range_start: 60000\n  port_range_end: 50000\n",
		"rtc:\n  udp_port: 7005-7001\n",
	} {
		if _, err := loadConfig([]string{"--config-body", bad, "--keys", "k: secretsecretsecretsecretsecretsecret"}, env(nil), files(nil), io.Discard); err == nil {
			t.Errorf("config %q accepted", bad)
		}
	}
}
