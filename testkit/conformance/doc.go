// Package conformance checks the node against the official LiveKit Go SDK
// (github.com/livekit/server-sdk-go/v2). It is a module of its own so the main
// module never pulls in the SDK's dependency tree, and it never imports the
// main module's packages: both register the same protobuf names. The node is
// built from ../../cmd/livekit-server and run as a separate process.
//
// The SDK's pion gathers no loopback ICE candidates, so `go test` (as root)
// creates a private network namespace with a veth pair (10.99.0.1/10.99.0.2,
// addresses that exist only inside it), runs the node and then re-runs the test
// binary inside it. See main_test.go.
package conformance
