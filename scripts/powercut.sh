#!/usr/bin/env bash
# How much history a power cut loses: the history store and plain write(2) appends run side by
# side on a fresh ext4 file system of their own (a loop device, default mount options), and at
# a few moments the device's content is copied, as a power cut would leave it: only what the
# kernel had already sent to the device. Each copy gets the journal replay a reboot would do
# (e2fsck), then its logs are read (debugfs) and compared with what had been appended by then.
#
# Needs root (losetup, mount) and e2fsprogs. Not part of any test; docs/BENCHMARKS.md has the
# figures. Environment: SECS (how long the writers run, default 75), CUTS (seconds at which
# to copy the device, default "10 20 40 60"), RATE (entries a second, default 10).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${SECS:-75}
cuts=${CUTS:-10 20 40 60}
rate=${RATE:-10}
work=$(mktemp -d /tmp/lanchat-powercut.XXXXXX)
img=$work/disk.img
mnt=$work/mnt
loop=
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    mountpoint -q "$mnt" && umount "$mnt"
    [ -n "$loop" ] && losetup -d "$loop"
    rm -rf "$work"
}
trap cleanup EXIT

cargo build --release -q -p integration-tests --example disk_cost
truncate -s 256M "$img"
mkfs.ext4 -q -F "$img"
loop=$(losetup -f --show "$img")
mkdir -p "$mnt"
mount "$loop" "$mnt"
mkdir -p "$mnt/store" "$mnt/raw"
echo "ext4 on $loop: $(findmnt -no OPTIONS "$mnt")"
echo "vm.dirty_expire_centisecs=$(cat /proc/sys/vm/dirty_expire_centisecs)" \
    "vm.dirty_writeback_centisecs=$(cat /proc/sys/vm/dirty_writeback_centisecs)"

bin=target/release/examples/disk_cost
"$bin" --dir "$mnt/store" --write-for "$secs" --rate "$rate" >"$work/store.out" &
pids+=($!)
"$bin" --dir "$mnt/raw" --write-for "$secs" --rate "$rate" --raw >"$work/raw.out" &
pids+=($!)
start=$(date +%s)

# The last entry index in a log file of a copied, journal-replayed device.
last_on_disk() {
    debugfs -R "cat $2" "$1" 2>/dev/null | awk 'NF >= 4 && $2 == "MSG" { n = $4 } END { print (n == "" ? -1 : n) }'
}
# The last index a writer had appended at unix-ms $2.
last_appended() {
    awk -v t="$2" '$2 <= t { n = $1 } END { print (n == "" ? -1 : n) }' "$1"
}

printf '%-6s %-22s %-22s\n' "cut at" "store: lost (entries)" "write(2) only: lost"
for cut in $cuts; do
    while [ $(($(date +%s) - start)) -lt "$cut" ]; do sleep 0.2; done
    at=$(date +%s%3N)
    cp --sparse=always "$img" "$work/cut.img"
    e2fsck -fy "$work/cut.img" >/dev/null 2>&1 || true
    s_disk=$(last_on_disk "$work/cut.img" /store/history/general.log)
    r_disk=$(last_on_disk "$work/cut.img" /raw/raw.log)
    s_app=$(last_appended "$work/store.out" "$at")
    r_app=$(last_appended "$work/raw.out" "$at")
    printf '%-6s %-22s %-22s\n' "${cut}s" \
        "$(awk -v a="$s_app" -v d="$s_disk" -v r="$rate" 'BEGIN { printf "%.1f s (%d)", (a - d) / r, a - d }')" \
        "$(awk -v a="$r_app" -v d="$r_disk" -v r="$rate" 'BEGIN { printf "%.1f s (%d)", (a - d) / r, a - d }')"
    rm -f "$work/cut.img"
done
