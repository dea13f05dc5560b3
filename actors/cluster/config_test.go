package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"gopkg.in/yaml.v3"

	"github.com/actor-sfu/livekit-server/actors/cluster"
	redistest "github.com/actor-sfu/livekit-server/testkit/redis"
)

// A LiveKit config's keys land in the right fields.
func TestConfigYAMLKeys(t *testing.T) {
	src := `
region: eu-west
redis:
  address: 127.0.0.1:6379
  username: u
  password: p
  db: 2
  use_tls: true
  sentinel_master_name: mymaster
  sentinel_username: su
  sentinel_password: sp
  sentinel_addresses: [10.0.0.1:26379, 10.0.0.2:26379]
  cluster_addresses: [10.0.1.1:6379]
node_selector:
  kind: cpuload
  sort_by: rooms
  cpu_load_limit: 0.8
  sysload_limit: 0.7
`
	var c cluster.Config
	if err := yaml.Unmarshal([]byte(src), &c); err != nil {
		t.Fatal(err)
	}
	r := c.Redis
	if c.Region != "eu-west" || r.Address != "127.0.0.1:6379" || r.Username != "u" || r.Password != "p" ||
		r.DB != 2 || !r.UseTLS || r.SentinelMasterName != "mymaster" || r.SentinelUsername != "su" ||
		r.SentinelPassword != "sp" || len(r.SentinelAddresses) != 2 || r.ClusterAddresses[0] != "10.0.1.1:6379" {
		t.Fatalf("redis section: %+v", c)
	}
	s := c.NodeSelector
	if s.Kind != "cpuload" || s.SortBy != "rooms" || s.CPULoadLimit != 0.8 || s.SysloadLimit != 0.7 {
		t.Fatalf("node_selector: %+v", s)
	}
}

func TestNewClientShapes(t *testing.T) {
	if _, err := cluster.NewClient(cluster.RedisConfig{}); err != cluster.ErrNotConfigured {
		t.Fatalf("empty config: %v", err)
	}
	single, err := cluster.NewClient(cluster.RedisConfig{Address: "127.0.0.1:1", DB: 3, UseTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer single.Close()
	if c, ok := single.(*redis.Client); !ok || c.Options().DB != 3 || c.Options().TLSConfig == nil {
		t.Fatalf("single: %T", single)
	}
	failover, err := cluster.NewClient(cluster.RedisConfig{SentinelMasterName: "m", SentinelAddresses: []string{"127.0.0.1:2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer failover.Close()
	// A failover client is a *redis.Client whose dialer asks the sentinels.
	if c, ok := failover.(*redis.Client); !ok || c.Options().TLSConfig != nil {
		t.Fatalf("failover: %T", failover)
	}
	cl, err := cluster.NewClient(cluster.RedisConfig{Address: "ignored:1", ClusterAddresses: []string{"127.0.0.1:3"}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, ok := cl.(*redis.ClusterClient); !ok {
		t.Fatalf("cluster: %T", cl)
	}
	if _, err := cluster.NewClient(cluster.RedisConfig{ClusterAddresses: []string{"a:1"}, DB: 1}); err == nil {
		t.Fatal("cluster with db 1 accepted")
	}
	if _, err := cluster.NewClient(cluster.RedisConfig{SentinelMasterName: "m"}); err == nil {
		t.Fatal("sentinel without addresses accepted")
	}
}

func TestNodeSelectorValidate(t *testing.T) {
	for _, ok := range []cluster.NodeSelectorConfig{{}, {Kind: "sysload", SortBy: "bytespersec"}, {Kind: "any", SortBy: "clients"}} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	for _, bad := range []cluster.NodeSelectorConfig{{Kind: "regionaware2"}, {SortBy: "weight"}, {CPULoadLimit: 1.5}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	d := cluster.NodeSelectorConfig{}.WithDefaults()
	if d.Kind != "any" || d.SortBy != "random" || d.CPULoadLimit != 0.9 || d.SysloadLimit != 0.9 {
		t.Fatalf("defaults: %+v", d)
	}
}

// The sentinel shape finds the master through a real Redis Sentinel and the cluster runs over it.
func TestSentinelClientReachesMaster(t *testing.T) {
	srv := redistest.Start(t)
	sen := redistest.StartSentinel(t, srv, "lkmaster")
	rdb, err := cluster.NewClient(cluster.RedisConfig{SentinelMasterName: "lkmaster", SentinelAddresses: []string{sen.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := cluster.Start(ctx, rdb, cluster.Config{}, cluster.RegistryOptions{NodeID: "ND_S"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(context.Background())
	if err := c.Directory.Claim(ctx, "via-sentinel"); err != nil {
		t.Fatal(err)
	}
	// Read behind the client's back, straight from the master.
	direct := srv.Client()
	if got, err := direct.Get(ctx, "livekit:rooms/via-sentinel").Result(); err != nil || got != "ND_S" {
		t.Fatalf("room entry on the master: %q %v", got, err)
	}
	if n, err := direct.Exists(ctx, "{livekit-nodes}:nodes/ND_S").Result(); err != nil || n != 1 {
		t.Fatalf("node entry on the master: %d %v", n, err)
	}
}

// The cluster shape runs the registry, directory and placer on a Redis Cluster: the registry's
// keys share a slot, so its multi-key reads do not fail with CROSSSLOT.
func TestClusterClientRunsCluster(t *testing.T) {
	srv := redistest.StartCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var nodes []*cluster.Cluster
	for _, id := range []string{"ND_A", "ND_B"} {
		rdb, err := cluster.NewClient(cluster.RedisConfig{ClusterAddresses: []string{srv.Addr()}})
		if err != nil {
			t.Fatal(err)
		}
		defer rdb.Close()
		c, err := cluster.Start(ctx, rdb, cluster.Config{}, cluster.RegistryOptions{NodeID: id}, nil)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		defer c.Stop(context.Background())
		nodes = append(nodes, c)
	}
	infos, err := nodes[0].Registry.Nodes(ctx)
	if err != nil || len(infos) != 2 {
		t.Fatalf("nodes on a Redis Cluster: %v %v", infos, err)
	}
	a, err := nodes[0].Placer.Place(ctx, "on-cluster")
	if err != nil {
		t.Fatal(err)
	}
	b, err := nodes[1].Placer.Place(ctx, "on-cluster")
	if err != nil || b.ID != a.ID {
		t.Fatalf("second placer: %v %v, first said %s", b.ID, err, a.ID)
	}
	owner := nodes[0]
	if a.ID == "ND_B" {
		owner = nodes[1]
	}
	if err := owner.Directory.Claim(ctx, "on-cluster"); err != nil {
		t.Fatal(err)
	}
	if err := owner.Directory.Release(ctx, "on-cluster"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := nodes[1].Directory.Lookup(ctx, "on-cluster"); ok || err != nil {
		t.Fatalf("released on the cluster: %v %v", ok, err)
	}
}
