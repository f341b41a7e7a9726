#!/usr/bin/env bash
# Instructions per request, counted by callgrind: a measure that does not move
# with the neighbours' load, for comparing two builds of Keyhole (A/B) on a
# shared machine where wall-clock numbers drift by 10-20% between runs.
#
# For each binary and mode (full: alice under her live ticket, tokens and the
# fsync'd ledger; masking: bob without a ticket; passthrough: bob under a
# policy that passes every field, the floor of Keyhole's own stack) it runs
# `keyhole serve` under
# valgrind --tool=callgrind (pinned to one CPU, as compare.sh pins the proxy)
# against the demo's sample API, drives it with wrk (or h2load), zeroes the counters after
# 3 s of warm-up (the connections' TLS handshakes included), dumps them
# --seconds later, and divides the user-space instructions of every Keyhole
# thread by the requests Keyhole answered meanwhile (its /metrics). The
# kernel's share (loopback TCP, fsync) is not counted.
#
# valgrind does not offer SHA-NI, so SHA-256 runs its portable code under it
# and counts several times what it costs on hardware with SHA extensions: the
# report gives the SHA-256 share separately and the count without it.
#
# Usage: benches/load/instructions.sh [--seconds S] [--h2] [--work DIR] BIN [BIN2]
#   --h2       drive HTTP/2 with h2load (2 connections x 4 streams) instead of
#              HTTP/1.1 with wrk (8 connections)
#   BIN, BIN2  keyhole binaries (e.g. target/release/keyhole and a copy of an
#              older build); with two, the last column is BIN2/BIN.
# Needs valgrind, wrk, and h2load for --h2 (apt-get installs them when missing and run as root).
set -euo pipefail

SECONDS_RUN=8
PROTOCOL=h1
WORK=/tmp/keyhole-instructions
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) SECONDS_RUN=$2; shift 2 ;;
        --h2) PROTOCOL=h2; shift ;;
        --work) WORK=$2; shift 2 ;;
        -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
        -*) echo "unknown argument: $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
[ $# -ge 1 ] || { sed -n '21,26p' "$0"; exit 2; }
BINS=("$@")
for bin in "${BINS[@]}"; do [ -x "$bin" ] || { echo "not an executable: $bin" >&2; exit 2; }; done

# shellcheck source=benches/load/valgrind_env.sh
source "$(dirname "$0")/valgrind_env.sh"
[ "$PROTOCOL" = h1 ] || need h2load nghttp2-client

# Seconds of load before the counters are zeroed.
WARM_UP=3

# Requests Keyhole has answered so far, from its admin /metrics. Read just
# after zeroing and just before dumping: the requests that finish between the
# zeroing and the first read match those between the last read and the dump.
requests_served() {
    curl -s "$ADMIN_URL/metrics" | awk '/^keyhole_request_duration_seconds_count/ {n += $2} END {print n + 0}'
}

# Prints "<instructions per request> <SHA-256 share> <without SHA-256>" for one binary and mode.
measure() {
    local bin=$1 mode=$2 out=$WORK/callgrind.$3.$2
    headers_for "$mode"
    rm -f "$out".*
    start_under_valgrind "$WORK/keyhole.log" "$bin" --tool=callgrind --callgrind-out-file="$out"
    local pid=$KEYHOLE_PID
    # One load run spans warm-up and measurement, so its connections' TLS
    # handshakes fall in the warm-up and are not charged to the requests.
    local load_seconds=$((WARM_UP + SECONDS_RUN + 5))
    if [ "$PROTOCOL" = h2 ]; then
        # Two connections of four streams: as many requests in flight as wrk's eight.
        h2load -t1 -c2 -m4 -D"$load_seconds" "${HEADERS[@]}" "$URL" >/dev/null 2>&1 &
    else
        wrk -t1 -c8 -d"${load_seconds}s" "${HEADERS[@]}" "$URL" >/dev/null 2>&1 &
    fi
    local load_pid=$!
    sleep "$WARM_UP"
    callgrind_control -z "$pid" >/dev/null 2>&1
    local before after
    before=$(requests_served)
    sleep "$SECONDS_RUN"
    after=$(requests_served)
    callgrind_control -d "$pid" >/dev/null 2>&1
    kill "$load_pid" 2>/dev/null; wait "$load_pid" 2>/dev/null || true
    local requests=$((after - before))
    kill "$pid"; wait "$pid" 2>/dev/null || true
    python3 - "$out.1" "$requests" <<'PY'
import re, sys
names, total, sha, current, in_call = {}, 0, 0, "", False
for line in open(sys.argv[1]):
    m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line.strip())
    if m and m.group(2):
        names[m.group(1)] = m.group(2)
    if line.startswith("fn="):
        current = names.get(m.group(1), "") if m else line[3:]
    elif line.startswith("calls="):
        in_call = True
    elif line[:1].isdigit() or line[:1] in "+-*":
        parts = line.split()
        if len(parts) > 1 and not in_call:
            total += int(parts[1])
            if "sha256" in current:
                sha += int(parts[1])
        in_call = False
requests = int(sys.argv[2])
print(total // requests, f"{100 * sha / total:.0f}%", (total - sha) // requests)
PY
}

printf '%-12s %-28s %14s %8s %16s\n' mode binary instr/request sha256 "without sha256"
for mode in full masking passthrough; do
    first=""
    for i in "${!BINS[@]}"; do
        read -r per_request sha without < <(measure "${BINS[$i]}" "$mode" "$i")
        ratio=""
        if [ -z "$first" ]; then first=$without; else ratio=$(python3 -c "print(f'{$without/$first:.3f}x')"); fi
        printf '%-12s %-28s %14s %8s %16s %s\n' "$mode" "$(basename "$(dirname "${BINS[$i]}")")/$(basename "${BINS[$i]}")" \
            "$per_request" "$sha" "$without" "$ratio"
    done
done
