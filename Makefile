# livekit-server — build, run and test. `make run` and `make test` are the two commands a newcomer needs.
GO       ?= go
BIN      := bin
PKGS     := ./...
RUNFLAGS ?= --dev

.PHONY: all build run test test-short bench e2e conformance fuzz proto vet fmt clean

all: build

build: ## build bin/livekit-server and bin/livekit-cli
	$(GO) build -o $(BIN)/livekit-server ./cmd/livekit-server
	$(GO) build -o $(BIN)/livekit-cli ./cmd/livekit-cli

run: build ## build and start the node in dev mode (API key devkey, secret "secret", 127.0.0.1:7880)
	./$(BIN)/livekit-server $(RUNFLAGS)

test: ## every test of the main module, with the race detector
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

test-short: ## quick run without the race detector
	$(GO) test -count=1 -short $(PKGS)

bench: ## micro-benchmarks of the forwarding path, then the load run against a started node
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./actors/media/
	$(GO) run ./testkit/cmd/loadtest $(BENCHFLAGS)

proto: ## regenerate proto/livekit/*.pb.go and the Twirp service (needs protoc)
	bash proto/gen.sh

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -l -w $$(git ls-files '*.go' | grep -v '\.pb\.go$$' | grep -v '\.twirp\.go$$')

clean:
	rm -rf $(BIN)
