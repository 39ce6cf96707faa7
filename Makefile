# lanchat: each target is a command you could type by hand.
CARGO ?= cargo
# Extra flags for `make server` / `make client`, e.g. make server ARGS="--port 7071"
ARGS ?=
# Server address for `make client`
ADDR ?=
# `make load` knobs (empty = the scenario's own): e.g. make load SCENARIO=fanout CLIENTS=200;
# also LOAD_ARGS (lanchat-load flags), SERVER_ARGS (lanchat-server flags), SERVER_BIN (another
# server binary to measure, e.g. an older build), PERF=1 (perf record)
SCENARIO ?=
CLIENTS ?=
SENDERS ?=
MESSAGES ?=
SIZE ?=
RATE ?=
SERVER_BIN ?=
# Seconds `make fuzz` runs each fuzz target, and which targets
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= decoder room

.PHONY: build server client test lint fmt ci clean load fuzz

build:
	$(CARGO) build --workspace --release

server:
	$(CARGO) run --release -p lanchat-server -- $(ARGS)

client:
	$(CARGO) run --release -p lanchat-client --bin lanchat -- $(ADDR) $(ARGS)

# The integration tests run the built binaries, so build them first.
test:
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

ci: lint test

# Load scenarios against a fresh release server each (not part of CI); see docs/BENCHMARKS.md.
load:
	$(CARGO) build --release -p lanchat-server -p integration-tests --bin lanchat-server --bin lanchat-load
	SCENARIO="$(SCENARIO)" CLIENTS="$(CLIENTS)" SENDERS="$(SENDERS)" MESSAGES="$(MESSAGES)" \
		SIZE="$(SIZE)" RATE="$(RATE)" LOAD_ARGS="$(LOAD_ARGS)" SERVER_ARGS="$(SERVER_ARGS)" \
		SERVER_BIN="$(SERVER_BIN)" PERF="$(PERF)" scripts/load.sh

# Not part of ci. cargo-fuzz needs nightly flags; the one stable toolchain takes them with
# RUSTC_BOOTSTRAP=1. Logs go to fuzz/logs/, crashing inputs to fuzz/artifacts/<target>/.
fuzz:
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz
	@mkdir -p fuzz/logs
	@for t in $(FUZZ_TARGETS); do \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
		if (cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $$t -- \
				-max_total_time=$(FUZZ_SECONDS) -print_final_stats=1) >fuzz/logs/$$t.log 2>&1; then \
			echo "fuzz: $$t ok: $$(grep -E '^Done [0-9]+ runs' fuzz/logs/$$t.log)"; \
		else \
			tail -n 30 fuzz/logs/$$t.log; \
			echo "fuzz: $$t FAILED; log fuzz/logs/$$t.log, input in fuzz/artifacts/$$t/"; \
			exit 1; \
		fi; \
	done

clean:
	$(CARGO) clean
