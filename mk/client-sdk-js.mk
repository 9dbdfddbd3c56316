# mk/client-sdk-js.mk — what client-sdk/js's tests need. The top Makefile's
# test-js target runs them (`cd client-sdk/js && npm test`):
#   - node_modules from package-lock.json (npm ci, redone when the lock changes);
#   - Debian's chromium at /usr/bin/chromium for the browser-bundle test
#     (installed with apt-get when missing; CHROMIUM=/path overrides);
#   - the server binary: the tests use $GRIMOIRE_BIN when set, else run
#     `go build -o bin/grimoire ./cmd/grimoire` themselves.
# Under CI=true a missing server or browser fails the tests instead of skipping them.

CLIENT_SDK_JS := client-sdk/js
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM

.PHONY: client-sdk-js-deps client-sdk-js-chromium

$(CLIENT_SDK_JS)/node_modules/.package-lock.json: $(CLIENT_SDK_JS)/package-lock.json $(CLIENT_SDK_JS)/package.json
	cd $(CLIENT_SDK_JS) && npm ci --no-audit --no-fund
	@touch $@

client-sdk-js-chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
		echo "installing chromium for the client-sdk/js browser test"; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	fi

client-sdk-js-deps: $(CLIENT_SDK_JS)/node_modules/.package-lock.json client-sdk-js-chromium

test-deps:: client-sdk-js-deps
