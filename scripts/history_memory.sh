#!/usr/bin/env bash
# What a full history costs the server in memory: a server with --history 10000 is sent 10,000
# public messages of 2 KB by one client (bash's /dev/tcp, loopback), and its resident memory is
# read from /proc before and after; once with a state directory, once with --no-persist. The
# history is held once (the room replays from the store's ring), so the two grow alike, by about
# the history's own size. Not part of any test; docs/BENCHMARKS.md has the figures.
# Environment: SERVER_BIN (default target/debug/lanchat-server), COUNT (default 10000).
set -euo pipefail
cd "$(dirname "$0")/.."

server=${SERVER_BIN:-target/debug/lanchat-server}
count=${COUNT:-10000}
work=$(mktemp -d /tmp/lanchat-history-memory.XXXXXX)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }

# Read lines from fd 3 until one starts with $1.
read_until() {
    local line
    while IFS= read -r -u 3 line; do
        [[ $line == "$1"* ]] && return 0
    done
    return 1
}

measure() {
    local label=$1; shift
    coproc SERVER { RUST_LOG=warn exec "$server" --plaintext --bind 127.0.0.1 --port 0 \
        --no-discovery --rate 0 --history "$count" "$@" 2>/dev/null; }
    pid=$SERVER_PID
    local first port
    IFS= read -r -u "${SERVER[0]}" first
    port=${first##*:}
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    printf 'ann\n' >&3
    read_until WHOEND
    local before after body
    before=$(rss_kib "$pid")
    body=$(head -c 1990 /dev/zero | tr '\0' x)
    for ((i = 0; i < count; i++)); do printf '%05d %s\n' "$i" "$body"; done >&3
    printf '/who\n' >&3
    read_until WHOEND
    after=$(rss_kib "$pid")
    exec 3>&-
    kill "$pid" && wait "$pid" 2>/dev/null || true
    pid=
    printf '%-22s RSS before %6d KiB, after %d messages %6d KiB: +%d KiB\n' \
        "$label" "$before" "$count" "$after" "$((after - before))"
}

measure "state directory" --state-dir "$work/state"
measure "--no-persist" --no-persist
