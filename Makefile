# Bindery — the two commands a newcomer needs are `make run` and `make test`.
GO      ?= go
PKGS    ?= ./...
FUZZTIME ?= 3s

.PHONY: run test test-deps unit fuzz bench bench-login bench-login-profile bench-durability bench-cluster bench-replay test-faults build vet clean

## run: the demo stack on an embedded NATS (http://127.0.0.1:8080, admin token "dev")
run:
	@echo "make run: building and starting the dev stack (the first run compiles for a few minutes; ports 8080, 8081, 4222)"
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

## bench-login: the login load test (bindery serve + wxsim + binderyctl bench login); BENCH_ARGS="--duration 60s"
bench-login:
	@bash scripts/bench-login.sh $(BENCH_ARGS)

## bench-durability: logins/s, refreshes/s and bulk-sync rate per BINDERY_NATS_SYNC policy, runs interleaved (ROUNDS=3)
bench-durability:
	@bash scripts/bench-durability.sh

## bench-cluster: logins/s, p99 and CPU per replica for 1, 2 and 3 bindery replicas on a 3-node R3 JetStream cluster
## (processes on this machine); BENCH_CLUSTER_ARGS="--duration 30s", BENCH_CLUSTER_ROUNDS=2, BENCH_CLUSTER_REPLICAS=1,2,3
bench-cluster:
	BINDERY_BENCH_CLUSTER=1 $(GO) test -count=1 -timeout 60m -run 'TestBenchCluster$$' -v ./internal/devtools/cluster

## bench-replay: replay, verify and restart-to-ready over 1M stored events (generated once into $TMPDIR/bindery-replay);
## BENCH_REPLAY_ROUNDS=3, BINDERY_REPLAY_EVENTS, BINDERY_REPLAY_DIR, BINDERY_REPLAY_PROFILE=<dir> for CPU profiles
bench-replay:
	BINDERY_REPLAY_MEASURE=1 BINDERY_REPLAY_ROUNDS=$(or $(BENCH_REPLAY_ROUNDS),1) $(GO) test -count=1 -timeout 60m -run 'TestReplayMeasure$$' -v ./internal/devtools/replaybench

## test-faults: the long form of the fault test (TestFaultsUnderLoad; make test runs the short one): each fault held 20 s, more load
test-faults:
	BINDERY_FAULTS_LONG=1 $(GO) test -race -count=1 -timeout 20m -run 'TestFaultsUnderLoad$$' -v ./internal/devtools/cluster

## bench-login-profile: the same load with server, wxsim and client in one process, CPU-profiled during the timed phase (bin/bench-login.cpu;
## its allocations: go tool pprof -sample_index=alloc_space -base bin/bench-login.cpu.allocs-start bin/bench-login.cpu.allocs)
bench-login-profile:
	@mkdir -p bin
	BINDERY_BENCH_ARGS="$(or $(BENCH_ARGS),--users 1000 --duration 20s) --cpuprofile $(CURDIR)/bin/bench-login.cpu" \
		$(GO) test -count=1 -timeout 10m -run 'TestBenchLogin$$' -v ./cmd/binderyctl
	$(GO) tool pprof -top -nodecount 40 bin/bench-login.cpu

build:
	$(GO) build -o bin/ ./cmd/...

clean:
	rm -rf bin data
