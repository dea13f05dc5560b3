package media

import (
	"errors"
	"slices"
	"testing"

	"go.uber.org/goleak"
)

// rtc.ips and rtc.interfaces decide which addresses the node listens on:
// loopback candidates as well (IncludeLoopback) with includes that match
// nothing else listen on loopback alone; excludes drop an address; filters
// that keep nothing are an error, not a silent node. (pion never gathers
// ::1, so IPv6 is tested on a veth pair: cmd/livekit-server netns_test.go.)
func TestFiltersDecideListenAddresses(t *testing.T) {
	defer goleak.VerifyNone(t)
	cases := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"loopback as well, includes match nothing else", Config{IncludeLoopback: true, IPsInclude: []string{"203.0.113.77/32"}}, []string{"127.0.0.1"}},
		{"interface include", Config{IncludeLoopback: true, InterfacesInclude: []string{"lo"}}, []string{"127.0.0.1"}},
		{"loopback IPv6 is never gathered", Config{IncludeLoopback: true, IPsInclude: []string{"::1"}}, []string{"127.0.0.1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eng, err := NewEngine(tc.cfg, quietLog())
			if err != nil {
				t.Fatal(err)
			}
			defer eng.Close()
			var got []string
			for _, a := range eng.UDPAddrs() {
				got = append(got, a.IP.String())
			}
			want := tc.want
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("listening on %v, want %v", got, want)
			}
		})
	}
	if _, err := NewEngine(Config{IPsInclude: []string{"203.0.113.77/32"}}, quietLog()); !errors.Is(err, errNoAddress) {
		t.Errorf("filters keeping no address: err %v, want errNoAddress", err)
	}
	// Excludes win over loopback as well.
	if _, err := NewEngine(Config{IncludeLoopback: true, InterfacesExclude: []string{"lo"}, IPsInclude: []string{"203.0.113.77"}}, quietLog()); !errors.Is(err, errNoAddress) {
		t.Errorf("lo excluded: err %v, want errNoAddress", err)
	}
	if _, err := NewEngine(Config{IncludeLoopback: true, IPsInclude: []string{"203.0.113.77"}, IPsExclude: []string{"127.0.0.0/8"}}, quietLog()); !errors.Is(err, errNoAddress) {
		t.Errorf("127/8 excluded: err %v, want errNoAddress", err)
	}
	if _, err := NewEngine(Config{IPsInclude: []string{"nope"}}, quietLog()); err == nil {
		t.Error("a bad CIDR was accepted")
	}
}
