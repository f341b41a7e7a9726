#!/usr/bin/env bash
# Side-by-side load comparison on one machine, in one run, over loopback only:
#
#   upstream         the demo's sample API directly (the ceiling; plain HTTP, h2c for HTTP/2)
#   nginx            plain TLS reverse proxy, no masking
#   haproxy          plain TLS reverse proxy, no masking
#   keyhole-full     Keyhole with the demo policies, JWT auth, alice's live ticket
#                    T-1001 revealing some fields, tokenization and the ledger
#   keyhole-masking  Keyhole with bob's token and no ticket (masking only)
#   keyhole-passthrough  a second Keyhole whose policy passes every field of the
#                    route: JWT auth, routing, the JSON body parsed and written
#                    back, no rule, detector, token or ledger entry. The floor
#                    of Keyhole's own stack, so the gap to nginx splits into
#                    stack (passthrough), policy (masking) and disclosure (full).
#
# All setups get the same request (GET /customers/<T-1001's customer>), the
# same concurrency and keep-alive, and the same certificate and key. They are
# measured in alternation (each round runs every setup once over HTTP/1.1, then
# over HTTP/2, both driven by h2load), and the report takes the median over rounds.
# Then: Keyhole's peak RSS at 1,000 keep-alive connections (a fresh process),
# and the policy engine against Presidio's presidio-structured on the same records.
#
# CPU pinning (taskset), for a 2-core machine:
#   CPU 1 (PROXY_CPU):    the proxy under test, alone: Keyhole (tokio sizes its
#                         worker pool to the one CPU it may use), nginx with one
#                         worker, HAProxy with one thread.
#   CPU 0 (LOADGEN_CPU):  wrk/h2load (one thread) and the sample API (UPSTREAM_CPU).
# With fewer than 2 CPUs nothing is pinned. The Presidio and criterion runs are
# pinned to PROXY_CPU as well, one after the other.
#
# Usage: benches/load/compare.sh [--duration S] [--rounds N] [--conns C]
#          [--h2-conns C] [--mem-conns C] [--work DIR] [--max-seconds S]
#          [--no-h2] [--skip-presidio] [--skip-install]
# Needs root for apt-get (nginx-light, haproxy, wrk, nghttp2-client) unless the
# tools are there; pip installs Presidio into a venv under the work dir.
# Writes WORK/results.json. Not part of CI: it takes minutes and wants quiet CPUs.
set -euo pipefail

DURATION=10
ROUNDS=3
CONNS=64
H2_CONNS=8
MEM_CONNS=1000
WORK=/tmp/keyhole-load
MAX_SECONDS=3600
DO_H2=1
DO_PRESIDIO=1
DO_INSTALL=1
LOADGEN_CPU=${LOADGEN_CPU:-0}
PROXY_CPU=${PROXY_CPU:-1}
UPSTREAM_CPU=${UPSTREAM_CPU:-0}

while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --conns) CONNS=$2; shift 2 ;;
        --h2-conns) H2_CONNS=$2; shift 2 ;;
        --mem-conns) MEM_CONNS=$2; shift 2 ;;
        --work) WORK=$2; shift 2 ;;
        --max-seconds) MAX_SECONDS=$2; shift 2 ;;
        --no-h2) DO_H2=0; shift ;;
        --skip-presidio) DO_PRESIDIO=0; shift ;;
        --skip-install) DO_INSTALL=0; shift ;;
        -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
KH=$TARGET/release/keyhole
DEMO=$WORK/demo
H2_STREAMS=$(( CONNS / H2_CONNS > 0 ? CONNS / H2_CONNS : 1 ))
PIDS=()
SETUPS=(upstream nginx haproxy keyhole-passthrough keyhole-full keyhole-masking)

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    sleep 1
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The whole run is bounded: past MAX_SECONDS the watchdog ends it (and the trap cleans up).
(
    trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
    sleep "$MAX_SECONDS" &
    sleeper=$!
    wait "$sleeper"
    log "time limit of ${MAX_SECONDS}s reached"
    kill -TERM $$
) 2>/dev/null &
PIDS+=($!)

# Command prefixes (arrays, so background pids are the real processes: taskset execs).
if [ "$(nproc)" -ge 2 ]; then
    PIN_LOAD=(taskset -c "$LOADGEN_CPU")
    PIN_PROXY=(taskset -c "$PROXY_CPU")
    PIN_UP=(taskset -c "$UPSTREAM_CPU")
else
    PIN_LOAD=() PIN_PROXY=() PIN_UP=()
fi

# Starts a command in the background, logging to WORK/NAME.log, and remembers its pid.
start() {
    local name=$1; shift
    "$@" >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    LAST_PID=$!
}

stop_pid() {
    kill -TERM "$1" 2>/dev/null || true
    timeout 10 tail --pid="$1" -f /dev/null 2>/dev/null || kill -KILL "$1" 2>/dev/null || true
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Two consecutive free ports (Keyhole's demo config puts the admin listener on port+1).
free_port_pair() {
    python3 - <<'EOF'
import socket
for _ in range(200):
    a = socket.socket(); a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]
    b = socket.socket()
    try:
        b.bind(("127.0.0.1", p + 1)); print(p); break
    except OSError:
        pass
    finally:
        a.close(); b.close()
EOF
}

wait_ok() { # URL [curl args...]: waits up to 20 s for a 200
    local url=$1; shift
    for _ in $(seq 1 100); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url" || true)" = 200 ] && return 0
        sleep 0.2
    done
    return 1
}

install_tools() {
    local missing=0 t
    for t in nginx haproxy wrk h2load curl jq taskset ss; do command -v "$t" >/dev/null || missing=1; done
    [ "$missing" = 0 ] && return
    [ "$DO_INSTALL" = 1 ] || die "missing tools and --skip-install given"
    [ "$(id -u)" = 0 ] || die "run as root to apt-get install nginx-light haproxy wrk nghttp2-client"
    log "installing nginx-light haproxy wrk nghttp2-client with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light haproxy wrk nghttp2-client \
        curl jq util-linux iproute2 >"$WORK/apt.log" 2>&1 || die "apt-get failed, see $WORK/apt.log"
    # The packages start system services; this run uses its own instances only.
    systemctl stop nginx haproxy 2>/dev/null || service nginx stop 2>/dev/null || true
}

install_presidio() {
    if ! "$WORK/venv/bin/python" -c 'import presidio_structured, presidio_anonymizer' 2>/dev/null; then
        log "installing presidio-structured and presidio-anonymizer into $WORK/venv"
        python3 -m venv "$WORK/venv"
        timeout 900 "$WORK/venv/bin/pip" install -q presidio-structured presidio-anonymizer \
            >"$WORK/pip.log" 2>&1 || die "pip install failed, see $WORK/pip.log"
    fi
}

# Creates the demo's files (keys, certificates, data set, tickets, config, tokens in demo.json).
prepare_demo() {
    mkdir -p "$DEMO"
    # An earlier run's ledger is of no use here and grows by about a gigabyte per run.
    rm -rf "$DEMO/demo.json" "$DEMO/ledger"
    KH_PORT=$(free_port_pair)
    start demo-prepare "$KH" demo --dir "$DEMO" --port "$KH_PORT"
    local pid=$LAST_PID
    for _ in $(seq 1 150); do [ -s "$DEMO/demo.json" ] && break; sleep 0.2; done
    [ -s "$DEMO/demo.json" ] || die "keyhole demo did not write demo.json, see $WORK/demo-prepare.log"
    stop_pid "$pid"
    UP_PORT=$(jq -r .upstream_port "$DEMO/demo.json")
    CREDENTIAL=$(tr -d '\n' <"$DEMO/keys/upstream.credential")
    ALICE=$(jq -r '.agents[] | select(.id=="alice") | .token' "$DEMO/demo.json")
    BOB=$(jq -r '.agents[] | select(.id=="bob") | .token' "$DEMO/demo.json")
    CUSTOMER=$(jq -r '.tickets[] | select(.id=="T-1001") | .customer_id' "$DEMO/demo.json")
    REQ_PATH=/customers/$CUSTOMER
}

start_upstream() {
    start upstream "${PIN_UP[@]}" "$KH" sample-api --data "$DEMO/customers.json" \
        --listen "127.0.0.1:$UP_PORT" --credential-file "$DEMO/keys/upstream.credential"
    wait_ok "http://127.0.0.1:$UP_PORT/healthz" -H "Authorization: Bearer $CREDENTIAL" \
        || die "sample API did not start, see $WORK/upstream.log"
    UP_PID=$LAST_PID
}

start_keyhole() {
    start keyhole "${PIN_PROXY[@]}" "$KH" serve --config "$DEMO/keyhole.toml"
    KH_PID=$LAST_PID
    wait_ok "https://127.0.0.1:$KH_PORT$REQ_PATH" --cacert "$DEMO/certs/ca.pem" \
        -H "Authorization: Bearer $BOB" || die "keyhole did not start, see $WORK/keyhole.log"
}

# The demo's config with its own ports and ledger, and one policy that passes
# every field of the measured route (load/passthrough.toml).
start_passthrough() {
    local dir=$WORK/passthrough
    rm -rf "$dir"
    mkdir -p "$dir/policies"
    cp -r "$DEMO/certs" "$DEMO/keys" "$DEMO/tickets.json" "$dir/"
    PT_PORT=$(free_port_pair)
    sed -e "/^\[listen\]/,/^\[/ s|^address = .*|address = \"127.0.0.1:$PT_PORT\"|" \
        -e "/^\[admin\]/,/^\[/ s|^address = .*|address = \"127.0.0.1:$((PT_PORT + 1))\"|" \
        "$DEMO/keyhole.toml" >"$dir/keyhole.toml"
    cp "$HERE/passthrough.toml" "$dir/policies/"
    start keyhole-passthrough "${PIN_PROXY[@]}" "$KH" serve --config "$dir/keyhole.toml"
    PT_PID=$LAST_PID
    wait_ok "https://127.0.0.1:$PT_PORT$REQ_PATH" --cacert "$DEMO/certs/ca.pem" \
        -H "Authorization: Bearer $BOB" || die "keyhole-passthrough did not start, see $WORK/keyhole-passthrough.log"
}

render() { # TEMPLATE OUT PORT
    sed -e "s|@WORK@|$WORK|g" -e "s|@PORT@|$3|g" -e "s|@UPSTREAM@|127.0.0.1:$UP_PORT|g" \
        -e "s|@CERT@|$DEMO/certs/server.pem|g" -e "s|@KEY@|$DEMO/certs/server.key|g" \
        -e "s|@PEM@|$WORK/haproxy/server.pem|g" -e "s|@CREDENTIAL@|$CREDENTIAL|g" "$1" >"$2"
}

start_nginx() {
    NGX_PORT=$(free_port)
    mkdir -p "$WORK/nginx"
    render "$HERE/nginx.conf.tmpl" "$WORK/nginx/nginx.conf" "$NGX_PORT"
    start nginx "${PIN_PROXY[@]}" nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log"
    NGX_PID=$LAST_PID
    wait_ok "https://127.0.0.1:$NGX_PORT$REQ_PATH" -k || die "nginx did not start, see $WORK/nginx/error.log"
}

start_haproxy() {
    HAP_PORT=$(free_port)
    mkdir -p "$WORK/haproxy"
    cat "$DEMO/certs/server.pem" "$DEMO/certs/server.key" >"$WORK/haproxy/server.pem"
    chmod 600 "$WORK/haproxy/server.pem"
    render "$HERE/haproxy.cfg.tmpl" "$WORK/haproxy/haproxy.cfg" "$HAP_PORT"
    start haproxy "${PIN_PROXY[@]}" haproxy -db -f "$WORK/haproxy/haproxy.cfg"
    HAP_PID=$LAST_PID
    wait_ok "https://127.0.0.1:$HAP_PORT$REQ_PATH" -k || die "haproxy did not start, see $WORK/haproxy.log"
}

# setup -> "URL|Authorization|X-Ticket-Id". The proxies get the same headers as Keyhole.
target() {
    case "$1" in
        upstream) echo "http://127.0.0.1:$UP_PORT$REQ_PATH|Bearer $CREDENTIAL|" ;;
        nginx) echo "https://127.0.0.1:$NGX_PORT$REQ_PATH|Bearer $ALICE|T-1001" ;;
        haproxy) echo "https://127.0.0.1:$HAP_PORT$REQ_PATH|Bearer $ALICE|T-1001" ;;
        keyhole-full) echo "https://127.0.0.1:$KH_PORT$REQ_PATH|Bearer $ALICE|T-1001" ;;
        keyhole-masking) echo "https://127.0.0.1:$KH_PORT$REQ_PATH|Bearer $BOB|" ;;
        keyhole-passthrough) echo "https://127.0.0.1:$PT_PORT$REQ_PATH|Bearer $BOB|" ;;
    esac
}

# Checks every setup answers 200 and Keyhole does what it should; records what is real yet.
check_setups() {
    local s url auth ticket
    for s in "${SETUPS[@]}"; do
        IFS='|' read -r url auth ticket <<<"$(target "$s")"
        curl -sk -D "$WORK/check-$s.headers" -o "$WORK/check-$s.json" -H "Authorization: $auth" \
            ${ticket:+-H "X-Ticket-Id: $ticket"} "$url"
        grep -q '^HTTP/[0-9.]* 200' "$WORK/check-$s.headers" || die "$s did not answer 200"
    done
    grep -qi '^keyhole-ticket: granted' "$WORK/check-keyhole-full.headers" \
        || die "keyhole-full: the ticket was not granted"
    grep -qi '^keyhole-disclosure:' "$WORK/check-keyhole-full.headers" \
        || die "keyhole-full: no disclosure was ledgered"
    if cmp -s "$WORK/check-upstream.json" "$WORK/check-keyhole-masking.json"; then
        die "keyhole-masking returned the upstream body unchanged"
    fi
    cmp -s <(jq -S . "$WORK/check-upstream.json") <(jq -S . "$WORK/check-keyhole-passthrough.json") \
        || die "keyhole-passthrough changed the upstream body"
}

metric() { awk -v k="$1" '$1 == k {print $2}' "$WORK/keyhole-metrics.txt" | head -1; }

ratio() { # A B SCALE -> A*SCALE/B with two decimals, or null
    awk -v a="$1" -v b="$2" -v s="$3" 'BEGIN { if (b > 0) printf "%.2f", a * s / b; else print "null" }'
}

features_json() {
    local tokens=false ledger_files
    grep -q '"tok_' "$WORK/check-keyhole-masking.json" && tokens=true
    ledger_files=$( (find "$DEMO/ledger" -type f 2>/dev/null || true) | wc -l)
    # Group commit as Keyhole saw it over every round (its admin listener is on port + 1).
    curl -s "http://127.0.0.1:$((KH_PORT + 1))/metrics" >"$WORK/keyhole-metrics.txt" || true
    local records fsyncs fsync_s
    records=$(metric keyhole_ledger_records_total)
    fsyncs=$(metric keyhole_ledger_fsyncs_total)
    fsync_s=$(metric keyhole_ledger_fsync_seconds_total)
    cat >"$WORK/features.json" <<EOF
{"tokens_issued": $tokens, "ledger_files_after_run": $ledger_files,
 "ledger": {"records": ${records:-null}, "fsyncs": ${fsyncs:-null}, "fsync_seconds": ${fsync_s:-null},
            "records_per_fsync": $(ratio "${records:-0}" "${fsyncs:-0}" 1),
            "mean_fsync_ms": $(ratio "${fsync_s:-0}" "${fsyncs:-0}" 1000)},
 "note": "tokens_issued=false or ledger_files_after_run=0 means the token vault or ledger was still a placeholder in this build (no encryption, no fsync)"}
EOF
}

# What the CPU offers that moves Keyhole's numbers more than nginx's: without
# SHA extensions SHA-256 (the ledger's chain hash, fingerprints, token nonces)
# runs on AVX at several times the cost.
cpu_json() {
    local model flags
    model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
    flags=$(awk -F': ' '/^flags/ {print $2; exit}' /proc/cpuinfo)
    jq -cn --arg model "$model" --arg flags " $flags " '{model: $model,
        sha_extensions: ($flags | contains(" sha_ni ")), aes_ni: ($flags | contains(" aes ")),
        avx2: ($flags | contains(" avx2 "))}'
}

environment_json() {
    cat >"$WORK/environment.json" <<EOF
{"date": "$(date -u +%FT%TZ)", "nproc": $(nproc), "loadavg_at_start": "$(cut -d' ' -f1-3 /proc/loadavg)",
 "commit": "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)",
 "duration_s": $DURATION, "rounds": $ROUNDS, "h1_connections": $CONNS,
 "h2_connections": $H2_CONNS, "h2_streams_per_connection": $H2_STREAMS,
 "pinning": {"loadgen_cpu": $LOADGEN_CPU, "proxy_cpu": $PROXY_CPU, "upstream_cpu": $UPSTREAM_CPU, "applied": $([ "$(nproc)" -ge 2 ] && echo true || echo false)},
 "path": "$REQ_PATH",
 "cpu": $(cpu_json),
 "versions": {"nginx": "$(nginx -v 2>&1 | sed 's/.*\///')", "haproxy": "$(haproxy -v | head -1 | cut -d' ' -f3)",
              "wrk": "$(wrk -v 2>&1 | head -1 | cut -d' ' -f2)", "h2load": "$(h2load --version | cut -d/ -f2)"}}
EOF
}

# CPU time of a setup's server processes, children included (nginx's worker),
# in clock ticks: "user+system system". On a shared machine this is steadier
# than req/s: it is what each request cost, whoever else was using the CPU.
# The system part is the kernel's (sockets, loopback TCP, fsync), which every
# proxy pays alike for the same traffic; the rest is the proxy's own code.
server_ticks() {
    local pid p t=0 k=0 user sys
    case "$1" in
        upstream) pid=$UP_PID ;; nginx) pid=$NGX_PID ;; haproxy) pid=$HAP_PID ;;
        keyhole-passthrough) pid=$PT_PID ;; *) pid=$KH_PID ;;
    esac
    for p in $pid $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
        read -r user sys < <(awk '{print $14, $15}' "/proc/$p/stat" 2>/dev/null || echo 0 0)
        t=$((t + user + sys)) k=$((k + sys))
    done
    echo "$t $k"
}

# Adds cpu_us_per_req and sys_us_per_req from the ticks spent during the run.
with_cpu() { # SETUP "TICKS SYS_TICKS" before
    local now before_t before_k
    read -r before_t before_k <<<"$2"
    read -r -a now <<<"$(server_ticks "$1")"
    jq -c --argjson t "$((now[0] - before_t))" --argjson k "$((now[1] - before_k))" \
        --argjson hz "$(getconf CLK_TCK)" \
        'def per_req(x): if .requests > 0 then (x / $hz * 1e6 / .requests * 10 | round) / 10 else null end;
         . + {server_cpu_s: ($t / $hz), cpu_us_per_req: per_req($t), sys_us_per_req: per_req($k)}'
}

# One h2load run: HTTP/1.1 (`--h1`, one request in flight per connection, as
# wrk would) or HTTP/2 (streams per connection). Both take latency from
# h2load's per-request log, so the two protocols are measured alike. wrk is
# not used for latency: on keyhole-full its histogram once held a 64.6 ms mean
# at 7.8k req/s over 64 connections, where at most 8.2 ms is possible (Little's
# law); summarize.py checks every run against that law (`in_flight`).
run_h2load() { # SETUP ROUND PROTO CONNS STREAMS -> one JSON line
    local url auth ticket stdout=$WORK/h2load.out logf=$WORK/h2load.log before mode
    IFS='|' read -r url auth ticket <<<"$(target "$1")"
    if [ "$3" = h1 ]; then mode=(--h1); else mode=(-m"$5"); fi
    rm -f "$logf"
    before=$(server_ticks "$1")
    timeout $((DURATION + 30)) "${PIN_LOAD[@]}" h2load -t1 -c"$4" "${mode[@]}" \
        -D "$DURATION" -H "authorization: $auth" ${ticket:+-H "x-ticket-id: $ticket"} \
        --log-file "$logf" "$url" >"$stdout" 2>&1 || true
    python3 "$HERE/summarize.py" h2load "$stdout" "$logf" $(($4 * $5)) \
        | jq -c --arg s "$1" --argjson r "$2" --arg p "$3" \
        '. + {setup: $s, proto: $p, round: $r, clean: (.failed == 0 and .errors_status == 0 and .requests > 0)}' \
        | with_cpu "$1" "$before"
}

run_h1() { run_h2load "$1" "$2" h1 "$CONNS" 1; } # SETUP ROUND -> one JSON line
run_h2() { run_h2load "$1" "$2" h2 "$H2_CONNS" "$H2_STREAMS"; }

measure_rounds() {
    local r s
    : >"$WORK/runs.jsonl"
    log "warm-up: 2 s per setup"
    for s in "${SETUPS[@]}"; do
        IFS='|' read -r url auth ticket <<<"$(target "$s")"
        KH_AUTH="$auth" KH_TICKET="$ticket" "${PIN_LOAD[@]}" wrk -t1 -c"$CONNS" -d2s \
            -s "$HERE/report.lua" "$url" >/dev/null 2>&1 || true
    done
    for r in $(seq 1 "$ROUNDS"); do
        for s in "${SETUPS[@]}"; do
            log "round $r/$ROUNDS h1 $s"
            run_h1 "$s" "$r" | tee -a "$WORK/runs.jsonl" >&2
        done
        [ "$DO_H2" = 1 ] || continue
        for s in "${SETUPS[@]}"; do
            log "round $r/$ROUNDS h2 $s"
            run_h2 "$s" "$r" | tee -a "$WORK/runs.jsonl" >&2
        done
    done
}

rss_kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }

# Peak RSS of a fresh Keyhole while MEM_CONNS keep-alive connections run the full setup.
measure_memory() {
    local url auth ticket idle peak=0 now established=0 seen wrk_pid
    stop_pid "$KH_PID"
    start_keyhole
    sleep 1
    idle=$(rss_kib "$KH_PID" VmRSS)
    IFS='|' read -r url auth ticket <<<"$(target keyhole-full)"
    log "memory: $MEM_CONNS connections for ${DURATION}s"
    KH_AUTH="$auth" KH_TICKET="$ticket" timeout $((DURATION + 30)) "${PIN_LOAD[@]}" \
        wrk -t1 -c"$MEM_CONNS" -d"${DURATION}s" --timeout 10s -s "$HERE/report.lua" "$url" \
        >"$WORK/memory-wrk.out" 2>&1 &
    wrk_pid=$!
    while kill -0 "$wrk_pid" 2>/dev/null; do
        now=$(rss_kib "$KH_PID" VmRSS || echo 0)
        [ "${now:-0}" -gt "$peak" ] && peak=$now
        seen=$(ss -Htn state established "( sport = :$KH_PORT )" 2>/dev/null | wc -l)
        [ "$seen" -gt "$established" ] && established=$seen
        sleep 0.25
    done
    wait "$wrk_pid" || true
    now=$(rss_kib "$KH_PID" VmHWM)
    [ "${now:-0}" -gt "$peak" ] && peak=$now
    jq -n --argjson c "$MEM_CONNS" --argjson e "$established" --argjson idle "$idle" --argjson peak "$peak" \
        --argjson wrk "$(grep '^WRK_JSON' "$WORK/memory-wrk.out" | cut -d' ' -f2- || echo null)" \
        '{connections: $c, established_seen: $e, idle_rss_mib: (($idle/1024*10|round)/10),
          peak_rss_mib: (($peak/1024*10|round)/10), wrk: $wrk}' >"$WORK/memory.json"
}

# Presidio over customers.json, then Keyhole's criterion bench over the same records.
measure_presidio() {
    install_presidio
    log "presidio-structured over $DEMO/customers.json"
    timeout 900 "${PIN_PROXY[@]}" "$WORK/venv/bin/python" "$HERE/presidio_compare.py" \
        "$DEMO/customers.json" --seconds "$DURATION" --out "$WORK/presidio.json" 2>"$WORK/presidio.log"
    log "criterion: presidio_same_input (cargo bench, release profile)"
    (cd "$REPO" && CARGO_TARGET_DIR=$TARGET timeout 1800 "${PIN_PROXY[@]}" cargo bench --bench policy -- \
        presidio_same_input --warm-up-time 1 --measurement-time "$DURATION") >"$WORK/criterion.log" 2>&1 \
        || die "cargo bench failed, see $WORK/criterion.log"
    # As deployed (the active key remembers recent tokens), and sealing every
    # token afresh as Presidio encrypts every value.
    local dir=$TARGET/criterion/presidio_same_input
    local est=$dir/keyhole_1000_records/new/estimates.json
    local fresh=$dir/keyhole_1000_records_sealed_afresh/new/estimates.json
    [ -f "$est" ] && [ -f "$fresh" ] || die "no criterion estimates under $dir"
    jq -s '{ns_per_1000_records: .[0].mean.point_estimate,
            records_per_s: (1000 / (.[0].mean.point_estimate / 1e9)),
            sealed_afresh_records_per_s: (1000 / (.[1].mean.point_estimate / 1e9))}' \
        "$est" "$fresh" >"$WORK/keyhole-policy-bench.json"
}

main() {
    mkdir -p "$WORK"
    rm -f "$WORK"/{runs.jsonl,memory.json,presidio.json,keyhole-policy-bench.json,features.json,results.json}
    # As many descriptors as allowed: MEM_CONNS connections need one each in wrk and the proxy.
    ulimit -n "$(ulimit -Hn)" || true
    [ "$(ulimit -n)" -gt $((MEM_CONNS * 2 + 100)) ] \
        || log "open file limit $(ulimit -n) is low for $MEM_CONNS connections"
    install_tools
    log "building keyhole (release)"
    (cd "$REPO" && CARGO_TARGET_DIR=$TARGET cargo build --release --bin keyhole) >"$WORK/build.log" 2>&1 \
        || die "cargo build failed, see $WORK/build.log"
    prepare_demo
    start_upstream
    start_keyhole
    start_passthrough
    start_nginx
    start_haproxy
    check_setups
    environment_json
    measure_rounds
    features_json
    measure_memory
    [ "$DO_PRESIDIO" = 1 ] && measure_presidio
    python3 "$HERE/summarize.py" report "$WORK"
}

main
