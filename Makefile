# lanchat: each target is a command you could type by hand.
CARGO ?= cargo
# Extra flags for `make server` / `make client`, e.g. make server ARGS="--port 7071"
ARGS ?=
# Server address for `make client`
ADDR ?=

.PHONY: build server client test lint fmt ci clean

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

clean:
	$(CARGO) clean
