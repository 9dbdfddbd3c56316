# mk/events.mk — what the event log's tests and benchmarks need (events/**,
# server/runs, services/postgres). Included by the top Makefile.
#
# `make events-deps` (part of `make test` through test-deps) makes sure the
# PostgreSQL that services/postgres's and events/postgres's tests and the
# events/figures benchmarks use has the `test` database (user postgres, trust auth on
# 127.0.0.1:5432; override with GRIMOIRE_TEST_POSTGRES_URL). The server
# itself is started by `make services`. The bus tests use the NATS JetStream
# of `make services`; no EventStoreDB is needed (the adapter's tests run
# against an in-process gRPC test double; set GRIMOIRE_TEST_ESDB_URL to also
# run the contract suite against a real server).
#
# `make bench-events` runs the benchmarks behind the event-log figures of
# docs/benchmarks.md.

PSQL ?= psql
GO ?= go

.PHONY: events-deps bench-events

events-deps:
	@if [ -n "$${GRIMOIRE_TEST_POSTGRES_URL:-}" ]; then exit 0; fi; \
	if ! command -v $(PSQL) >/dev/null; then \
		echo "events-deps: psql not installed; PostgreSQL tests fail under CI=true" >&2; exit 0; fi; \
	if ! $(PSQL) -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then \
		echo "events-deps: PostgreSQL on 127.0.0.1:5432 not reachable as postgres; run make services" >&2; exit 0; fi; \
	if [ "$$($(PSQL) -h 127.0.0.1 -U postgres -d postgres -Atqc "select 1 from pg_database where datname = 'test'")" != 1 ]; then \
		$(PSQL) -h 127.0.0.1 -U postgres -d postgres -qc 'create database test' && echo "events-deps: created database test"; \
	fi

test-deps:: events-deps

bench-events: services events-deps
	$(GO) test -run '^$$' -bench 'EngineAppend|BoltAppend' -benchtime 20000x ./events/embedded/ ./events/embedded/enginecompare/
	$(GO) test -run '^$$' -bench 'Append/.*/writers=64|SubscriptionLag' -benchtime 50000x ./events/figures/
	$(GO) test -run '^$$' -bench 'Append/.*/writers=1$$' -benchtime 5000x ./events/figures/
	$(GO) test -run '^$$' -bench RecordingOverhead -benchtime 60x ./events/figures/
	$(GO) test -run '^$$' -bench 'PostgresStoreAppend/.*/writers=64' -benchtime 20000x ./events/figures/
	$(GO) test -run '^$$' -bench 'PostgresStoreAppend/.*/writers=1$$' -benchtime 3000x ./events/figures/
	$(GO) test -run '^$$' -bench 'PostgresStoreSubscriptionLag' -benchtime 10000x ./events/figures/
