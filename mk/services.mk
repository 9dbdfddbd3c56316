# mk/services.mk — completion, embedding and knowledge (services/**, the
# llm_/knowledge_/memory_ node types, events/memory). Included by the top
# Makefile.
#
# The tests need nothing installed but the Weaviate server of mk/weaviate.mk
# (`make weaviate`, part of test-deps), whose path that file exports as
# GRIMOIRE_WEAVIATE_BIN; services/weaviate and services/fromenv fail under
# CI=true without it. The GPU inference server is replaced in tests by the
# in-process test double services/devllm.
#
#   make test-services   the tests of this area, with -race
#   make bench-services  the benchmarks behind the micro-batching and
#                        streaming figures of docs/benchmarks.md

GO ?= go
SERVICES_PKGS := ./services/... ./nodes/... ./events/memory/...

.PHONY: test-services bench-services

test-services: weaviate
	$(GO) test -race -count=1 -timeout 15m $(SERVICES_PKGS)

bench-services:
	$(GO) test -run '^$$' -bench 'BenchmarkMicroBatching' -benchtime 20x -count 3 ./services/embedbatch
	$(GO) test -run '^$$' -bench 'BenchmarkStreamingOverhead' -benchtime 50x -count 3 ./services/openai
	$(GO) test -run '^$$' -bench 'BenchmarkStreamingToPartialOutput' -benchtime 100x -count 3 ./nodes
