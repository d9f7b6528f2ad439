# Bindery — the two commands a newcomer needs are `make run` and `make test`.
GO      ?= go
PKGS    ?= ./...
FUZZTIME ?= 10s

.PHONY: run test test-deps unit fuzz bench build vet clean

## run: the demo stack on an embedded NATS (http://127.0.0.1:8080, admin token "dev")
run:
	$(GO) run ./cmd/bindery dev

## test: everything CI runs (vet, race tests, short fuzzing, browser and node tests)
test: test-deps vet unit fuzz

test-deps:
	@bash scripts/test-deps.sh

vet:
	$(GO) vet $(PKGS)

unit:
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

fuzz:
	@bash scripts/fuzz.sh $(FUZZTIME)

## bench: the Go benchmarks whose figures are in BENCHMARKS.md
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s ./events/... ./projections/...

build:
	$(GO) build -o bin/ ./cmd/...

clean:
	rm -rf bin data
