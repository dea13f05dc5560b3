package conformance

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// Addresses inside the test namespace. They exist only there: nothing is sent
// to the machine's own interfaces.
const (
	nodeIP   = "10.99.0.1" // the node binds and advertises this
	clientIP = "10.99.0.2" // the other veth end; the SDK's pion may gather it too
	nsPrefix = "lkconf-"
)

// netns is a network namespace made for one test run.
type netns struct{ name string }

// run runs ip(8) with args and returns a descriptive error.
func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// newNetns creates lkconf-<pid> with loopback up and a veth pair whose two
// ends both live inside it, addressed nodeIP/24 and clientIP/24.
func newNetns() (*netns, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the conformance suite must run as root (it creates a network namespace)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, errors.New("ip(8) not found: apt-get install -y iproute2")
	}
	removeStaleNetns()
	ns := &netns{name: nsPrefix + strconv.Itoa(os.Getpid())}
	steps := [][]string{
		{"netns", "add", ns.name},
		{"-n", ns.name, "link", "set", "lo", "up"},
		// No IPv6: the SDK's pion would try (and fail) to listen on link-local
		// addresses of the veth pair.
		{"netns", "exec", ns.name, "sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 && echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6 || true"},
		{"-n", ns.name, "link", "add", "lkc0", "type", "veth", "peer", "name", "lkc1"},
		{"-n", ns.name, "addr", "add", nodeIP + "/24", "dev", "lkc0"},
		{"-n", ns.name, "addr", "add", clientIP + "/24", "dev", "lkc1"},
		{"-n", ns.name, "link", "set", "lkc0", "up"},
		{"-n", ns.name, "link", "set", "lkc1", "up"},
	}
	for i, s := range steps {
		if err := ipCmd(s...); err != nil {
			if i > 0 {
				ns.delete()
			}
			return nil, err
		}
	}
	return ns, nil
}

// delete removes the namespace (and with it the veth pair).
func (ns *netns) delete() {
	if err := ipCmd("netns", "delete", ns.name); err != nil {
		fmt.Fprintln(os.Stderr, "conformance: cleanup:", err)
	}
}

// command returns cmd run inside the namespace.
func (ns *netns) command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.name, name}, args...)...)
}

// removeStaleNetns deletes lkconf-<pid> namespaces left by runs whose process
// is gone (a killed test cannot clean up after itself).
func removeStaleNetns() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		pid, err := strconv.Atoi(strings.TrimPrefix(name, nsPrefix))
		if !strings.HasPrefix(name, nsPrefix) || err != nil || pid <= 0 {
			continue
		}
		if syscall.Kill(pid, 0) == nil || pid == os.Getpid() {
			continue // still running
		}
		_ = ipCmd("netns", "delete", name)
	}
}
