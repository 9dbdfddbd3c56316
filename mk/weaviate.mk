# mk/weaviate.mk — the real Weaviate server that services/weaviate's tests run
# against. Include it from the top Makefile and make `test` depend on
# `weaviate`:
#
#	include mk/weaviate.mk
#	test: weaviate
#
# `make weaviate` builds weaviate-server from the Go module proxy into
# $(CACHE)/bin once (several minutes on two cores) and does nothing on later
# runs while the installed binary is the pinned version. Every recipe of this
# make run sees GRIMOIRE_WEAVIATE_BIN, which services/weaviate/weaviatetest
# reads to start the server.

CACHE ?= .cache
GO ?= go
WEAVIATE_VERSION ?= v1.33.0
WEAVIATE_PKG := github.com/weaviate/weaviate/cmd/weaviate-server
WEAVIATE_BIN ?= $(abspath $(CACHE)/bin/weaviate-server)

export GRIMOIRE_WEAVIATE_BIN := $(WEAVIATE_BIN)

.PHONY: weaviate weaviate-clean

# The version check reads the module version that go install embedded in the
# binary, so a binary of another version (or a half-written one) is rebuilt.
weaviate:
	@if $(GO) version -m "$(WEAVIATE_BIN)" 2>/dev/null | grep -Eq '^[[:space:]]*mod[[:space:]]+github.com/weaviate/weaviate[[:space:]]+$(WEAVIATE_VERSION)([[:space:]]|$$)'; then \
		echo "weaviate-server $(WEAVIATE_VERSION): $(WEAVIATE_BIN) (cached)"; \
	else \
		echo "building weaviate-server $(WEAVIATE_VERSION) into $(dir $(WEAVIATE_BIN)) (several minutes, once)"; \
		mkdir -p "$(dir $(WEAVIATE_BIN))" && \
		GOBIN="$(dir $(WEAVIATE_BIN))" $(GO) install $(WEAVIATE_PKG)@$(WEAVIATE_VERSION) && \
		test -x "$(WEAVIATE_BIN)"; \
	fi

weaviate-clean:
	rm -f "$(WEAVIATE_BIN)"

test-deps:: weaviate
