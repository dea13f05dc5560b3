#!/usr/bin/env bash
# Regenerate Go code for proto/livekit/*.proto.
# Output: proto/livekit/*.pb.go and proto/livekit/*.twirp.go
set -euo pipefail

PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_TWIRP_VERSION=v8.1.3+incompatible

cd "$(dirname "$0")"   # proto/

if ! command -v protoc >/dev/null 2>&1; then
  echo "error: protoc not found; install it with: apt-get install -y protobuf-compiler" >&2
  exit 1
fi

GOBIN_DIR="$(go env GOBIN)"
[ -n "$GOBIN_DIR" ] || GOBIN_DIR="$(go env GOPATH)/bin"
export PATH="$GOBIN_DIR:$PATH"

want_go="${PROTOC_GEN_GO_VERSION}"
want_twirp="${PROTOC_GEN_TWIRP_VERSION%%+*}"

have_go="$(protoc-gen-go --version 2>/dev/null | awk '{print $2}' || true)"
if [ "$have_go" != "$want_go" ]; then
  echo "installing protoc-gen-go@${PROTOC_GEN_GO_VERSION}" >&2
  GOFLAGS= go install "google.golang.org/protobuf/cmd/protoc-gen-go@${PROTOC_GEN_GO_VERSION}"
fi

have_twirp="$(protoc-gen-twirp --version 2>/dev/null || true)"
if [ "$have_twirp" != "$want_twirp" ]; then
  echo "installing protoc-gen-twirp@${PROTOC_GEN_TWIRP_VERSION}" >&2
  GOFLAGS= go install "github.com/twitchtv/twirp/protoc-gen-twirp@${PROTOC_GEN_TWIRP_VERSION}"
fi

rm -f livekit/*.pb.go livekit/*.twirp.go

# Include root is proto/, so files are registered as "livekit/<name>.proto".
protoc -I . \
  --go_out=. --go_opt=paths=source_relative \
  --twirp_out=. --twirp_opt=paths=source_relative \
  livekit/livekit_models.proto \
  livekit/livekit_rtc.proto \
  livekit/livekit_room.proto \
  livekit/livekit_webhook.proto \
  livekit/livekit_agent.proto \
  livekit/livekit_agent_dispatch.proto

echo "generated: $(ls livekit/*.go | grep -v _test.go | tr '\n' ' ')"
