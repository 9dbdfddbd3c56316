# mk/server.mk — what the tests and benchmarks of server/... need: Node.js and
# three pinned npm packages.
#
#   server/socket/testdata/clients  socket.io-client 2.5.0 and 4.8.1 (the real
#                                   editors' clients the socket and server
#                                   tests drive, through sockettest)
#   server/testdata/openapi         @apidevtools/swagger-parser 10.1.1 (validates
#                                   server/openapi.json)
#   server/testdata/mcp             @modelcontextprotocol/sdk 1.32.2 (the TypeScript
#                                   MCP client TestMCPTypeScriptClient drives /mcp with)
#
# `make server-deps` (part of `make test-deps`) installs Node.js from apt when
# it is missing, then runs `npm ci` in each folder whose package-lock.json is
# newer than its installed tree; later runs do nothing. Without these, the
# tests that need them fail when CI=true and skip otherwise.
#
# `make bench-server` runs the benchmarks behind the server's figures in
# docs/benchmarks.md (sockets held, event latency, REST round trip).

NPM ?= npm
SERVER_NPM_DIRS := server/socket/testdata/clients server/testdata/openapi server/testdata/mcp
SERVER_NPM_STAMPS := $(addsuffix /node_modules/.package-lock.json,$(SERVER_NPM_DIRS))

.PHONY: server-deps server-node bench-server server-deps-clean

server-deps: server-node $(SERVER_NPM_STAMPS)

server-node:
	@if ! command -v node >/dev/null 2>&1 || ! command -v $(NPM) >/dev/null 2>&1; then \
		echo "installing Node.js and npm (apt)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; \
	fi
	@node -e 'const [maj] = process.versions.node.split(".").map(Number); if (maj < 18) { console.error("Node.js " + process.version + " is too old: the socket tests need 18+"); process.exit(1) }'

# npm ci writes node_modules/.package-lock.json; it is stale when the lock
# file changed.
%/node_modules/.package-lock.json: %/package-lock.json %/package.json
	cd $* && $(NPM) ci --no-audit --no-fund --loglevel=error
	@touch $@

server-deps-clean:
	rm -rf $(addsuffix /node_modules,$(SERVER_NPM_DIRS))

bench-server: server-deps
	$(GO) test -run '^$$' -bench . -benchtime 1x -count=1 -timeout 20m ./server/ | tee bench-server.out

test-deps:: server-deps
