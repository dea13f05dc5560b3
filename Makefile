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

test: ## every test of the main module, with the race detector, then each fuzz target briefly
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 15m $(PKGS)
	$(MAKE) fuzz

test-short: ## quick run without the race detector
	$(GO) test -count=1 -short $(PKGS)

bench: ## micro-benchmarks of the forwarding path, then the load run (table, CSV and SVG in bin/bench; BENCHFLAGS="-url ws://host:7880 ..." for another server)
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./actors/media/
	$(GO) run ./testkit/cmd/loadtest -out $(BIN)/bench $(BENCHFLAGS)

e2e: build ## official livekit-client 2.x in headless Chromium against bin/livekit-server (needs node >= 20, npm, /usr/bin/chromium)
	cd testkit/browser && { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; }
	cd testkit/browser && LIVEKIT_SERVER_BIN=../../$(BIN)/livekit-server node --test --test-concurrency=1

conformance: ## official server-sdk-go v2 against the node, in a network namespace of its own (needs root and iproute2)
	cd testkit/conformance && $(GO) test -count=1 -timeout 10m ./...

# Fuzz targets as package:Target; each runs for FUZZTIME (each target 3 s plus build and seed replay: under a minute).
FUZZTIME    ?= 3s
FUZZTARGETS := ./transport:FuzzDecodeSignalRequest ./transport:FuzzAdmit ./transport:FuzzDecodeAttributes ./transport:FuzzDecodeJoinRequest \
               ./transport/auth:FuzzVerify ./actors/media:FuzzForwardingPath ./actors/media:FuzzSubscriberRTCP \
               ./actors:FuzzPublisherOffer ./actors:FuzzSubscriberAnswer ./actors:FuzzDecodeClientData

fuzz: ## run every fuzz target for FUZZTIME (seed corpora live in each package's testdata/fuzz)
	@set -e; for t in $(FUZZTARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; echo "fuzz $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10x -parallel 2 $$pkg; \
	done

proto: ## regenerate proto/livekit/*.pb.go and the Twirp service (needs protoc)
	bash proto/gen.sh

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -l -w $$(git ls-files '*.go' | grep -v '\.pb\.go$$' | grep -v '\.twirp\.go$$')

clean:
	rm -rf $(BIN)
