#!/usr/bin/env bash
# `make load`: for each scenario, both ways (plaintext, then TLS): a fresh release server on a
# free loopback port (flood control off, 127.0.0.1 exempt from the per-address limits),
# `lanchat-load` against it, the server stopped (also on failure or Ctrl-C); the JSON lines go
# to target/load/<time>.jsonl (and latest.jsonl), and one summary table is printed at the end,
# with TLS and plaintext side by side.
#
# A fresh server per scenario keeps the figures apart: VmHWM (peak RSS) is per process, and the
# LEAVE storm of one scenario's 10,000 disconnects must not land in the next one's timing.
#
# `restart` restarts its server under 1,000 settled clients: lanchat-load sends it SIGTERM and
# starts it again with the command given after `--` (the same flags and state directory, and
# the port the first one got), then stops that one itself when done (and the new server gets
# SIGTERM from the kernel should lanchat-load die first). All clients come from 127.0.0.1,
# which both servers exempt from the per-address limits: they stand for 1,000 hosts.
#
# Environment (all optional): SCENARIO (one or more of idle fanout room chatter storm rooms
# memberships restart small; default all but small), WIRE (plain, tls or both: "plain tls", the
# default), CLIENTS, SENDERS, MESSAGES, SIZE, RATE, LOAD_ARGS (more lanchat-load flags),
# SERVER_ARGS (more lanchat-server flags), SERVER_BIN (another server binary, e.g. an older
# build to compare with; default target/release/lanchat-server), PERF=1 (record the server with
# `perf record` into target/load/<scenario>-<wire>.perf.data; for restart, the first server
# only). Assumes the release binaries are
# built (make does it). Each server gets a fresh state directory,
# target/load/state/<scenario>-<wire> (a new key for TLS, no history from an earlier run: both
# ways start equal).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/release
out=target/load
mkdir -p "$out"
results="$out/$(date +%Y%m%d-%H%M%S).jsonl"
: >"$results"

server_pid=
perf_pid=
stop_perf() {
    [ -n "$perf_pid" ] || return 0
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
    perf_pid=
}
stop_server() {
    stop_perf
    [ -n "$server_pid" ] || return 0
    kill -TERM "$server_pid" 2>/dev/null || true
    # SIGTERM gives clients 2 s to read their BYE; after 5 s it is killed outright.
    for _ in $(seq 50); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
}
trap stop_server EXIT
trap 'exit 130' INT TERM

load_args=()
[ -n "${CLIENTS:-}" ] && load_args+=(--clients "$CLIENTS")
[ -n "${SENDERS:-}" ] && load_args+=(--senders "$SENDERS")
[ -n "${MESSAGES:-}" ] && load_args+=(--messages "$MESSAGES")
[ -n "${SIZE:-}" ] && load_args+=(--size "$SIZE")
[ -n "${RATE:-}" ] && load_args+=(--rate "$RATE")
# shellcheck disable=SC2206 # word splitting of the extra flags is intended
load_args+=(${LOAD_ARGS:-})

status=0
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for scenario in ${SCENARIO:-idle fanout room chatter storm rooms memberships restart}; do
for wire in ${WIRE:-plain tls}; do
    run="$scenario-$wire"
    case "$wire" in
        plain) server_wire=(--plaintext); load_wire=(--plaintext) ;;
        tls) server_wire=(); load_wire=() ;;
        *) echo "WIRE: $wire is not plain or tls" >&2; exit 2 ;;
    esac
    state="$out/state/$run"
    rm -rf "$state"
    log="$out/$run.server.log"
    # Empty it first: a previous run's address must never be read as this server's.
    : >"$out/$run.server.out"
    # --max-clients is lowered by the server to fit its fd limit; history stays at its default.
    # A scenario may need more (rooms enough for its shape): lanchat-load says which flags.
    needs=$("$bin/lanchat-load" --scenario "$scenario" --print-server-args)
    # Every client connects from 127.0.0.1, so it is exempt from the per-address limits.
    # shellcheck disable=SC2206 # word splitting of SERVER_ARGS and the needed flags is intended
    server_cmd=("${SERVER_BIN:-$bin/lanchat-server}" --bind 127.0.0.1 --rate 0 --no-discovery
        --max-clients 1000000 --trusted-hosts 127.0.0.1 --state-dir "$state" "${server_wire[@]}"
        $needs ${SERVER_ARGS:-})
    "${server_cmd[@]}" --port 0 >"$out/$run.server.out" 2>"$log" &
    server_pid=$!
    addr=
    for _ in $(seq 100); do
        addr=$(sed -n 's/^listening on //p' "$out/$run.server.out" 2>/dev/null || true)
        [ -n "$addr" ] && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$addr" ]; then
        echo "lanchat-server did not start; its log ($log):" >&2
        cat "$log" >&2
        exit 2
    fi
    echo
    echo "== $scenario over $wire: server pid $server_pid on $addr (log: $log)"
    if [ -n "${PERF:-}" ]; then
        # cpu-clock: a VM often has no hardware counters; -g: frame-pointer call graphs.
        perf record -e cpu-clock -F 4000 -g -p "$server_pid" -o "$out/$run.perf.data" \
            >"$out/$run.perf.log" 2>&1 &
        perf_pid=$!
        sleep 0.5
        echo "   perf: perf report -i $out/$run.perf.data --children --stdio -g none"
    fi
    # restart: the same server again, on the port the first one got, started by lanchat-load.
    restart=()
    if [ "$scenario" = restart ]; then
        restart=(--restart-log "$log" -- "${server_cmd[@]}" --port "${addr##*:}")
    fi
    "$bin/lanchat-load" --scenario "$scenario" --addr "$addr" --server-pid "$server_pid" \
        --json-out "$results" "${load_wire[@]}" "${load_args[@]}" "${restart[@]}" || status=1
    stop_perf
    stop_server
done
done

cp "$results" "$out/latest.jsonl"
echo
echo "== summary (JSON lines: $results)"
"$bin/lanchat-load" --summarize "$results" || status=1
echo "load average now $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$status"
