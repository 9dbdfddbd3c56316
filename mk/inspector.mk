# mk/inspector.mk — the inspector page (inspector/, served by `grimoire serve`
# at / from server/inspector/dist, which is committed so that `make run`
# needs nothing but Go).
#
#   make inspector        rebuild server/inspector/dist from inspector/src
#                         (commit the result; TestDistMatchesSources fails
#                         while dist/ differs from what the sources build to)
#   make inspector-deps   (part of make test-deps) inspector/node_modules from
#                         its package-lock.json, and Debian's chromium for the
#                         browser tests (client-sdk-js-chromium)
#
# `make test-js` runs `npm test` in inspector/: type check, the dist check,
# the unit tests and the browser tests (Chromium driven by playwright-core
# against a real `grimoire serve`; they use $GRIMOIRE_BIN or build
# bin/grimoire). Under CI=true a missing browser fails them.

INSPECTOR := inspector

.PHONY: inspector inspector-deps

$(INSPECTOR)/node_modules/.package-lock.json: $(INSPECTOR)/package-lock.json $(INSPECTOR)/package.json
	cd $(INSPECTOR) && npm ci --no-audit --no-fund
	@touch $@

inspector-deps: $(INSPECTOR)/node_modules/.package-lock.json client-sdk-js-chromium

inspector: $(INSPECTOR)/node_modules/.package-lock.json
	cd $(INSPECTOR) && node scripts/build.mjs

test-deps:: inspector-deps
