# Shared setup of the valgrind-based measurements (instructions.sh,
# allocations.sh); sourced, not run. Expects BINS (keyhole binaries) and WORK
# (a work directory) to be set. It installs what is missing (as root), makes
# the demo's files once with the first binary, starts the demo's sample API as
# the upstream, and stops it again on exit. Afterwards the caller has:
#   DEMO, KH_PORT, URL      the demo directory, Keyhole's port and the URL driven
#   ADMIN_URL               Keyhole's admin listener (health, /metrics)
#   headers_for MODE        fills HEADERS and CONFIG for `full` (alice, ticket
#                           T-1001), `masking` (bob, no ticket) or
#                           `passthrough` (bob, under load/passthrough.toml:
#                           the policy that passes every field)
#   start_under_valgrind LOG BIN VALGRIND_OPTIONS...
#                           runs `BIN serve --config CONFIG` under valgrind with
#                           a fresh ledger, and sets KEYHOLE_PID once it answers

# The demo directory becomes the working directory below: binaries named by a
# relative path are resolved first.
for i in "${!BINS[@]}"; do BINS[i]=$(realpath "${BINS[i]}"); done
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

need() {
    command -v "$1" >/dev/null 2>&1 && return
    [ "$(id -u)" = 0 ] || { echo "needs $1 (apt-get install $2)" >&2; exit 1; }
    apt-get install -y -qq "$2" >/dev/null
}
need valgrind valgrind
need callgrind_control valgrind
need wrk wrk
need jq jq
need curl curl
need taskset util-linux

# The CPU Keyhole is pinned to under valgrind (override with KEYHOLE_CPU).
KEYHOLE_CPU=${KEYHOLE_CPU:-1}

PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

DEMO=$WORK/demo
mkdir -p "$WORK"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
if [ ! -s "$DEMO/demo.json" ]; then
    # `keyhole demo` writes keys, certificates, data, tickets and the config once.
    "${BINS[0]}" demo --dir "$DEMO" --port "$(free_port)" >"$WORK/demo.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 150); do [ -s "$DEMO/demo.json" ] && break; sleep 0.2; done
    kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
    [ -s "$DEMO/demo.json" ] || { echo "keyhole demo failed, see $WORK/demo.log" >&2; exit 1; }
fi
cd "$DEMO"
UP_PORT=$(jq -r .upstream_port demo.json)
KH_PORT=$(sed -n 's/^address = "127.0.0.1:\([0-9]*\)"/\1/p' keyhole.toml | head -1)
ADMIN_PORT=$(sed -n '/^\[admin\]/,/^\[/s/^address = "127.0.0.1:\([0-9]*\)"/\1/p' keyhole.toml | head -1)
ADMIN_URL=http://127.0.0.1:$ADMIN_PORT
ALICE=$(jq -r '.agents[] | select(.id=="alice") | .token' demo.json)
BOB=$(jq -r '.agents[] | select(.id=="bob") | .token' demo.json)
CUSTOMER=$(jq -r '.tickets[] | select(.id=="T-1001") | .customer_id' demo.json)
URL=https://127.0.0.1:$KH_PORT/customers/$CUSTOMER

# The demo's config with its policies swapped for the pass-through one.
mkdir -p policies-passthrough
cp "$HERE/passthrough.toml" policies-passthrough/
sed '/^\[policies\]/,/^\[/ s|^dir = .*|dir = "policies-passthrough"|' keyhole.toml >keyhole-passthrough.toml

"${BINS[0]}" sample-api --data customers.json --listen "127.0.0.1:$UP_PORT" \
    --credential-file keys/upstream.credential >"$WORK/upstream.log" 2>&1 &
PIDS+=($!)

headers_for() {
    CONFIG=keyhole.toml
    case "$1" in
        full) HEADERS=(-H "Authorization: Bearer $ALICE" -H "X-Ticket-Id: T-1001") ;;
        masking) HEADERS=(-H "Authorization: Bearer $BOB") ;;
        passthrough) HEADERS=(-H "Authorization: Bearer $BOB") CONFIG=keyhole-passthrough.toml ;;
        *) echo "unknown mode: $1" >&2; exit 2 ;;
    esac
}

start_under_valgrind() {
    local log=$1 bin=$2
    shift 2
    # A fresh ledger for every run, so no run opens another's segments.
    rm -rf ledger
    # On one CPU, as compare.sh pins the proxy: Keyhole then runs the
    # current-thread runtime it runs there, not the multi-thread one.
    taskset -c "$KEYHOLE_CPU" valgrind "$@" "$bin" serve --config "${CONFIG:-keyhole.toml}" >"$log" 2>&1 &
    KEYHOLE_PID=$!
    for _ in $(seq 1 120); do
        curl -s -o /dev/null --cacert certs/ca.pem "https://127.0.0.1:$KH_PORT/" && return
        sleep 0.5
    done
    echo "keyhole did not start under valgrind, see $log" >&2
    exit 1
}
