# atlas-sync build, test and demo targets. `make help` lists them.

GO      ?= go
BIN     ?= bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)

# go-sqlite3 is a cgo package.
export CGO_ENABLED := 1

.PHONY: help build test test-short soak lint bench bench-rate bench-backfill demo soak-daemon docker clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/atlas-sync and bin/atlas-emulator
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/atlas-sync .
	$(GO) build -trimpath -o $(BIN)/atlas-emulator ./cmd/atlas-emulator

test: ## run every test with the race detector, with a throwaway PostgreSQL when installed
	scripts/with-postgres.sh $(GO) test -race -count=1 -timeout 30m ./...

test-short: ## run the tests without the race detector and the long cases
	$(GO) test -short -count=1 ./...

# FUZZTIME is how long `make soak` runs each fuzzer.
FUZZTIME ?= 5m

soak: ## run the long reliability tests, then each fuzzer for FUZZTIME; see docs/reliability.md
	ATLAS_SYNC_SOAK=1 $(GO) test -count=1 -timeout 60m -v -run . ./reliability/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./config
	$(GO) test -run '^$$' -fuzz '^FuzzCSVSource$$' -fuzztime $(FUZZTIME) ./sources/csv
	$(GO) test -run '^$$' -fuzz '^FuzzConvert$$' -fuzztime $(FUZZTIME) ./mapping
	$(GO) test -run '^$$' -fuzz '^FuzzCSVWithMapping$$' -fuzztime $(FUZZTIME) ./mapping

lint: ## gofmt and go vet
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

bench: ## run the Go benchmarks and the 1M-row diff pass; see docs/benchmarks.md
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./...
	$(GO) run ./cmd/atlas-bench -scenarios diff

bench-rate: ## measure the request rate against the emulator (two runs of a minute)
	$(GO) run ./cmd/atlas-bench -scenarios rate

bench-backfill: ## send 1M accounts through the emulator, interrupted twice (minutes)
	$(GO) run ./cmd/atlas-bench -scenarios backfill

soak-daemon: ## run the daemon for 10 minutes and check goroutines and memory; see docs/benchmarks.md
	ATLAS_SYNC_SOAK=$${ATLAS_SYNC_SOAK:-10m} $(GO) test -run '^TestDaemonSoak$$' -count=1 -timeout 30m -v ./e2e/daemon/

demo: build ## sync testdata/demo/accounts.csv into a local emulator, twice
	scripts/demo.sh

IMAGE ?= atlas-sync:$(VERSION)

docker: ## build the container image atlas-sync:VERSION (set IMAGE to rename) with the version stamped
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg DATE=$(DATE) -t $(IMAGE) .

clean: ## remove build output
	rm -rf $(BIN)
