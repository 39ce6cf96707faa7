# lanchat: each target is a command you could type by hand.
CARGO ?= cargo
# Extra flags for `make server` / `make client`, e.g. make server ARGS="--port 7071"
ARGS ?=
# Server address for `make client`
ADDR ?=
# `make load` knobs (empty = the scenario's own): e.g. make load SCENARIO=fanout CLIENTS=200;
# WIRE=tls or WIRE=plain runs one way only (default both, side by side);
# also LOAD_ARGS (lanchat-load flags), SERVER_ARGS (lanchat-server flags), SERVER_BIN (another
# server binary to measure, e.g. an older build), PERF=1 (perf record)
SCENARIO ?=
WIRE ?=
CLIENTS ?=
SENDERS ?=
MESSAGES ?=
SIZE ?=
RATE ?=
SERVER_BIN ?=
# `make install` / `make uninstall`: where to (DESTDIR is prepended to every path, for
# packaging into a staging folder), and where the built binaries are (`make build` puts them
# there; install only copies, so `make build && sudo make install` builds as you, not root).
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR ?= $(DATADIR)/zsh/site-functions
FISHCOMPDIR ?= $(DATADIR)/fish/vendor_completions.d
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
BUILD ?= target/release
# Binaries are installed stripped: the release profile keeps line tables for perf (10 MiB of
# the server's 11 MiB); INSTALL_PROGRAM="install -m 755" keeps them.
INSTALL_PROGRAM ?= install -m 755 -s
# Seconds `make fuzz` runs each fuzz target, and which targets
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= decoder room
# Tests run at once within each test binary (`make test TEST_THREADS=1` for one at a time).
# Most integration tests wait on a server or a client process, not on a core: four at a time
# on 2 cores took `make test` from 44-45 s to 37-38 s with no test changed.
TEST_THREADS ?= 4

.PHONY: build server client test lint fmt ci clean load fuzz install uninstall

build:
	$(CARGO) build --workspace --release

server:
	$(CARGO) run --release -p lanchat-server -- $(ARGS)

client:
	$(CARGO) run --release -p lanchat-client --bin lanchat -- $(ADDR) $(ARGS)

# The integration tests run the built binaries, so build them first.
test:
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace -- --test-threads $(TEST_THREADS)

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

ci: lint test

# The two binaries; a man page and bash/zsh/fish completions for each, written by
# lanchat-packaging from the same clap definitions as --help; the systemd unit, pointed at
# the installed server.
install:
	@for b in lanchat-server lanchat lanchat-packaging; do \
		test -x "$(BUILD)/$$b" || { echo "make install: $(BUILD)/$$b is not built: run 'make build' first (as yourself, not root)" >&2; exit 1; }; \
	done
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(SYSTEMDUNITDIR)"
	$(INSTALL_PROGRAM) "$(BUILD)/lanchat-server" "$(BUILD)/lanchat" "$(DESTDIR)$(BINDIR)/"
	"$(BUILD)/lanchat-packaging" --man-dir "$(DESTDIR)$(MANDIR)" --bash-dir "$(DESTDIR)$(BASHCOMPDIR)" \
		--zsh-dir "$(DESTDIR)$(ZSHCOMPDIR)" --fish-dir "$(DESTDIR)$(FISHCOMPDIR)"
	sed 's|^ExecStart=/usr/local/bin/|ExecStart=$(BINDIR)/|' packaging/lanchat.service \
		> "$(DESTDIR)$(SYSTEMDUNITDIR)/lanchat.service"
	chmod 644 "$(DESTDIR)$(SYSTEMDUNITDIR)/lanchat.service"

# Removes what install put there (stop the service first: systemctl disable --now lanchat).
uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/lanchat-server" "$(DESTDIR)$(BINDIR)/lanchat" \
		"$(DESTDIR)$(MANDIR)/man8/lanchat-server.8" "$(DESTDIR)$(MANDIR)/man1/lanchat.1" \
		"$(DESTDIR)$(SYSTEMDUNITDIR)/lanchat.service"
	for b in lanchat-server lanchat; do \
		rm -f "$(DESTDIR)$(BASHCOMPDIR)/$$b" "$(DESTDIR)$(ZSHCOMPDIR)/_$$b" "$(DESTDIR)$(FISHCOMPDIR)/$$b.fish"; \
	done

# Load scenarios against a fresh release server each (not part of CI); see docs/BENCHMARKS.md.
load:
	$(CARGO) build --release -p lanchat-server -p integration-tests --bin lanchat-server --bin lanchat-load
	SCENARIO="$(SCENARIO)" WIRE="$(WIRE)" CLIENTS="$(CLIENTS)" SENDERS="$(SENDERS)" MESSAGES="$(MESSAGES)" \
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
