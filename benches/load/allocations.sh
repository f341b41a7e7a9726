#!/usr/bin/env bash
# Heap allocations per request, counted by valgrind's dhat, and where they
# come from: for each binary and mode (full: alice under her live ticket, tokens
# and the fsync'd ledger; masking: bob without a ticket) it runs `keyhole
# serve` under dhat against the demo's sample API and drives wrk for
# --seconds. dhat cannot zero its counts, so a second run of the same binary
# that serves no requests measures what starting, answering the readiness
# probes and stopping allocate, and the difference is divided by the requests
# wrk completed. Every thread counts (the ledger's writer and sync threads
# too), and so do the TLS handshakes of wrk's 8 keep-alive connections, spread
# over the thousands of requests they carry.
#
# dhat sees the system allocator only, and a release build uses jemalloc: build
# the binaries to measure with the system allocator,
#   CARGO_TARGET_DIR=target/dhat cargo build --release --no-default-features
#
# Usage: benches/load/allocations.sh [--seconds S] [--top N] [--work DIR] BIN [BIN2]
#   BIN, BIN2  keyhole binaries; with two, the last column is BIN2/BIN.
#   --top N    also list the N call sites allocating most often (default 12;
#              0 for none), per request, for the last binary.
# Needs valgrind and wrk (apt-get installs them when missing and run as root).
set -euo pipefail

SECONDS_RUN=5
TOP=12
WORK=/tmp/keyhole-allocations
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) SECONDS_RUN=$2; shift 2 ;;
        --top) TOP=$2; shift 2 ;;
        --work) WORK=$2; shift 2 ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        -*) echo "unknown argument: $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
[ $# -ge 1 ] || { sed -n '15,19p' "$0"; exit 2; }
BINS=("$@")
for bin in "${BINS[@]}"; do [ -x "$bin" ] || { echo "not an executable: $bin" >&2; exit 2; }; done

# shellcheck source=benches/load/valgrind_env.sh
source "$(dirname "$0")/valgrind_env.sh"

# Runs BIN under dhat into OUT, driving wrk for SECONDS (none when 0), and
# prints the requests completed.
run_dhat() {
    local bin=$1 mode=$2 out=$3 seconds=$4 requests=0
    headers_for "$mode"
    start_under_valgrind "$WORK/keyhole.log" "$bin" --tool=dhat --dhat-out-file="$out"
    if [ "$seconds" -gt 0 ]; then
        requests=$(wrk -t1 -c8 -d"${seconds}s" "${HEADERS[@]}" "$URL" | awk '/requests in/{print $1}')
    fi
    # dhat writes its file when the process exits; Keyhole stops cleanly on SIGINT.
    kill -INT "$KEYHOLE_PID"
    wait "$KEYHOLE_PID" 2>/dev/null || true
    echo "$requests"
}

# Prints "<allocations per request> <bytes per request>"; with TOP > 0, writes
# the busiest call sites to SITES.
per_request() {
    python3 - "$1" "$2" "$3" "$4" "$TOP" <<'PY'
import json, re, sys

loaded, idle, requests, sites_file, top = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])

def totals(path):
    d = json.load(open(path))
    return d, sum(p["tbk"] for p in d["pps"]), sum(p["tb"] for p in d["pps"])

d, blocks, size = totals(loaded)
_, idle_blocks, idle_size = totals(idle)
if blocks - idle_blocks < requests:
    sys.exit("fewer allocations than requests: a binary built with jemalloc, which dhat"
             " cannot see (build with --no-default-features)")
print(f"{(blocks - idle_blocks) / requests:.1f} {(size - idle_size) / requests:.0f}")
if top > 0:
    # The first frames outside the allocator and the standard containers name a site.
    plumbing = re.compile(r"UnknownInlinedFun|alloc_impl|^allocate$|alloc::|core::|hashbrown::raw|RawVec|__rust|__rdl|malloc|realloc|calloc"
                          r"|<alloc|<T as |Vec<T|reserve|with_capacity|::clone$|to_vec|to_owned"
                          r"|from_str|finish_grow|grow_one|grow_amortized|extend|collect|spec_|^alloc$")
    def name(i):
        m = re.search(r": (.*?) \(", d["ftbl"][i])
        return (m.group(1) if m else d["ftbl"][i])[:100]
    sites = {}
    for p in d["pps"]:
        frames = [f for f in map(name, p["fs"]) if not plumbing.search(f)][:3]
        sites[" <- ".join(frames)] = sites.get(" <- ".join(frames), 0) + p["tbk"]
    with open(sites_file, "w") as out:
        for site, n in sorted(sites.items(), key=lambda kv: -kv[1])[:top]:
            out.write(f"  {n / requests:6.2f}  {site}\n")
PY
}

rm -f "$WORK"/sites.*.txt
# What starting and stopping allocate, once per binary.
for i in "${!BINS[@]}"; do
    run_dhat "${BINS[$i]}" masking "$WORK/dhat.$i.idle.json" 0 >/dev/null
done
printf '%-9s %-28s %12s %14s\n' mode binary allocs/request bytes/request
for mode in full masking; do
    first=""
    for i in "${!BINS[@]}"; do
        out=$WORK/dhat.$i.$mode.json
        requests=$(run_dhat "${BINS[$i]}" "$mode" "$out" "$SECONDS_RUN")
        [ "$requests" -gt 0 ] || { echo "no requests completed, see $WORK/keyhole.log" >&2; exit 1; }
        # Not `read < <(…)`: the sites file must be complete before it is shown.
        counts=$(per_request "$out" "$WORK/dhat.$i.idle.json" "$requests" "$WORK/sites.$mode.txt")
        read -r allocs bytes <<<"$counts"
        ratio=""
        if [ -z "$first" ]; then first=$allocs; else ratio=$(python3 -c "print(f'{$allocs/$first:.3f}x')"); fi
        printf '%-9s %-28s %12s %14s %s\n' "$mode" "$(basename "$(dirname "${BINS[$i]}")")/$(basename "${BINS[$i]}")" \
            "$allocs" "$bytes" "$ratio"
    done
done
if [ "$TOP" -gt 0 ]; then
    for mode in full masking; do
        echo
        echo "$mode: call sites allocating most often (allocations per request, $(basename "${BINS[-1]}"))"
        cat "$WORK/sites.$mode.txt"
    done
fi
