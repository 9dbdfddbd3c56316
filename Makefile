# Grimoire — build, run, test.
#   make run    build and start the server with embedded defaults and the demo spell;
#               it prints the inspector page's address (http://127.0.0.1:8080/)
#   make test   install/start what the tests need, then run every test (with -race)
#   make bench  run the benchmarks behind docs/benchmarks.md
#   make sdk    build client-sdk/js and pack it: bin/grimoire-run-client-VERSION.tgz (npm install that file)

SHELL      := /bin/bash
GO         ?= go
BIN        := bin/grimoire
CACHE      ?= $(CURDIR)/.cache
DATA       ?= $(CURDIR)/data
GOTESTFLAGS ?= -race -count=1 -timeout 20m
export CACHE

.PHONY: all build run test test-go test-hostile test-js bench lint services npm-deps chromium clean docs fuzz sdk

all: build

build:
	$(GO) build -o $(BIN) ./cmd/grimoire

# With no model endpoint configured, `make run` starts the development
# stand-in for one (grimoire dev-llm: echo answers, not a model).
DEV_LLM ?= $(if $(GRIMOIRE_OPENAI_BASE_URL)$(GRIMOIRE_OPENAI_CONFIG),,--dev-llm)

run: build
	./$(BIN) serve --data $(DATA) $(DEV_LLM)

# Each mk/*.mk file adds what its tests need to `test-deps::` (a
# double-colon rule, so every file contributes its own recipe).
test-deps::
	@true

-include mk/*.mk

# The local services the tests talk to (NATS JetStream, Redis, PostgreSQL).
# On the development machines they run already; this starts any that stopped.
services:
	@deploy/dev/services.sh

test: services test-deps
	$(GO) vet ./...
	$(GO) test $(GOTESTFLAGS) ./...
	$(MAKE) test-hostile
	$(MAKE) test-js

# The hostile-tenant suite loads the machine on purpose (Code bombs, floods)
# and measures a victim's latency, so it runs alone, after the other tests:
# beside them it would slow their timing and theirs its figures. It runs
# without -race: the race detector's cost would be the heaviest attacker.
test-hostile:
	GRIMOIRE_TEST_HOSTILE=1 $(GO) test -count=1 -timeout 20m -run '^TestHostileTenants$$' ./cmd/grimoire

# The SDK's npm tarball (npm pack runs the build through prepack); the last
# line printed is its path.
sdk: client-sdk/js/node_modules/.package-lock.json
	@mkdir -p bin
	@cd client-sdk/js && tgz=$$(npm pack --silent --pack-destination "$(CURDIR)/bin" | tail -n 1) && echo "$(CURDIR)/bin/$$tgz"

test-js:
	@if [ -f client-sdk/js/package.json ]; then cd client-sdk/js && npm test; fi
	cd inspector && npm test

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 30m ./... | tee bench.out

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Every fuzz target for FUZZTIME each (their corpora under testdata/fuzz
# run with `make test` too).
FUZZTIME ?= 30s
fuzz:
	@set -e; for f in $$(git grep -l '^func Fuzz' -- '*_test.go'); do \
		pkg=./$$(dirname $$f); \
		for t in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | cut -d' ' -f2); do \
			echo "== $$pkg $$t ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

clean:
	rm -rf bin bench.out

# docs/nodes.md is generated from the node registry (a test checks it).
docs:
	$(GO) run ./cmd/grimoire nodes --markdown > docs/nodes.md
